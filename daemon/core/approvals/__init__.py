"""Approvals: the policy (deny > ask > allow), the durable approval store behind one small
interface (:class:`ApprovalBackend`; :class:`ApprovalStore` is the JSON Lines backend), the
gate a tool call passes through, and the checks on who may decide or widen them.
"""

from ._backend import (
    ApprovalBackend,
)
from ._gate import (
    Gate,
)
from ._peers import (
    MODE_RANK,
    Caller,
    is_agent_process,
    refuse_agent_processes,
    refuse_wider_mode,
)
from ._policy import (
    Action,
    PolicyDecision,
    evaluate_policies,
    evaluate_policy,
)
from ._store import (
    ApprovalStore,
)

__all__ = [
    "Action",
    "ApprovalBackend",
    "ApprovalStore",
    "Caller",
    "Gate",
    "MODE_RANK",
    "PolicyDecision",
    "evaluate_policies",
    "evaluate_policy",
    "is_agent_process",
    "refuse_agent_processes",
    "refuse_wider_mode",
]
