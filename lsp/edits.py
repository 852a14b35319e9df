"""Approving an agent edit: refuse a closed proposal, apply, save, then tell the daemon.

The order matters (PROTOCOL.md, *Approving an edit*): the daemon lets the agent go on as
soon as it hears "applied", and the agent's next bash/test run reads the disk, so the
files are saved first (E6). A proposal the daemon already closed (decided elsewhere,
withdrawn by a cancel) is refused before anything is applied (S6).
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, Protocol

from codetether.daemon.errors import Conflict, NotFound
from lsprotocol import types as t
from pygls.protocol import JsonRPCProtocol
from pygls.workspace import Workspace

from .convert import file_edit
from .options import Options

__all__ = ["EditHost", "approve_edit", "closed_reason"]

log = logging.getLogger("codetether.lsp.edits")


class EditHost(Protocol):
    """What approving an edit needs of the server (:class:`~.server.CodetetherServer`)."""

    options: Options
    client_saves: bool
    pending: dict[str, dict[str, Any]]

    @property
    def workspace(self) -> Workspace: ...

    @property
    def protocol(self) -> JsonRPCProtocol: ...

    async def call(self, method: str, params: Any = None) -> Any: ...

    def forget(self, gate_id: str) -> None: ...

    def stale(self, files: list[dict[str, Any]]) -> str | None: ...

    async def reject(self, gate_id: str, reason: str = "") -> dict[str, Any]: ...

    async def push_buffer(self, sid: str, path: str, text: str | None) -> None: ...

    def workspace_apply_edit_async(
        self, params: t.ApplyWorkspaceEditParams) -> Awaitable[t.ApplyWorkspaceEditResult]: ...

    def window_show_message(self, params: t.ShowMessageParams) -> None: ...


def closed_reason(by: str, reason: str) -> str:
    """Why a proposal was closed without the user, for messages."""
    if by == "cancelled":
        return "the run was cancelled"
    if by == "error":
        return "the run stopped with an error"
    return f"it was already decided ({reason or by or 'elsewhere'})"


async def approve_edit(ls: EditHost, gate_id: str, gate: dict[str, Any]) -> dict[str, Any]:
    sid = gate["session_id"]
    open_ids = {rec["id"] for rec in await ls.call("approval/list", {"session_id": sid})}
    if gate_id not in open_ids or gate_id not in ls.pending:
        ls.forget(gate_id)
        raise Conflict(f"the proposal {gate_id} is closed ({gate.get('closed') or 'decided elsewhere'}); "
                       "nothing was applied")
    stale = ls.stale(gate["files"])
    if stale:
        message = f"{stale} changed since the agent proposed this edit; not applied"
        await ls.reject(gate_id, message)
        return {"status": "deny", "applied": False, "message": message}
    changes: list[Any] = []
    for f in gate["files"]:
        doc = ls.workspace.text_documents.get(f["uri"])
        changes += file_edit(f, doc.version if doc is not None else None)
    result = await ls.workspace_apply_edit_async(t.ApplyWorkspaceEditParams(
        edit=t.WorkspaceEdit(document_changes=changes), label="codetether: agent edit"))
    if not result.applied:
        message = f"the editor could not apply it: {result.failure_reason or 'no reason given'}"
        await ls.reject(gate_id, message)
        return {"status": "deny", "applied": False, "message": message}
    await _settle(ls, sid, gate["files"], "after")
    try:
        rec = await ls.call("approval/decide", {"approval_id": gate_id, "decision": "allow",
                                                "applied": True})
    except (Conflict, NotFound) as exc:
        # Closed while we applied (a cancel raced us): take the edit back (S6).
        await _revert(ls, sid, gate["files"])
        ls.forget(gate_id)
        raise Conflict(f"the proposal {gate_id} was closed while it was applied ({exc.message}); "
                       "the edit was undone") from exc
    ls.forget(gate_id)
    return {"status": rec["status"], "applied": True}


async def _settle(ls: EditHost, sid: str, files: list[dict[str, Any]], side: str) -> None:
    """After an applyEdit: our copy of each buffer, the daemon's and (option) the disk hold
    the ``side`` text. The editor's didChange may come later (clients debounce it)."""
    for f in files:
        doc = ls.workspace.text_documents.get(f["uri"])
        text = f.get(side)
        if doc is not None and text is not None:
            ls.workspace.update_text_document(
                t.VersionedTextDocumentIdentifier(uri=f["uri"], version=doc.version or 0),
                t.TextDocumentContentChangeWholeDocument(text=text))
            await ls.push_buffer(sid, f["path"], text)
    if ls.options.save_after_apply:
        await save(ls, [f for f in files if f.get(side) is not None], side)


async def save(ls: EditHost, files: list[dict[str, Any]], side: str) -> None:
    """Save through the client when it can (its buffers stay unmodified), else write."""
    if not files:
        return
    saved: set[str] = set()
    if ls.client_saves:
        try:
            reply = await ls.protocol.send_request_async("codetether/saveDocuments",
                                                         {"uris": [f["uri"] for f in files]})
            got = reply.get("saved") if isinstance(reply, dict) else getattr(reply, "saved", None)
            saved = {str(u) for u in got or []}
        except Exception as exc:  # noqa: BLE001 - the server writes them below instead
            log.warning("codetether/saveDocuments failed: %s", exc)
    for f in files:
        if f["uri"] in saved:
            continue
        doc = ls.workspace.text_documents.get(f["uri"])
        text = f[side]
        # Only what was applied: a buffer that now holds something else is not ours to write.
        if doc is not None and doc.source != text:
            log.warning("not saving %s: the buffer no longer holds the applied text", f["path"])
            continue
        try:
            _write_file(Path(f["path"]), text.encode())
        except OSError as exc:
            ls.window_show_message(t.ShowMessageParams(
                t.MessageType.Warning, f"codetether: could not save {f.get('rel') or f['path']}: {exc}"))


def _write_file(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically (a temp file beside it, fsynced, renamed), keeping its
    mode; a new file gets the umask's default, as an editor's save would give it."""
    try:
        mode: int | None = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = None
    tmp = path.with_name(f".{path.name}.{os.urandom(4).hex()}.ct-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


async def _revert(ls: EditHost, sid: str, files: list[dict[str, Any]]) -> None:
    undo = [{**f, "before": f.get("after"), "after": f.get("before")} for f in files]
    changes: list[Any] = []
    for f in undo:
        doc = ls.workspace.text_documents.get(f["uri"])
        changes += file_edit(f, doc.version if doc is not None else None)
    result = await ls.workspace_apply_edit_async(t.ApplyWorkspaceEditParams(
        edit=t.WorkspaceEdit(document_changes=changes), label="codetether: undo a withdrawn edit"))
    if result.applied:
        await _settle(ls, sid, undo, "after")
