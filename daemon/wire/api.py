"""Params and results of every daemon API method, whatever the transport."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import msgspec

from .bus import BusEnvelope
from .events import SessionEvent
from .messages import Message, Usage
from .records import (
    ArchivedFile,
    ArchiveResult,
    ExportStats,
    ModelStats,
    Number,
    ReportWritten,
    TelemetryExport,
    TelemetryStats,
    TokenStats,
    ToolStats,
)

__all__ = [
    "Answered",
    "ApprovalDecideParams",
    "ApprovalListParams",
    "ApprovalMode",
    "ApprovalRecord",
    "ArchiveResult",
    "ArchivedFile",
    "AuditQueryParams",
    "AuditRecentParams",
    "BufferParams",
    "BusEventNote",
    "BusTailEnd",
    "BusTailParams",
    "Cancelled",
    "Compacted",
    "ConfigSetParams",
    "ConfigView",
    "ContextUse",
    "DaemonStatus",
    "Deleted",
    "Empty",
    "EventsLength",
    "EventsReadParams",
    "EventsReplayParams",
    "ExportStats",
    "ModelEntry",
    "ModelStats",
    "Number",
    "Ok",
    "PromptParams",
    "PromptResult",
    "QuestionAnswerParams",
    "ReportParams",
    "ReportWritten",
    "SessionCreateParams",
    "SessionDetail",
    "SessionEventNote",
    "SessionForkParams",
    "SessionIdParams",
    "SessionInfo",
    "SessionListParams",
    "SessionStatus",
    "SinceParams",
    "Subscribed",
    "TelemetryExport",
    "TelemetryStats",
    "TokenStats",
    "ToolEntry",
    "ToolStats",
    "VAULT_SETTINGS",
    "forwarded_env",
]

ApprovalMode = Literal["ask", "auto", "plan"]


class Empty(msgspec.Struct, forbid_unknown_fields=True):
    pass


class DaemonStatus(msgspec.Struct):
    version: str
    pid: int
    uptime_s: float
    socket: str
    data_dir: str
    config_file: str
    default_model: str
    sessions_loaded: int
    runs_active: int
    config_warnings: list[str] = []
    #: config.toml does not load (key/line named): nothing runs until it does (fail closed).
    config_error: str | None = None
    #: An ordered shutdown has begun: runs were cancelled and nothing new starts.
    stopping: bool = False
    #: Record stores (telemetry, audit, events): {"name": {"ok": bool, "error": str|None}}
    health: dict[str, Any] = {}
    degraded: bool = False
    #: The A2A listeners, when they are open: "http://127.0.0.1:4096", "127.0.0.1:50051".
    http_url: str | None = None
    grpc_address: str | None = None
    #: The agent bus in use: "local" (in process) or "nats"; ``bus_error`` says why the
    #: configured NATS bus is not the one in use.
    bus: str = "local"
    bus_error: str | None = None


class SessionCreateParams(msgspec.Struct, forbid_unknown_fields=True):
    workspace: str
    model: str | None = None
    approval_mode: ApprovalMode | None = None
    title: str | None = None
    #: An editor session: agent edits become proposals the editor applies.
    editor: bool = False


class SessionIdParams(msgspec.Struct, forbid_unknown_fields=True):
    session_id: str


class SessionListParams(msgspec.Struct, forbid_unknown_fields=True):
    workspace: str | None = None
    limit: int = 100


class SessionForkParams(msgspec.Struct, forbid_unknown_fields=True):
    session_id: str
    #: Keep only the first N messages; None keeps them all.
    at_message: int | None = None


class SessionInfo(msgspec.Struct):
    id: str
    title: str
    workspace: str
    model: str
    approval_mode: ApprovalMode
    created_at: float
    updated_at: float
    message_count: int
    parent_id: str | None = None
    busy: bool = False
    #: "main" (a user's), "subagent" (a ``task`` call's child) or "swarm" (a swarm's subtask).
    role: str = "main"


class SessionDetail(msgspec.Struct):
    info: SessionInfo
    messages: list[Message]
    summaries: int
    todos: list[dict[str, Any]] = []
    plan_mode: bool = False


class PromptParams(msgspec.Struct, forbid_unknown_fields=True):
    session_id: str
    text: str
    model: str | None = None
    approval_mode: ApprovalMode | None = None
    #: The asking client's key and Vault variables (see :func:`forwarded_env`): a run uses the
    #: environment of whoever asked, not the one the daemon happened to start with (C5).
    env: dict[str, str] = {}
    #: The run goes on if the caller goes away (a TUI detaching); its events still reach the
    #: session's subscribers and its stream. Default: a caller that leaves cancels its run.
    detach: bool = False


#: Where Vault is: forwarded, but not secrets (everything else forwarded is one).
VAULT_SETTINGS = frozenset({"VAULT_ADDR", "VAULT_MOUNT", "VAULT_SECRETS_PATH", "VAULT_NAMESPACE"})
_FORWARDED_NAMES = VAULT_SETTINGS | {"VAULT_TOKEN", "GITHUB_TOKEN", "AWS_BEARER_TOKEN_BEDROCK",
                                     "GOOGLE_API_KEY", "GEMINI_API_KEY"}


def forwarded_env(environ: dict[str, str] | Any) -> dict[str, str]:
    """The variables a client sends with a prompt: provider keys (``*_API_KEY`` and the
    few other names providers use) and ``VAULT_*`` settings, those that are set."""
    return {k: v for k, v in environ.items()
            if v and (k in _FORWARDED_NAMES or k.endswith("_API_KEY"))}


class PromptResult(msgspec.Struct):
    session_id: str
    stop_reason: str
    text: str
    steps: int
    usage: Usage


class ApprovalListParams(msgspec.Struct, forbid_unknown_fields=True):
    session_id: str | None = None
    include_decided: bool = False


class ApprovalDecideParams(msgspec.Struct, forbid_unknown_fields=True):
    approval_id: str
    decision: Literal["allow", "deny"]
    reason: str = ""
    #: For an edit proposal: the editor already applied it (the daemon must not write).
    applied: bool = False


class BufferParams(msgspec.Struct, forbid_unknown_fields=True):
    """An editor buffer's unsaved text (None: closed, read the disk again)."""

    session_id: str
    path: str
    text: str | None = None


