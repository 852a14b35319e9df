"""What the record stores answer through the API: audit entries, a chain check, session
events, a session rebuilt from them, telemetry figures and archive receipts. Their
stores live in ``core/records``."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = [
    "ArchiveResult",
    "ArchivedFile",
    "AuditEntry",
    "EventRecord",
    "ExportStats",
    "ModelStats",
    "Number",
    "OUTCOMES",
    "Outcome",
    "Reconstruction",
    "ReportWritten",
    "TelemetryExport",
    "TelemetryStats",
    "TokenStats",
    "ToolStats",
    "VerifyResult",
]

Outcome = Literal["success", "failure", "denied"]
OUTCOMES: frozenset[str] = frozenset(("success", "failure", "denied"))


class AuditEntry(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """One audited action. ``seq``, ``prev`` and ``hash`` are set when the entry is
    written; an entry still held in memory (the log is degraded) has ``seq == 0``."""

    seq: int
    ts: float
    category: str
    action: str
    principal: str
    outcome: Outcome
    resource: str | None = None
    detail: dict[str, Any] = {}
    duration_ms: float | None = None
    okr_id: str | None = None
    okr_run_id: str | None = None
    relay_id: str | None = None
    session_id: str | None = None
    prev: str = ""
    hash: str = ""


class VerifyResult(msgspec.Struct, frozen=True):
    """Outcome of checking a log's chain. ``first_bad_line`` is 1-based; ``head`` is
    the sha256 of the last entry's line (record it elsewhere to detect truncation)."""

    ok: bool
    entries: int
    first_bad_line: int | None
    reason: str
    head: str = ""


class EventRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One event of a session, as read back from its stream.

    ``seq`` counts from 0 and equals the event's line number in the log and its
    entry number in the index. ``ts`` is Unix time in seconds. ``offset`` and
    ``length`` are the byte range of the line (newline included) in
    ``events.jsonl``; they are filled on read, not stored; ``offset`` is ``-1`` for
    an event still held in memory while the stream is degraded.
    """

    seq: int
    ts: float
    session_id: str
    kind: str
    data: dict[str, Any]
    okr_id: str | None = None
    okr_run_id: str | None = None
    relay_id: str | None = None
    offset: int = -1
    length: int = 0


class Reconstruction(msgspec.Struct, kw_only=True):
    """A session rebuilt from its events.

    ``messages`` in order, each with ``role`` and ``seq`` (of its first event):

    * ``{"role": "user", "text"}``
    * ``{"role": "assistant", "text", "thinking"}`` - the text chunks of one step,
      up to the next tool call, ``done``, ``error`` or user prompt;
    * ``{"role": "tool", "call_id", "name", "arguments", "output", "is_error",
      "duration_ms", "changes"}`` - ``output`` is ``None`` while the call never ended;
    * ``{"role": "error", "code", "message"}``.

    ``tool_calls`` are the same dicts as the tool messages. ``file_changes`` are the
    ``changes`` of every tool call, in order, each plus ``call_id``, ``tool`` and
    ``seq``. ``usage`` sums tokens overall and per model. ``corrupt`` lists seqs
    that could not be decoded and were skipped.
    """

    messages: list[dict[str, Any]] = []
    file_changes: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    usage: dict[str, Any] = {}
    corrupt: list[int] = []
    stop_reason: str | None = None


# -- telemetry/*, events/archive ------------------------------------------------------


Number = int | float


class ToolStats(msgspec.Struct, forbid_unknown_fields=True):
    count: int
    failures: int
    failure_rate: Number
    avg_duration_ms: Number
    max_duration_ms: Number
    total_duration_ms: Number


class TokenStats(msgspec.Struct, forbid_unknown_fields=True):
    requests: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    avg_input: Number
    avg_output: Number
    max_input: int
    max_output: int


class ModelStats(TokenStats, forbid_unknown_fields=True):
    cost_usd: Number | None
    cost: str
    priced: bool
    local: bool


class TelemetryStats(msgspec.Struct, forbid_unknown_fields=True):
    """``telemetry/stats``: totals, per tool, per model (tokens, cost), per operation."""

    since: Number | None
    first_ts: Number | None
    last_ts: Number | None
    total_executions: int
    successful_executions: int
    failed_executions: int
    total_duration_ms: Number
    total_requests: int
    total_input_tokens: int
    total_output_tokens: int
    tools: dict[str, ToolStats]
    models: dict[str, ModelStats]
    operations: dict[str, TokenStats]
    cost_usd: Number
    cost: str
    unpriced_models: list[str]


class ExportStats(msgspec.Struct, forbid_unknown_fields=True):
    """The seed's ``TelemetryStats`` shape."""

    total_executions: int
    successful_executions: int
    failed_executions: int
    total_duration_ms: Number
    total_input_tokens: int
    total_output_tokens: int
    total_requests: int
    executions_by_tool: dict[str, int]
    files_modified: dict[str, int]


class TelemetryExport(msgspec.Struct, forbid_unknown_fields=True):
    """``telemetry/export``: the seed's ``telemetry.json`` (last 500 tool executions)."""

    executions: list[dict[str, Any]]
    stats: ExportStats
    #: Unix milliseconds.
    last_updated: int


class ReportWritten(msgspec.Struct, forbid_unknown_fields=True):
    path: str
    bytes: int


class ArchivedFile(msgspec.Struct, forbid_unknown_fields=True):
    key: str
    size: int
    sha256: str


class ArchiveResult(msgspec.Struct, forbid_unknown_fields=True):
    bucket: str
    files: list[ArchivedFile]
