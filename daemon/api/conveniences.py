"""``instructions/get``: what a run in a workspace is told (the system prompt with the
project's AGENTS.md / CLAUDE.md files, and where each part came from);
``session/export`` and ``session/import``: a session as one JSON document, secrets redacted."""

from __future__ import annotations

import os
import time
from typing import cast

import msgspec

from ..app import App
from ..core.agent import project_instructions, system_prompt
from ..core.approvals import MODE_RANK
from ..core.secrets import redact_value
from ..core.sessions import MessageRecord, SessionMeta, SummaryRecord, TranscriptRecord
from ..errors import InvalidParams
from ..wire import api
from ..wire.conveniences import (
    EXPORT_FORMAT,
    InstructionPartView,
    InstructionsParams,
    InstructionsView,
    SessionExport,
    SessionExportParams,
    SessionImportParams,
)
from ..wire.messages import Message
from ._context import CallContext
from ._table import Method

__all__ = ["ConveniencesAPI"]

_EXPORT_VERSION = 1


class ConveniencesAPI:
    """Project instructions and session export/import (see the module docstring)."""

    def __init__(self, app: App) -> None:
        self.app = app

    def methods(self) -> list[Method]:
        """This domain's rows of the method table."""
        return [
            Method("instructions/get", self.on_instructions_get, InstructionsParams, InstructionsView,
                   when_broken=True),
            Method("session/export", self.on_session_export, SessionExportParams, SessionExport,
                   when_broken=True),
            Method("session/import", self.on_session_import, SessionImportParams, api.SessionInfo),
        ]

    async def on_instructions_get(self, p: InstructionsParams, _ctx: CallContext) -> InstructionsView:
        """The system prompt a run in ``workspace`` starts with, and its instruction files."""
        if not os.path.isabs(p.workspace):
            raise InvalidParams("instructions/get: workspace must be an absolute path")
        found = project_instructions(p.workspace)
        parts = [InstructionPartView(path=part.path, size=part.size, shown=len(part.text.encode()),
                                     truncated=part.truncated) for part in found.parts]
        return InstructionsView(workspace=p.workspace, cap=found.cap, parts=parts,
                                system_prompt=system_prompt(p.workspace))

    async def on_session_export(self, p: SessionExportParams, _ctx: CallContext) -> SessionExport:
        """The session's metadata and transcript as one document, every secret the daemon
        knows now redacted (also ones registered after the transcript was written)."""
        app = self.app
        if p.session_id in app.runtimes:
            app.runtimes[p.session_id].save_meta()
        meta = app.sessions.get(p.session_id)
        transcript = app.sessions.load(p.session_id)
        now = time.time()
        records: list[TranscriptRecord] = [MessageRecord(i, now, m) for i, m in enumerate(transcript.messages)]
        records += transcript.summaries
        meta_doc = msgspec.to_builtins(meta)
        meta_doc.pop("read_files", None)  # this machine's mtimes: meaningless elsewhere
        document = SessionExport(format=EXPORT_FORMAT, version=_EXPORT_VERSION, exported_at=now,
                                 meta=meta_doc, transcript=msgspec.to_builtins(records))
        redacted: SessionExport = redact_value(document)
        return redacted

    async def on_session_import(self, p: SessionImportParams, _ctx: CallContext) -> api.SessionInfo:
        """A new session (a new id) holding an exported document's transcript."""
        doc = p.document
        if doc.get("format") != EXPORT_FORMAT:
            raise InvalidParams(f"session/import: not an exported session (format is not {EXPORT_FORMAT!r})")
        if not isinstance(doc.get("version"), int) or doc["version"] > _EXPORT_VERSION:
            raise InvalidParams(f"session/import: unsupported version {doc.get('version')!r} "
                                f"(this daemon reads up to {_EXPORT_VERSION})")
        try:
            source = msgspec.convert({**doc["meta"], "read_files": {}}, SessionMeta)
            records = msgspec.convert(doc.get("transcript", []), list[MessageRecord | SummaryRecord])
        except (KeyError, TypeError, msgspec.ValidationError) as exc:
            raise InvalidParams(f"session/import: malformed document: {exc}") from exc
        workspace = p.workspace or source.workspace
        if not os.path.isabs(workspace):
            raise InvalidParams("session/import: workspace must be an absolute path")
        store = self.app.sessions
        # Fail closed: a file cannot widen what the agent may do here. Its mode is at most the
        # configured one; only the user-facing state comes along (never a /go, swarm, relay or
        # sub-agent's flow state, which the daemon would act on); calls the file left open are
        # answered "not run", so a resume never runs a command the file put there.
        ceiling = self.app.config.permissions.mode
        mode = source.approval_mode if MODE_RANK.get(source.approval_mode, 2) <= MODE_RANK.get(ceiling, 0) \
            else ceiling
        meta = store.create(workspace=workspace, model=source.model, approval_mode=mode,
                            title=f"{source.title} (imported)".strip())
        messages = sorted((r for r in records if isinstance(r, MessageRecord)), key=lambda r: r.index)
        kept: list[TranscriptRecord] = [MessageRecord(i, r.ts, r.message) for i, r in enumerate(messages)]
        closing = _close_open_calls([r.message for r in messages])
        kept += [MessageRecord(len(messages) + i, time.time(), m) for i, m in enumerate(closing)]
        kept += [r for r in records if isinstance(r, SummaryRecord) and r.covers <= len(messages)]
        if kept:
            store.append(meta.id, kept)
        meta.message_count = len(messages) + len(closing)
        meta.state = {k: v for k, v in source.state.items() if k in _IMPORTED_STATE}
        store.save_meta(meta)
        return api.SessionInfo(id=meta.id, title=meta.title, workspace=meta.workspace, model=meta.model,
                               approval_mode=cast(api.ApprovalMode, meta.approval_mode),
                               created_at=meta.created_at, updated_at=meta.updated_at,
                               message_count=meta.message_count)


#: The session state an import keeps: what the user and the agent's own tools keep.
_IMPORTED_STATE = frozenset({"todos", "plan_mode", "plan"})


def _close_open_calls(messages: list[Message]) -> list[Message]:
    """Tool results "not run" for the calls the last assistant turn left open."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].role == "assistant":
            answered = {m.tool_call_id for m in messages[i + 1:] if m.role == "tool"}
            return [Message(role="tool", tool_call_id=c.id, name=c.name, is_error=True,
                            content="not run: the session was imported; ask again if it is still wanted")
                    for c in messages[i].tool_calls if c.id not in answered]
        if messages[i].role == "user":
            return []
    return []
