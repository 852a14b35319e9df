"""The daemon's record of what happened: telemetry, the audit trail, event streams.

One observer sees every session event (through the hub) and every API call
(through the dispatcher) and fans them out:

* event streams: every event of a session, appended to its stream;
* telemetry: tool executions (with file changes) and token usage per model;
* audit: API calls, tool executions, approval decisions, run ends.

Every string it writes goes through :func:`redact`, so a provider key never
reaches disk. A store that cannot write degrades (reported by :meth:`health`)
without stopping the daemon.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from ...wire import events as ev
from ..secrets import redact_value, values

if TYPE_CHECKING:
    from ..config import Config
    from .telemetry import Telemetry

__all__ = ["CallRecord", "Recorder"]


class CallRecord(Protocol):
    """What the audit trail reads of a finished API call (the API's ``CallRecord``)."""

    @property
    def method(self) -> str: ...
    @property
    def peer(self) -> Mapping[str, Any]: ...
    @property
    def outcome(self) -> str: ...
    @property
    def duration_ms(self) -> float: ...
    @property
    def error_code(self) -> int | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def params(self) -> Any: ...

log = logging.getLogger("codetether.recorder")

_to_builtins = msgspec.to_builtins


_clean = redact_value

#: Sessions whose token totals (this daemon run) are kept, least recently used dropped
#: first. Far above the live sessions a daemon holds (app.MAX_IDLE_RUNTIMES idle plus the
#: busy ones); without a bound an A2A peer, one session per task, grew by every task.
MAX_SESSION_USAGE = 1024


class Recorder:
    """``_calls`` holds the telemetry execution of each tool call between its start
    and end events, by (session, call id)."""

    def __init__(self, data_dir: Path, config: Config) -> None:
        from .audit import AuditLog
        from .eventstream import EventStreamStore

        self.data_dir = data_dir
        self.audit = AuditLog(data_dir / "audit" / "audit.jsonl", secrets=values)
        self.events = EventStreamStore(data_dir / "events")
        self.telemetry: Telemetry | None = None
        self.configure(config)
        self._calls: dict[tuple[str, str], Any] = {}
        self._events_error: str | None = None
        #: session id -> [input, output] tokens this daemon run, most recently used last
        #: (at most MAX_SESSION_USAGE sessions).
        self.session_usage: dict[str, list[int]] = {}

    def configure(self, config: Config) -> None:
        from .telemetry import Telemetry, TelemetrySettings

        t = config.telemetry
        settings = TelemetrySettings(
            enabled=t.enabled, persist=t.persist, max_executions=t.max_executions,
            include_file_content=t.include_file_content, include_tool_args=t.include_tool_args,
            anonymize_paths=t.anonymize_paths)
        if self.telemetry is not None:
            self.telemetry.close()
        self.telemetry = Telemetry(self.data_dir / "telemetry", settings) if t.enabled else None

    # -- observers --------------------------------------------------------------------

    def on_call(self, record: CallRecord) -> None:
        params = record.params if isinstance(record.params, dict) else {}
        detail: dict[str, Any] = {}
        if record.error is not None:
            detail = {"code": record.error_code, "error": record.error[:500]}
        for key in ("approval_id", "question_id", "key"):
            if isinstance(params.get(key), str):
                detail[key] = params[key]
        uid = record.peer.get("uid")
        self.audit.record(
            "api", record.method, principal=f"uid:{uid}" if uid is not None else "client",
            outcome="failure" if record.outcome == "cancelled" else record.outcome,  # type: ignore[arg-type]
            detail=detail or None, duration_ms=record.duration_ms,
            session_id=params.get("session_id") if isinstance(params.get("session_id"), str) else None)

    def on_event(self, session_id: str, model: str, seq: int, event: ev.SessionEvent,
                 parent_id: str | None = None, tags: dict[str, str] | None = None) -> None:
        """Record one session event: its event stream, tool telemetry, usage, audit.
        ``parent_id``: the session's parent (a sub-agent's), carried by its records;
        ``tags``: the ``okr_id`` / ``okr_run_id`` / ``relay_id`` the session works for,
        carried by its events and audit records."""
        ids = {k: (tags or {}).get(k) for k in ("okr_id", "okr_run_id", "relay_id")}
        data = _clean(_to_builtins(event))
        kind = data.pop("type")
        try:
            self.events.open(session_id).append(kind, data, okr_id=ids["okr_id"], okr_run_id=ids["okr_run_id"],
                                                relay_id=ids["relay_id"])
        except Exception as exc:  # noqa: BLE001 - recording must never stop a session
            if self._events_error is None:  # one clear error, not one per event
                log.error("event streams cannot be written (%s); sessions go on without them", exc)
            self._events_error = f"event stream not writable: {exc}"
        if isinstance(event, ev.ToolCallStart):
            self._calls[(session_id, event.call_id)] = self._start(session_id, model, event, data, parent_id)
        elif isinstance(event, ev.ToolCallEnd):
            self._tool_end(session_id, model, event, data, parent_id, ids)
        if isinstance(event, ev.UsageEvent):
            self._add_usage(session_id, event.input_tokens, event.output_tokens)
        if isinstance(event, ev.UsageEvent) and self.telemetry is not None:
            from .telemetry import TokenCounts

            self.telemetry.record_tokens(event.model or model, event.operation or "chat",
                                         TokenCounts(input=event.input_tokens, output=event.output_tokens))
        elif isinstance(event, ev.ApprovalResolved):
            self.audit.record(
                "approval", event.decision, principal=event.by or "user",
                outcome="success" if event.decision == "allow" else "denied",
                resource=event.subject or None, session_id=session_id,
                detail={"approval_id": event.approval_id, "tool": event.tool, "rule": event.rule},
                okr_id=ids["okr_id"], okr_run_id=ids["okr_run_id"], relay_id=ids["relay_id"])
        elif isinstance(event, ev.Done):
            self.audit.record(
                "session", "run_end", principal=f"agent:{session_id}",
                outcome="success" if event.stop_reason in ("end_turn", "max_steps") else "failure",
                session_id=session_id, detail={"stop_reason": event.stop_reason, "steps": event.steps,
                                               **({"parent_session_id": parent_id} if parent_id else {})},
                okr_id=ids["okr_id"], okr_run_id=ids["okr_run_id"], relay_id=ids["relay_id"])

    def _add_usage(self, session_id: str, input_tokens: int, output_tokens: int) -> None:
        usage = self.session_usage
        totals = usage.pop(session_id, None) or [0, 0]
        usage[session_id] = totals  # most recently used last
        totals[0] += input_tokens
        totals[1] += output_tokens
        if len(usage) > MAX_SESSION_USAGE:
            del usage[next(iter(usage))]

    def _start(self, session_id: str, model: str, event: ev.ToolCallStart, data: dict[str, Any],
               parent_session: str | None = None) -> Any:
        """The execution starts with its call, so sub-calls (``<parent>.<n>``, reported
        while the parent runs) can name their parent's execution id."""
        if self.telemetry is None:
            return None
        from .telemetry import ToolExecution

        execution = ToolExecution.start(event.name, _parse_args(data.get("arguments", ""))) \
            .with_session(session_id).with_model(model)
        parent_id, _, _ = event.call_id.rpartition(".")
        parent = self._calls.get((session_id, parent_id)) if parent_id else None
        if parent is not None:
            execution = execution.with_parent(parent.id)
        if parent_session:
            execution.metadata["parent_session_id"] = parent_session
        return execution

    def _tool_end(self, session_id: str, model: str, event: ev.ToolCallEnd, data: dict[str, Any],
                  parent_session: str | None = None, ids: dict[str, str | None] | None = None) -> None:
        ids = ids or {}
        execution = self._calls.pop((session_id, event.call_id), None)
        self.audit.record(
            "tool", event.name, principal=f"agent:{session_id}",
            outcome="failure" if event.is_error else "success", session_id=session_id,
            duration_ms=event.duration_ms,
            detail={"call_id": event.call_id,
                    "files": [c.get("path") for c in event.changes if isinstance(c, dict)],
                    **({"parent_session_id": parent_session} if parent_session else {})},
            okr_id=ids.get("okr_id"), okr_run_id=ids.get("okr_run_id"), relay_id=ids.get("relay_id"))
        if self.telemetry is None:
            return
        from .telemetry import FileChange, FileChangeType, ToolExecution

        if execution is None:  # its start was not seen (e.g. telemetry switched on mid-run)
            execution = ToolExecution.start(event.name).with_session(session_id).with_model(model)
        if event.name == "read_file" and not event.is_error:
            args = execution.input if isinstance(execution.input, dict) else {}
            if isinstance(args.get("path"), str):
                execution.add_file_change(FileChange.read(args["path"]))
        for change in data.get("changes") or []:
            try:
                execution.add_file_change(FileChange(
                    path=str(change.get("path", "")),
                    change_type=FileChangeType(str(change.get("kind", "modify"))),
                    diff=change.get("diff") if isinstance(change.get("diff"), str) else None))
            except (ValueError, TypeError):
                continue
        if event.is_error:
            execution.complete_error(data.get("output", ""), duration_ms=event.duration_ms)
        else:
            execution.complete_success(data.get("output", ""), duration_ms=event.duration_ms)
        self.telemetry.record_tool(execution)

    # -- queries and lifecycle ---------------------------------------------------------

    def health(self) -> dict[str, Any]:
        events = self.events.health()
        if events[0] and self._events_error is not None:
            events = (False, self._events_error)
        parts = {"audit": self.audit.health(), "events": events}
        if self.telemetry is not None:
            parts["telemetry"] = self.telemetry.health()
        return {name: {"ok": ok, "error": error} for name, (ok, error) in parts.items()}

    def close(self) -> None:
        for closer in (self.events.close, self.audit.close,
                       self.telemetry.close if self.telemetry else None):
            if closer is None:
                continue
            try:
                closer()
            except Exception:  # noqa: BLE001 - close the others too
                log.exception("closing a record store failed")


def _parse_args(arguments: str) -> Any:
    try:
        return msgspec.json.decode(arguments) if arguments else {}
    except msgspec.DecodeError:
        return arguments
