"""The interface of the approval store, so the gate and the API depend on what an approval
store does, not on the JSON Lines file behind today's one backend.

The contract suite ``tests/contract/test_approval_store_contract.py`` is written against
this interface; a second backend (a shared store for several daemons) joins its fixture.
"""

from __future__ import annotations

import builtins
from typing import Literal, Protocol

from ...wire.api import ApprovalRecord
from ...wire.messages import ToolCall
from ._policy import PolicyDecision

__all__ = ["ApprovalBackend"]


class ApprovalBackend(Protocol):
    """Durable approvals: pending requests, the decisions on them, and a receipt for each.

    Unknown ids raise :class:`~codetether.daemon.errors.NotFound`; deciding twice raises
    :class:`~codetether.daemon.errors.Conflict`. Used from the event loop thread only.
    """

    def create(self, *, session_id: str, call_id: str, tool: str, subject: str,
               arguments: str) -> ApprovalRecord:
        """A new pending approval for one tool call."""
        ...

    def record_policy(self, *, session_id: str, call_id: str, tool: str, subject: str,
                      arguments: str, decision: PolicyDecision) -> ApprovalRecord:
        """A receipt for a decision the policy made without asking anyone."""
        ...

    def get(self, approval_id: str) -> ApprovalRecord:
        """The approval's current record."""
        ...

    def find_for_call(self, session_id: str, call: ToolCall) -> ApprovalRecord | None:
        """The user's approval record for exactly this call: same id, tool and arguments."""
        ...

    def list(self, session_id: str | None = None, *,
             include_decided: bool = False) -> builtins.list[ApprovalRecord]:
        """Approvals, oldest first: pending only unless ``include_decided``."""
        ...

    def decide(self, approval_id: str, decision: Literal["allow", "deny"], *, by: str,
               reason: str = "", applied: bool = False) -> ApprovalRecord:
        """Decide a pending approval, wake its waiters, and return the decided record."""
        ...

    def withdraw_session(self, session_id: str, *, by: str) -> None:
        """Deny every pending approval of a session (it was deleted)."""
        ...

    async def wait(self, approval_id: str) -> ApprovalRecord:
        """The decided record, as soon as the approval is decided (at once if it is)."""
        ...
