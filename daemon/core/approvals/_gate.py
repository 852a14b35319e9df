"""The approval gate between a tool call and its execution.

Policy decides allow / ask / deny; "ask" creates a durable pending approval,
announces it on the session's event stream and waits for a decision made through
the API (any client: the CLI's y/n prompt, an editor, a script). Every decision,
the policy's included, leaves a receipt in the approval store.

Rules judge where a call really goes: a file tool's subjects are its paths resolved
and made workspace-relative (``Tool.rule_subjects``), never the path as the model
wrote it, so ``src/../x`` or a symlink under ``src/`` cannot borrow ``src/**``'s
rule (S3). The subject shown to the user and recorded is that resolved one too.
"""

from __future__ import annotations

from typing import Any

from ...errors import InvalidParams, ToolFailure
from ...wire.events import ApprovalRequested, ApprovalResolved, EditProposed
from ...wire.messages import ToolCall
from ..sessions import SessionRuntime
from ..tools import Tool, Workspace
from ._backend import ApprovalBackend
from ._policy import evaluate_policies

__all__ = ["Gate"]

#: Judged calls remembered for :meth:`Gate.recheck`; far more than one turn's calls.
_JUDGED_KEPT = 512


class Gate:
    """The checks one run's tool calls pass: :meth:`check` before a call runs (policy,
    then a durable approval when it says ask), :meth:`recheck` when a call's subjects may
    have changed since, and the withdrawal of a closed call's pending approval."""

    def __init__(self, runtime: SessionRuntime, approvals: ApprovalBackend, mode: str,
                 rules: dict[str, dict[str, str]], *, workspace: Workspace | None = None) -> None:
        self.rt = runtime
        self.approvals = approvals
        self.mode = mode
        self.rules = rules
        # The run's own workspace when given: rules judge paths where the tools resolve them.
        self.workspace = workspace if workspace is not None else Workspace(runtime.meta.workspace)
        #: call id -> the rule subjects :meth:`check` judged for it, for :meth:`recheck`.
        self._judged: dict[str, list[str]] = {}

    def subjects(self, call: ToolCall, tool: Tool, subject: str) -> tuple[list[str], str]:
        """The subjects rules judge for ``call``, and the one to show: for file tools
        the resolved paths (see the module docstring), else ``subject`` as given."""
        try:
            args = tool.parse(call.arguments)
        except InvalidParams:  # the agent parsed it already; judge what we were given
            return [subject], subject
        subjects = tool.rule_subjects(args, self.workspace)
        if tool.approval_paths(args) is None:  # a command: each simple command in it too
            return list(dict.fromkeys([subject, *subjects])), subject
        return subjects, ", ".join(subjects)

    async def check(self, call: ToolCall, tool: Tool, subject: str, *,
                    proposes: bool = False) -> tuple[bool, str]:
        """``proposes``: an editor session's file edit, whose proposal to the user is
        itself the approval; only a deny rule stops it here."""
        existing = self.approvals.find_for_call(self.rt.id, call)
        if existing is not None:  # a run resumed after restart: same call, same arguments
            if existing.status == "pending":
                return await self._ask_and_wait(existing.id, call, subject)
            return existing.status == "allow", _why(existing.status, existing.decided_by,
                                                    existing.reason)
        subjects, subject = self.subjects(call, tool, subject)
        self._judged[call.id] = subjects
        while len(self._judged) > _JUDGED_KEPT:  # calls denied here are never rechecked
            self._judged.pop(next(iter(self._judged)))
        decision = evaluate_policies(tool.name, subjects, read_only=tool.read_only, mode=self.mode,
                                     rules=self.rules)
        if proposes and decision.action == "ask":
            return True, ""
        if decision.action != "ask":
            if decision.action == "deny" or not tool.read_only:
                # Receipts for every decision that lets a change through or stops one;
                # routine reads are not worth a record each.
                record = self.approvals.record_policy(session_id=self.rt.id, call_id=call.id,
                                                      tool=tool.name, subject=subject,
                                                      arguments=call.arguments, decision=decision)
                await self.rt.emit(ApprovalResolved(approval_id=record.id, decision=record.status,
                                                    by="policy", tool=tool.name, subject=subject,
                                                    rule=decision.rule))
            return decision.action == "allow", f"denied by policy ({decision.rule})"
        record = self.approvals.create(session_id=self.rt.id, call_id=call.id, tool=tool.name,
                                       subject=subject, arguments=call.arguments)
        return await self._ask_and_wait(record.id, call, subject)

    async def recheck(self, call: ToolCall, tool: Tool, subject: str) -> tuple[bool, str]:
        """Right before ``call`` runs: if its paths now lead somewhere other than when
        :meth:`check` judged them (an earlier call of the same turn made a symlink, all
        calls being judged before any runs), judge it again, as a new call: the first
        decision covered other files. Unchanged, or never judged here: allowed."""
        judged = self._judged.pop(call.id, None)
        if judged is None:
            return True, ""
        subjects, _shown = self.subjects(call, tool, subject)
        if subjects == judged:
            return True, ""
        again = ToolCall(id=f"{call.id}.recheck", name=call.name, arguments=call.arguments)
        return await self.check(again, tool, subject)

    async def propose(self, call: ToolCall, tool: Tool, subject: str,
                      files: list[dict[str, Any]]) -> bool:
        """Show an edit to the user; True if their editor applied it, False if the daemon
        should write it (approved elsewhere, or allowed by policy without an editor)."""
        subjects, subject = self.subjects(call, tool, subject)
        decision = evaluate_policies(tool.name, subjects, read_only=False, mode=self.mode,
                                     rules=self.rules)
        record = self.approvals.create(session_id=self.rt.id, call_id=call.id, tool=tool.name,
                                       subject=subject, arguments=call.arguments)
        self.rt.proposals[record.id] = files
        try:
            await self.rt.emit(EditProposed(proposal_id=record.id, call_id=call.id, tool=tool.name,
                                            files=files, auto_apply=decision.action == "allow"))
            decided = await self.approvals.wait(record.id)
        finally:
            self.rt.proposals.pop(record.id, None)
        await self.rt.emit(ApprovalResolved(approval_id=record.id, decision=decided.status,
                                            by=decided.decided_by or "", tool=tool.name,
                                            subject=subject, rule=decided.reason))
        if decided.status != "allow":
            why = f": {decided.reason}" if decided.reason else ""
            raise ToolFailure(f"The user rejected this edit{why}. Do not retry it unchanged.")
        return decided.applied

    def withdraw(self, call: ToolCall, *, by: str) -> None:
        """The call will not run: close every approval still pending for it, its own and
        those asked on its behalf (a re-check ``<id>.recheck``, batch members ``<id>.<n>``)."""
        mine = [r for r in self.approvals.list(self.rt.id)
                if r.call_id == call.id or r.call_id.startswith(f"{call.id}.")]
        for existing in mine:
            self.approvals.decide(existing.id, "deny", by=by, reason="the call was closed")
            # Clients showing the request (an editor's proposal and its code actions, a CLI
            # prompt) must withdraw it: a cancelled run's edit can no longer be applied (S6).
            # Never waits: this runs on the cancellation path.
            self.rt.hub.publish_nowait(ApprovalResolved(
                approval_id=existing.id, decision="deny", by=by, tool=existing.tool,
                subject=existing.subject, rule="the call was closed"))

    async def _ask_and_wait(self, approval_id: str, call: ToolCall, subject: str) -> tuple[bool, str]:
        await self.rt.emit(ApprovalRequested(approval_id=approval_id, tool=call.name,
                                             subject=subject, arguments=call.arguments))
        decided = await self.approvals.wait(approval_id)
        await self.rt.emit(ApprovalResolved(approval_id=approval_id, decision=decided.status,
                                            by=decided.decided_by or "", tool=call.name,
                                            subject=subject, rule=decided.reason))
        return decided.status == "allow", _why(decided.status, decided.decided_by, decided.reason)


def _why(status: str, by: str | None, reason: str) -> str:
    if status == "allow":
        return ""
    text = f"denied by {by or 'user'}"
    return f"{text}: {reason}" if reason else text
