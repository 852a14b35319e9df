"""The ``/autochat`` relay on the wire: its profiles, its turns, the checkpoint written
after every step, the API's params and the progress events it streams.

A relay's checkpoint (``<data>/relays/<relay_id>.json``)::

    {"relay_id", "task", "order": [profile names], "profiles": [{"name", "instructions"}],
     "sessions": {profile: session_id}, "round", "index", "baton", "step", "prompt_at",
     "turns": [{"round", "index", "profile", "session_id", "text", "tool_calls", ...}],
     "status", "stop_reason", "max_rounds", "okr_id"?, "okr_run_id"?, "created_at", "updated_at"}

``round`` (1-based) and ``index`` (into ``order``) name the turn to run next. ``step``
says how far that turn got: ``idle`` (its prompt was not sent) or ``prompt_sent`` (it was
about to be sent when the session held ``prompt_at`` messages: a session with more has it).
The planner's reply is ``{"profiles": [{"name", "instructions"}]}``; unknown fields are
ignored. Timestamps are Unix time in seconds.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import msgspec
from msgspec import Meta

__all__ = [
    "RelayCheckpoint",
    "RelayEventNote",
    "RelayIdParams",
    "RelayListParams",
    "RelayPhase",
    "RelayProfile",
    "RelayProgress",
    "RelayStartParams",
    "RelayStatus",
    "RelayStep",
    "RelayStopReason",
    "RelayTurn",
    "describe_relay_progress",
]

#: planning: choosing profiles; running: turns going (or cut short by a restart: resumable);
#: completed: stopped by convergence or the round limit; failed: a turn failed (resumable);
#: cancelled: relay/cancel (resumable).
RelayStatus = Literal["planning", "running", "completed", "failed", "cancelled"]
RelayStep = Literal["idle", "prompt_sent"]
#: converged: a reply carried the DONE/APPROVED marker; stalled: a whole round repeated the
#: one before it word for word; max_rounds: the round limit.
RelayStopReason = Literal["converged", "stalled", "max_rounds"]
# Progress phases: planning, planned (detail: the order), turn (a turn starts: profile,
# round), tool (a tool call of the turn: detail its name), baton (a turn ended: detail the
# handoff's first line), approval (a tool call waits: detail "<approval id> <tool> <subject>"),
# resumed, completed, failed, cancelled.
RelayPhase = Literal["planning", "planned", "turn", "tool", "approval", "baton", "resumed", "completed",
                     "failed", "cancelled"]


class RelayProfile(msgspec.Struct, frozen=True, kw_only=True):
    """One specialist of the relay: its name (unique in the relay) and what it does."""

    name: Annotated[str, Meta(min_length=1, max_length=64)]
    instructions: Annotated[str, Meta(min_length=1, max_length=4000)]


class RelayTurn(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One finished turn: who ran it, in which session, what it handed on. ``resumed``
    marks a turn finished after a restart (its session was resumed, not prompted again)."""

    round: int
    index: int
    profile: str
    session_id: str
    text: str
    tool_calls: int = 0
    stop_reason: str = "end_turn"
    resumed: bool = False
    started_at: float = 0.0
    finished_at: float = 0.0


class RelayCheckpoint(msgspec.Struct, frozen=True, kw_only=True):
    """A relay as persisted after every step (see the module docstring). ``seq`` counts
    the checkpoints written; ``tool_step`` says how many tool calls of the current turn
    were seen to start and end (for watchers; exactly-once rests on the session's own
    durable record of each call, see :mod:`codetether.daemon.core.relay`)."""

    relay_id: str
    task: str
    workspace: str
    order: tuple[str, ...] = ()
    profiles: tuple[RelayProfile, ...] = ()
    sessions: dict[str, str] = {}
    round: int = 1
    index: int = 0
    baton: str = ""
    step: RelayStep = "idle"
    prompt_at: int = 0
    tool_step: tuple[int, int] = (0, 0)
    turns: tuple[RelayTurn, ...] = ()
    status: RelayStatus = "planning"
    stop_reason: RelayStopReason | None = None
    error: str | None = None
    agents: int = 3
    max_rounds: int = 3
    approval_mode: str = "ask"
    model: str | None = None
    okr_id: str | None = None
    okr_run_id: str | None = None
    seq: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0
    #: Set on relay/status and relay/list answers: a task in this daemon is running it now.
    live: bool = False


class RelayProgress(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One progress event of a relay (a ``relay/event`` note; the baton itself also goes
    on the bus topic ``relay.{id}`` as an ``agent_message``)."""

    relay_id: str
    phase: RelayPhase
    profile: str | None = None
    round: int = 0
    detail: str = ""
    ts: float = 0.0


# -- the daemon's relay methods ---------------------------------------------------------


class RelayStartParams(msgspec.Struct, forbid_unknown_fields=True):
    """``relay/start``: run ``task`` through ``agents`` specialists in ``workspace``."""

    task: Annotated[str, Meta(min_length=1)]
    workspace: str
    #: Specialists the planner picks (default 3: planner, implementer, reviewer).
    agents: Annotated[int, Meta(ge=1, le=8)] = 3
    max_rounds: Annotated[int, Meta(ge=1, le=20)] = 3
    approval_mode: Literal["ask", "auto", "plan"] | None = None
    model: str | None = None
    okr_id: str | None = None
    okr_run_id: str | None = None
    env: dict[str, str] = {}


class RelayIdParams(msgspec.Struct, forbid_unknown_fields=True):
    relay_id: str
    env: dict[str, str] = {}


class RelayListParams(msgspec.Struct, forbid_unknown_fields=True):
    limit: Annotated[int, Meta(ge=1, le=1000)] = 50


class RelayEventNote(msgspec.Struct, forbid_unknown_fields=True):
    """One progress event of a relay the caller watches (a ``relay/event`` notification)."""

    METHOD: ClassVar[str] = "relay/event"

    event: RelayProgress


def describe_relay_progress(event: dict[str, object]) -> str | None:
    """One line for a person watching a relay, from a progress event as it arrives on the
    wire; None for events not worth a line."""
    phase, who, detail = event.get("phase"), event.get("profile"), str(event.get("detail") or "")
    rnd = event.get("round")
    if phase == "planning":
        return f"relay {event.get('relay_id')}: picking specialists…"
    if phase == "planned":
        return f"relay {event.get('relay_id')}: {detail}"
    if phase == "resumed":
        return f"relay {event.get('relay_id')}: resumed at {detail}"
    if phase == "turn":
        return f"▶ round {rnd}: {who}"
    if phase == "tool":
        return f"  {who}: {detail}"
    if phase == "approval":
        approval_id, _, rest = detail.partition(" ")
        return f"  {who} asks to run {rest}: `codetether approvals allow {approval_id}`"
    if phase == "baton":
        return f"✓ {who} → {detail}"
    if phase in ("completed", "failed", "cancelled"):
        return f"relay {phase}{': ' + detail if detail else ''}"
    return None