class ApprovalRecord(msgspec.Struct, omit_defaults=True):
    id: str
    session_id: str
    call_id: str
    tool: str
    subject: str
    arguments: str
    created_at: float
    status: Literal["pending", "allow", "deny"] = "pending"
    decided_at: float | None = None
    decided_by: str | None = None
    reason: str = ""
    applied: bool = False


class QuestionAnswerParams(msgspec.Struct, forbid_unknown_fields=True):
    question_id: str
    answer: str


class ConfigSetParams(msgspec.Struct, forbid_unknown_fields=True):
    key: str
    value: str


class ModelEntry(msgspec.Struct):
    id: str  # "provider/model"
    provider: str
    context_window: int
    default: bool = False
    configured: bool = True


class ToolEntry(msgspec.Struct):
    name: str
    description: str
    read_only: bool
    parameters: dict[str, Any]


class SinceParams(msgspec.Struct, forbid_unknown_fields=True):
    #: Epoch seconds; None for all retained history.
    since: float | None = None


class ReportParams(msgspec.Struct, forbid_unknown_fields=True):
    path: str
    since: float | None = None


class AuditRecentParams(msgspec.Struct, forbid_unknown_fields=True):
    limit: int = 50


class AuditQueryParams(msgspec.Struct, forbid_unknown_fields=True):
    principal: str | None = None
    action: str | None = None
    resource: str | None = None
    category: str | None = None
    outcome: str | None = None
    session_id: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = 100


class EventsReadParams(msgspec.Struct, forbid_unknown_fields=True):
    session_id: str
    seq: int


class EventsReplayParams(msgspec.Struct, forbid_unknown_fields=True):
    session_id: str
    from_seq: int = 0
    limit: int = 1000


# -- results (every method answers a Struct; forbid_unknown_fields makes a result built
# from a store's dict fail loudly in tests if the two ever drift apart) ----------------


class Ok(msgspec.Struct, forbid_unknown_fields=True):
    """``daemon/shutdown``, ``workspace/buffer``."""

    ok: bool = True


class Deleted(msgspec.Struct, forbid_unknown_fields=True):
    deleted: bool


class Cancelled(msgspec.Struct, forbid_unknown_fields=True):
    #: False: the session had no run to cancel.
    cancelled: bool


class Answered(msgspec.Struct, forbid_unknown_fields=True):
    answered: bool


class Subscribed(msgspec.Struct, forbid_unknown_fields=True):
    #: The session's last event seq when the watch began; ``session/event`` notes follow.
    seq: int


class SessionEventNote(msgspec.Struct, forbid_unknown_fields=True):
    """One event of a session, as a caller receives it (a ``session/event`` notification
    on the socket): from a run it asked for, or from a session it watches."""

    METHOD: ClassVar[str] = "session/event"

    session_id: str
    seq: int
    event: SessionEvent


class ConfigView(msgspec.Struct, forbid_unknown_fields=True):
    """``config/get`` and ``config/set``: the file, the effective config, its warnings."""

    path: str
    config: dict[str, Any]
    warnings: list[str]


class ContextUse(msgspec.Struct, forbid_unknown_fields=True):
    current: int
    limit: int
    percent: float
    level: str


class SessionStatus(msgspec.Struct, forbid_unknown_fields=True):
    session_id: str
    busy: bool
    model: str
    messages: int
    context: ContextUse | None
    input_tokens: int
    output_tokens: int
    #: Formatted (``$0.0123``), or ``unpriced``.
    cost: str


# -- the agent bus, watched from outside ---------------------------------------------------


class BusTailParams(msgspec.Struct, forbid_unknown_fields=True):
    """``bus/tail`` (and ``GET /v1/bus/stream?topics=...``): every envelope on the topics
    matching any of ``topics`` (comma separated NATS patterns: ``*`` one token, ``>`` the
    rest), as they are published; with ``replay``, first the durable ones kept since ``since``."""

    topics: str = ">"
    replay: bool = False
    since: float | None = None


class BusEventNote(msgspec.Struct, forbid_unknown_fields=True):
    """One envelope seen on the bus (a ``bus/event`` notification on the socket, one SSE
    event over HTTP); ``dropped`` counts envelopes this watcher lost so far by reading
    too slowly (the bus never waits for a watcher)."""

    METHOD: ClassVar[str] = "bus/event"

    envelope: BusEnvelope
    dropped: int = 0
    replayed: bool = False


class BusTailEnd(msgspec.Struct):
    """The end of a tail (the bus closed): what it delivered and dropped."""

    delivered: int
    dropped: int


class Compacted(msgspec.Struct):
    """``session/compact``'s answer: whether older messages were folded into the summary."""

    compacted: bool
    summarized_messages: int = 0
    summary_chars: int = 0


class EventsLength(msgspec.Struct):
    """``events/length``: how many events a session's stream holds (0: it has none yet)."""

    length: int
