"""``telemetry/*``, ``audit/*``, ``events/*`` and ``session/status``: the record stores."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import tempfile
from pathlib import Path
from typing import Any

import msgspec

from ..app import App
from ..core.agent import context_tokens
from ..core.approvals import refuse_agent_processes
from ..core.records.eventstream import EventStream
from ..core.records.telemetry import Telemetry
from ..errors import ConfigError, Conflict, InvalidParams, NotFound, SecretError, Unavailable
from ..wire import api
from ..wire.records import AuditEntry, EventRecord, Reconstruction, VerifyResult
from ._context import CallContext
from ._table import Method

__all__ = ["RecordsAPI"]


class RecordsAPI:
    """Handlers over the app's :class:`~codetether.daemon.core.records.Recorder`."""

    def __init__(self, app: App) -> None:
        self.app = app

    def methods(self) -> list[Method]:
        """This domain's rows of the method table."""
        P = api  # noqa: N806 - short for the table below
        return [
            Method("session/status", self.on_session_status, P.SessionIdParams, P.SessionStatus),
            Method("telemetry/stats", self.on_telemetry_stats, P.SinceParams, P.TelemetryStats),
            Method("telemetry/export", self.on_telemetry_export, P.Empty, P.TelemetryExport),
            Method("telemetry/report", self.on_telemetry_report, P.ReportParams, P.ReportWritten),
            Method("audit/recent", self.on_audit_recent, P.AuditRecentParams, list[AuditEntry]),
            Method("audit/query", self.on_audit_query, P.AuditQueryParams, list[AuditEntry]),
            Method("audit/verify", self.on_audit_verify, P.Empty, VerifyResult),
            Method("events/read", self.on_events_read, P.EventsReadParams, EventRecord),
            Method("events/length", self.on_events_length, P.SessionIdParams, P.EventsLength),
            Method("events/replay", self.on_events_replay, P.EventsReplayParams, list[EventRecord]),
            Method("events/reconstruct", self.on_events_reconstruct, P.SessionIdParams, Reconstruction),
            Method("events/archive", self.on_events_archive, P.SessionIdParams, P.ArchiveResult),
        ]

    def _telemetry(self) -> Telemetry:
        if self.app.recorder.telemetry is None:
            raise Unavailable("telemetry is disabled: set [telemetry] enabled = true")
        return self.app.recorder.telemetry

    async def on_session_status(self, p: api.SessionIdParams, _ctx: CallContext) -> api.SessionStatus:
        """A session's model, context use, tokens and cost so far."""
        rt = self.app.runtime(p.session_id)
        resolved = self.app.models.resolve(rt.meta.model)
        tokens = context_tokens(rt)
        limit = self._telemetry().context_limit(resolved.model, tokens, resolved.context_window) \
            if self.app.recorder.telemetry is not None else None
        context = None if limit is None else api.ContextUse(
            current=limit.current, limit=limit.limit, percent=round(limit.percent, 1),
            level=str(limit.level.value if hasattr(limit.level, "value") else limit.level))
        used_in, used_out = self.app.recorder.session_usage.get(rt.id, [0, 0])
        from ..core.records.telemetry import CostEstimate, TokenCounts

        cost = CostEstimate.from_tokens(resolved.label, TokenCounts(input=used_in, output=used_out))
        return api.SessionStatus(
            session_id=rt.id, busy=rt.busy, model=resolved.label, messages=len(rt.messages),
            context=context, input_tokens=used_in, output_tokens=used_out,
            cost="unpriced" if cost.unpriced else cost.format_smart())

    async def on_telemetry_stats(self, p: api.SinceParams, _ctx: CallContext) -> api.TelemetryStats:
        """Totals, per tool, per model (tokens, cost) and per operation; ``since`` in Unix seconds."""
        return msgspec.convert(self._telemetry().stats(p.since), api.TelemetryStats)

    async def on_telemetry_export(self, _p: api.Empty, _ctx: CallContext) -> api.TelemetryExport:
        """The seed's ``telemetry.json``: recent tool executions and aggregate stats."""
        return msgspec.convert(self._telemetry().export(), api.TelemetryExport)

    async def on_telemetry_report(self, p: api.ReportParams, ctx: CallContext) -> api.ReportWritten:
        """Write the self-contained HTML report to ``path`` (S5: not into our own files)."""
        # The daemon writes this file with the user's rights: a process the agent started
        # must not use it to write outside the workspace (S5), and the target is checked.
        refuse_agent_processes(ctx, "write files through the daemon (telemetry/report)")
        target = self._report_target(p.path)
        telemetry = self._telemetry()
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".ct-tmp", dir=target.parent)
        os.close(fd)
        try:
            await asyncio.to_thread(telemetry.report, Path(tmp), p.since)
            os.replace(tmp, target)  # replaces a link itself, never writes through it
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        return api.ReportWritten(path=str(target), bytes=target.stat().st_size)

    def _report_target(self, raw: str) -> Path:
        target = Path(raw).expanduser()
        if not target.is_absolute():
            raise InvalidParams(f"report path must be absolute: {raw!r}")
        if not target.parent.is_dir():
            raise InvalidParams(f"report directory does not exist: {str(target.parent)!r}")
        if target.is_symlink() or (target.exists() and not target.is_file()):
            raise InvalidParams(f"report path must be a regular file, not a directory or a link: {raw!r}")
        real = target.parent.resolve() / target.name
        paths = self.app.paths
        for own in (paths.data_dir, paths.config_file.parent, paths.runtime_dir):
            if real.is_relative_to(own.resolve()):
                raise InvalidParams(f"the report may not be written into codetether's own files: {raw!r}")
        return target

    async def on_audit_recent(self, p: api.AuditRecentParams, _ctx: CallContext) -> list[AuditEntry]:
        """The newest audit entries, newest first."""
        return self.app.recorder.audit.recent(max(1, min(p.limit, 10_000)))

    async def on_audit_query(self, p: api.AuditQueryParams, _ctx: CallContext) -> list[AuditEntry]:
        """Audit entries matching every given filter, newest first."""
        return await asyncio.to_thread(
            self.app.recorder.audit.query,
            principal=p.principal, action=p.action, resource=p.resource, category=p.category,
            outcome=p.outcome, session_id=p.session_id, since=p.since, until=p.until,
            limit=max(1, min(p.limit, 10_000)))

    async def on_audit_verify(self, _p: api.Empty, _ctx: CallContext) -> VerifyResult:
        """Check the audit file's hash chain."""
        return await asyncio.to_thread(self.app.recorder.audit.verify)

    def _stream(self, session_id: str) -> EventStream:
        if session_id not in self.app.recorder.events.list():
            raise NotFound(f"no event stream for session {session_id!r}")
        return self.app.recorder.events.open(session_id)

    async def on_events_length(self, p: api.SessionIdParams, _ctx: CallContext) -> api.EventsLength:
        """How many events a session's stream holds (what a client numbers new events from)."""
        if p.session_id not in self.app.recorder.events.list():
            return api.EventsLength(length=0)
        return api.EventsLength(length=len(self.app.recorder.events.open(p.session_id)))

    async def on_events_read(self, p: api.EventsReadParams, _ctx: CallContext) -> EventRecord:
        """One event of a session's stream, by seq."""
        stream = self._stream(p.session_id)
        try:
            return stream.read(p.seq)
        except (KeyError, IndexError) as exc:
            raise NotFound(f"session {p.session_id} has no event {p.seq} (it has {len(stream)})") from exc

    async def on_events_replay(self, p: api.EventsReplayParams, _ctx: CallContext) -> list[EventRecord]:
        """A session's events from ``from_seq`` on, in order."""
        stream = self._stream(p.session_id)
        return list(itertools.islice(stream.replay(max(0, p.from_seq)), max(0, min(p.limit, 100_000))))

    async def on_events_reconstruct(self, p: api.SessionIdParams, _ctx: CallContext) -> Reconstruction:
        """The session rebuilt from its event stream alone."""
        from ..core.records.eventstream import reconstruct

        return reconstruct(self._stream(p.session_id))

    async def on_events_archive(self, p: api.SessionIdParams, _ctx: CallContext) -> api.ArchiveResult:
        """Copy a session's event stream to S3-compatible storage ([archive] in the config).
        Credentials: Vault ``<path>/archive`` (aws_* fields), else boto3's own chain."""
        settings = self.app.config.archive
        bucket = settings.bucket
        if not settings.enabled or not bucket:
            raise ConfigError("archival is off: set [archive] enabled = true and bucket = \"...\"")
        self._stream(p.session_id)
        rt = self.app.runtimes.get(p.session_id)
        if rt is not None and rt.busy:
            raise Conflict(f"session {p.session_id} is running; archive it when it is idle")
        try:
            creds = await self.app.models.secrets.get("archive")
        except SecretError:
            creds = None
        from ..core.records.eventstream import S3Archiver

        events = self.app.recorder.events
        events.release(p.session_id)  # a closed stream: the copy is complete

        def upload() -> Any:
            with S3Archiver(bucket, endpoint_url=settings.endpoint_url, region=settings.region,
                            prefix=settings.prefix,
                            access_key_id=creds.aws_access_key_id if creds else None,
                            secret_access_key=creds.aws_secret_access_key if creds else None,
                            session_token=creds.aws_session_token if creds else None) as archiver:
                return archiver.archive(p.session_id, events.directory)

        done = await asyncio.to_thread(upload)
        return api.ArchiveResult(bucket=done.bucket, files=[
            api.ArchivedFile(key=f.key, size=f.size, sha256=f.sha256) for f in done.files])
