"""The run state machine's rules, and ids.

The table itself is :data:`~codetether.daemon.wire.okr.RUN_TRANSITIONS` (on the wire,
so clients can show what comes next); this module says whether one move is allowed,
and with an error that names both states when it is not.
"""

from __future__ import annotations

import secrets

from ...errors import Conflict, InvalidParams
from ...wire.okr import RUN_STATUSES, RUN_TRANSITIONS

__all__ = ["check_transition", "new_kr_id", "new_okr_id", "new_run_id"]


def check_transition(run_id: str, current: str, to: str) -> None:
    """Raise unless a run in ``current`` may move to ``to``: :class:`InvalidParams` for a
    status that does not exist, :class:`Conflict` for a move the table does not allow."""
    if to not in RUN_STATUSES:
        raise InvalidParams(f"unknown run status {to!r} (one of {', '.join(RUN_STATUSES)})",
                            data={"field": "to"})
    allowed = RUN_TRANSITIONS.get(current, frozenset())
    if to not in allowed:
        nexts = ", ".join(sorted(allowed)) or "nothing: it has ended"
        raise Conflict(f"run {run_id}: cannot go from {current} to {to} (from {current}: {nexts})",
                       data={"run_id": run_id, "from": current, "to": to})


def new_okr_id() -> str:
    """A fresh OKR id."""
    return "okr_" + secrets.token_hex(6)


def new_run_id() -> str:
    """A fresh run id."""
    return "okrrun_" + secrets.token_hex(6)


def new_kr_id() -> str:
    """A fresh key result id."""
    return "kr_" + secrets.token_hex(4)
