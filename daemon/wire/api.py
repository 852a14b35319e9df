"""Params and results of every daemon API method (JSON-RPC on the Unix socket)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from .messages import Message, Usage

__all__ = [
    "ApprovalDecideParams",
    "BufferParams",
    "ApprovalListParams",
    "ApprovalMode",
    "ApprovalRecord",
    "AuditQueryParams",
    "AuditRecentParams",
    "ConfigSetParams",
    "DaemonStatus",
    "Empty",
    "EventsReadParams",
    "EventsReplayParams",
    "ModelEntry",
    "VAULT_SETTINGS",
    "forwarded_env",
    "PromptParams",
    "PromptResult",
    "QuestionAnswerParams",
    "ReportParams",
    "SessionCreateParams",
    "SessionDetail",
    "SessionForkParams",
    "SessionIdParams",
    "SessionInfo",
    "SessionListParams",
    "SinceParams",
    "ToolEntry",
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
