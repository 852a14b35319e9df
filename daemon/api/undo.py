"""``session/undo``: take back the file changes a session's agent made, newest first.

The changes come from the session's event stream (each ``tool_call_end`` records the
files its tool created, modified or deleted, with a diff; see ``events/reconstruct``),
numbered 1.. in the order they were made. Without ``to`` the changes of the session's
last prompt are undone; with ``to`` N, every change after the N-th.

All or nothing: every file's earlier content is worked out in memory first (each diff
reversed against what the file holds now, or what a newer undone change left), and if
any file changed since the agent's edit nothing is written, the conflict is answered
instead. Undone changes are remembered (``<data>/undo/<session>.json``), so undoing
again says "already" instead of reversing a diff twice.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..app import App
from ..core.approvals import refuse_agent_processes
from ..core.records.eventstream import reconstruct
from ..core.storage import atomic_write
from ..core.tools import Workspace
from ..errors import CodetetherError, Conflict, InvalidParams, NotFound
from ..wire.conveniences import UndoChange, UndoParams, UndoResult
from ._context import CallContext
from ._reverse import reverse_change
from ._table import Method

__all__ = ["UndoAPI"]


def _read(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8", errors="surrogateescape")
    except FileNotFoundError:
        return None


class UndoAPI:
    """Undo of a session's file changes (see the module docstring)."""

    def __init__(self, app: App) -> None:
        self.app = app

    def methods(self) -> list[Method]:
        """This domain's rows of the method table."""
        return [Method("session/undo", self.on_session_undo, UndoParams, UndoResult)]

    def _done_file(self, session_id: str) -> Path:
        return self.app.paths.data_dir / "undo" / f"{session_id}.json"

    def _undone(self, session_id: str) -> set[str]:
        try:
            return set(json.loads(self._done_file(session_id).read_text()))
        except (FileNotFoundError, ValueError):
            return set()

    def _changes(self, session_id: str) -> tuple[list[dict[str, Any]], int]:
        """The session's file changes in order, and the seq of its last prompt."""
        events = self.app.recorder.events
        if session_id not in events.list():
            return [], -1
        rebuilt = reconstruct(events.open(session_id))
        last_user = max((m["seq"] for m in rebuilt.messages if m.get("role") == "user"), default=-1)
        return list(rebuilt.file_changes), last_user

    async def on_session_undo(self, p: UndoParams, ctx: CallContext) -> UndoResult:
        """Restore the files; or, on a dry run or a conflict, say what would happen."""
        if not p.dry_run:
            refuse_agent_processes(ctx, "undo changes")  # a write with no approval: the user's own
        app = self.app
        meta = app.sessions.get(p.session_id)  # NotFound for an unknown session
        rt = app.runtimes.get(p.session_id)
        if rt is not None and rt.busy and not p.dry_run:
            raise Conflict(f"session {p.session_id} is running; undo after it stops "
                           f"(or cancel it: codetether sessions ... / Ctrl-C)")
        changes, last_user = self._changes(p.session_id)
        if p.to is not None and not 0 <= p.to <= len(changes):
            raise InvalidParams(f"--to must be between 0 and {len(changes)} (the session's file changes)")
        numbered = list(enumerate(changes, start=1))
        chosen = ([(n, c) for n, c in numbered if n > p.to] if p.to is not None
                  else [(n, c) for n, c in numbered if int(c.get("seq", -1)) > last_user])
        if not chosen:
            raise NotFound(f"session {p.session_id} has no file changes to undo"
                           + ("" if p.to is not None else " from its last prompt (--to N reaches further)"))
        workspace = Workspace(meta.workspace)
        undone = self._undone(p.session_id)
        state: dict[Path, str | None] = {}
        report: list[UndoChange] = []
        for number, change in reversed(chosen):  # newest first
            key = f"{change.get('seq')}:{change.get('path')}"
            common = {"number": number, "path": str(change.get("path", "")),
                      "kind": str(change.get("kind", "")), "tool": str(change.get("tool", ""))}
            if key in undone:
                report.append(UndoChange(**common, status="already", detail="undone before"))
                continue
            try:
                path = workspace.resolve(common["path"])
            except CodetetherError as exc:
                report.append(UndoChange(**common, status="conflict", detail=exc.message))
                continue
            if path.is_dir():
                report.append(UndoChange(**common, status="conflict", detail="a directory is at this path now"))
                continue
            current = state[path] if path in state else _read(path)
            outcome = reverse_change(common["kind"], str(change.get("diff", "")), current)
            if outcome.status == "restored":
                state[path] = outcome.content
            report.append(UndoChange(**common, status=outcome.status, detail=outcome.detail))
        report.reverse()
        applied = not p.dry_run and not any(c.status == "conflict" for c in report)
        if applied:
            for path, content in state.items():
                self._write(path, content)
            done = undone | {f"{c.get('seq')}:{c.get('path')}" for n, c in chosen
                             if any(r.number == n and r.status in ("restored", "already") for r in report)}
            target = self._done_file(p.session_id)
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            atomic_write(target, json.dumps(sorted(done)).encode(), 0o600)
        return UndoResult(session_id=p.session_id, workspace=meta.workspace, changes=report, applied=applied)

    @staticmethod
    def _write(path: Path, content: str | None) -> None:
        if content is None:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o7777 if path.exists() else None
        atomic_write(path, content.encode("utf-8", errors="surrogateescape"), mode)
        os.utime(path)  # a new mtime: editors and the agent's file watcher see the change
