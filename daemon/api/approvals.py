"""``approval/*`` and ``question/answer``: the user's answers to what the agent asked."""

from __future__ import annotations

from collections.abc import Mapping

from ..core.approvals import ApprovalBackend, refuse_agent_processes
from ..core.sessions import SessionRuntime
from ..errors import NotFound
from ..wire import api
from ._context import CallContext
from ._table import Method

__all__ = ["ApprovalsAPI"]


class ApprovalsAPI:
    """Pending and decided approvals, deciding one, answering a question. All three
    answer while config.toml does not load: a run in flight may be waiting on them."""

    def __init__(self, approvals: ApprovalBackend, runtimes: Mapping[str, SessionRuntime]) -> None:
        self.approvals = approvals
        self.runtimes = runtimes

    def methods(self) -> list[Method]:
        """This domain's rows of the method table."""
        return [
            Method("approval/list", self.on_approval_list, api.ApprovalListParams,
                   list[api.ApprovalRecord], when_broken=True),
            Method("approval/decide", self.on_approval_decide, api.ApprovalDecideParams,
                   api.ApprovalRecord, when_broken=True),
            Method("question/answer", self.on_question_answer, api.QuestionAnswerParams, api.Answered,
                   when_broken=True),
        ]

    async def on_approval_list(self, p: api.ApprovalListParams, _ctx: CallContext,
                               ) -> list[api.ApprovalRecord]:
        """Pending approvals (and decided ones, if asked), of one session or all."""
        return self.approvals.list(p.session_id, include_decided=p.include_decided)

    async def on_approval_decide(self, p: api.ApprovalDecideParams, ctx: CallContext) -> api.ApprovalRecord:
        """Allow or deny a pending approval; a process the agent started may not (S5)."""
        refuse_agent_processes(ctx, "decide approvals")
        return self.approvals.decide(p.approval_id, p.decision, by=ctx.principal, reason=p.reason,
                                     applied=p.applied)

    async def on_question_answer(self, p: api.QuestionAnswerParams, _ctx: CallContext) -> api.Answered:
        """Answer the agent's open question ``question_id``."""
        for rt in self.runtimes.values():
            if rt.has_question(p.question_id):
                rt.answer(p.question_id, p.answer)
                return api.Answered(answered=True)
        raise NotFound(f"no open question {p.question_id!r}")
