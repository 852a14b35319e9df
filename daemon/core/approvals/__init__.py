"""Approvals: the policy (deny > ask > allow), the durable approval store, the gate a tool call
passes through, and the checks on who may decide or widen them.
"""


from ._gate import (
    Gate,
)
from ._peers import (
    MODE_RANK,
    is_agent_process,
    refuse_agent_processes,
    refuse_wider_mode,
)
from ._store import (
    ApprovalStore,
    PolicyDecision,
    evaluate_policies,
    evaluate_policy,
)

__all__ = [
    "ApprovalStore",
    "Gate",
    "MODE_RANK",
    "PolicyDecision",
    "evaluate_policies",
    "evaluate_policy",
    "is_agent_process",
    "refuse_agent_processes",
    "refuse_wider_mode",
]
