"""The codetether language server: LSP ↔ daemon, nothing more (see PROTOCOL.md).

Handlers stay thin: conversions live in :mod:`.convert`, decisions in the daemon; the
server registers them (:mod:`.handlers` knows it only as a Protocol). ``_tasks`` owns
every background task (runs, prompts, applies); ``pending`` holds the gates awaiting
the user (approvals, questions, edit proposals) by id. Daemon events arrive as the
:mod:`codetether.daemon.wire.events` union; a type this server does not know (a newer
daemon's) is forwarded to the client and otherwise ignored.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import msgspec
from codetether.daemon import __version__
from codetether.daemon.client import AsyncClient
from codetether.daemon.errors import CodetetherError, Conflict, RequestCancelled
from codetether.daemon.paths import get_paths
from codetether.daemon.wire.events import (
    ApprovalRequested,
    ApprovalResolved,
    Done,
    EditProposed,
    ErrorEvent,
    Notice,
    Progress,
    QuestionAsked,
    SessionEvent,
    ToolCallStart,
    UsageEvent,
)
from codetether.daemon.wire.okr_draft import okr_draft, okr_lines
from codetether.daemon.wire.swarm import describe_progress
from lsprotocol import types as t
from pygls.lsp.server import LanguageServer

from .convert import (
    changed_range,
    parse_review,
    path_to_uri,
    proposal_actions,
    status_text,
    uri_to_path,
)
from .edits import approve_edit, closed_reason
from .handlers import COMMANDS, FEATURES
from .options import Options
from .stdio import CodetetherProtocol, serve_stdio

__all__ = ["CodetetherServer", "main", "server"]

log = logging.getLogger("codetether.lsp")

REVIEW_PROMPT = (
    "Review @{path} for bugs, risky code and unclear parts. Answer ONLY with findings, one per "
    "line, formatted exactly `LINE: severity: message` (severity is error, warning or info). "
    "If there is nothing to report, answer `none`.")


class _EventParams(msgspec.Struct):
    """The params of a ``session/event`` notification."""

    session_id: str
    event: SessionEvent
    seq: int = 0


class CodetetherServer(LanguageServer):
    """The language server: one daemon client, the sessions of this editor's folders,
    and the gates awaiting its user."""

    def __init__(self) -> None:
        # Full sync: after the server applies an agent edit to its own copy, the client's
        # next didChange replaces the whole text instead of patching a moved base.
        super().__init__("codetether", __version__,
                         text_document_sync_kind=t.TextDocumentSyncKind.Full,
                         protocol_cls=CodetetherProtocol)
        self.options = Options()
        self.option_warning: str | None = None
        self.client_approvals = False
        self.client_saves = False  # experimental.codetether.saveDocuments (E6)
        self.closed: dict[str, str] = {}  # gate id -> why it closed without the user (S6)
        #: Gates this editor decided whose approval_resolved has not arrived yet (bounded).
        self._decided_here: dict[str, None] = {}
        self._status_seq = 0  # status pushes are ordered: a late answer never overwrites a newer one
        self.daemon: AsyncClient | None = None
        self.sessions: dict[str, str] = {}  # workspace folder path -> session id
        self.active: str | None = None
        self.pending: dict[str, dict[str, Any]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._progress: dict[str, str] = {}  # session id -> progress token
        self._runs = 0
        #: The swarm this editor runs (``/swarm``), its chat stream's next seq.
        self.swarm_id: str | None = None
        self._swarm_seq = 0
        for method, options, handler in FEATURES:
            self.feature(method, options)(handler)
        for name, command in COMMANDS.items():
            self.command(name)(command)

    # -- plumbing -----------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            message = exc.message if isinstance(exc, CodetetherError) else str(exc)
            self.window_show_message(t.ShowMessageParams(t.MessageType.Error, f"codetether: {message}"))

    @property
    def use_message_requests(self) -> bool:
        choice = self.options.use_show_message_request
        return (not self.client_approvals) if choice is None else choice

    async def call(self, method: str, params: Any = None) -> Any:
        return await self._daemon().request(method, params)

    def _daemon(self) -> AsyncClient:
        if self.daemon is None:
            home = self.options.codetether_home
            paths = get_paths({"CODETETHER_HOME": home} if home else None)
            # The daemon we may start must find the same files: hand it the home in its
            # own environment instead of changing ours.
            env = dict(os.environ, CODETETHER_HOME=home) if home else None
            self.daemon = AsyncClient(paths, self.on_daemon, autostart=self.options.auto_start_daemon,
                                      on_reconnect=self._resubscribe, env=env)
        return self.daemon

    async def _resubscribe(self) -> None:
        for sid in set(self.sessions.values()):
            await self._daemon().request("session/subscribe", {"session_id": sid})

    def folder_of(self, path: str | None) -> str:
        folders = [uri_to_path(f.uri) for f in (self.workspace.folders or {}).values()]
        if path:
            for folder in sorted(folders, key=len, reverse=True):
                if path == folder or path.startswith(folder.rstrip("/") + "/"):
                    return folder
        if folders:
            return folders[0]
        root = self.workspace.root_path
        return root or os.getcwd()

    async def session_for(self, folder: str) -> str:
        sid = self.sessions.get(folder)
        if sid is None:
            info = await self.call("session/create", {
                "workspace": folder, "editor": True, "approval_mode": self.options.approval_mode,
                "model": self.options.model})
            sid = self.sessions[folder] = info["id"]
            await self.call("session/subscribe", {"session_id": sid})
            for doc in list(self.workspace.text_documents.values()):
                path = uri_to_path(doc.uri)
                if self.folder_of(path) == folder:
                    await self.push_buffer(sid, path, doc.source)
        self.active = sid
        return sid

    async def push_buffer(self, sid: str, path: str, text: str | None) -> None:
        try:
            await self.call("workspace/buffer", {"session_id": sid, "path": path, "text": text})
        except CodetetherError as exc:  # e.g. a file outside the workspace
            log.debug("buffer %s not sent: %s", path, exc.message)

    def buffer_changed(self, uri: str, text: str | None) -> None:
        path = uri_to_path(uri)
        sid = self.sessions.get(self.folder_of(path))
        if sid is not None:
            self.spawn(self.push_buffer(sid, path, text), f"buffer:{path}")

    # -- daemon events -------------------------------------------------------------------

    def on_daemon(self, method: str, params: Any) -> None:
        if method == "swarm/event":
            self._on_swarm(params.get("event") or {})
            return
        if method != "session/event":
            return
        self.protocol.notify("codetether/event", params)
        try:
            note = msgspec.convert(params, _EventParams)
        except msgspec.ValidationError as exc:
            # A newer daemon's event: the client has it (above); nothing here acts on it.
            log.debug("session event not for this server: %s", exc)
            return
        sid, event = note.session_id, note.event
        match event:
            case EditProposed():
                self._on_proposal(sid, event)
            case ApprovalRequested() if event.tool == "okr":
                self._okr_gate(sid, event)
            case ApprovalRequested():
                self._gate(event.approval_id, sid, "tool", f"Allow {event.tool}?",
                           event.subject or event.arguments, ["Allow", "Deny"])
            case QuestionAsked():
                self._gate(event.question_id, sid, "question", event.question, "", event.options)
            case ApprovalResolved():
                self._resolved(event)
            case UsageEvent():
                self.spawn(self._publish_status(), "status")
            case ToolCallStart():
                self._progress_report(sid, f"{event.name} …")
            case Progress():
                tokens = f" ({event.tokens} tokens)" if event.tokens else ""
                self._progress_report(sid, f"{event.detail or event.phase}{tokens} …")
            case Notice() if not self.client_approvals:
                # The two clients show notices in their chat; any other editor gets a message.
                level = t.MessageType.Info if event.level == "info" else t.MessageType.Warning
                self.window_show_message(t.ShowMessageParams(level, f"codetether: {event.text}"))
            case Done():
                self._turn_over(sid, event.stop_reason)
            case ErrorEvent():
                self._turn_over(sid, "error")

    def _turn_over(self, sid: str, reason: str) -> None:
        self._progress_end(sid, reason)
        # The daemon still holds the run while it emits ``done``: its status says busy.
        # The turn is over, so say so, or status lines stay on "working" (E4).
        self.spawn(self._publish_status(busy=False), "status")

    def _resolved(self, event: ApprovalResolved) -> None:
        """A gate was decided by anyone, or withdrawn (cancel, error): its proposal and code
        actions go away at once, so it cannot be applied afterwards (S6)."""
        gate_id, by, reason = event.approval_id, event.by, event.rule
        # Announced whoever decided, this editor included: its own approve may have taken
        # the gate out of ``pending`` before the daemon's event arrived.
        if self.pending.pop(gate_id, None) is None and self._decided_here.pop(gate_id, False) is False:
            return
        if by in ("cancelled", "error"):
            self.closed[gate_id] = closed_reason(by, reason)
            while len(self.closed) > 200:
                self.closed.pop(next(iter(self.closed)))
        self.protocol.notify("codetether/resolved", {"id": gate_id, "status": event.decision,
                                                     "by": by, "reason": reason})

    def _okr_gate(self, sid: str, event: ApprovalRequested) -> None:
        """``/go``'s gate: the drafted objective and its key results, to approve or deny
        (a denial's reason re-drafts it). The draft rides in ``okr`` for rich clients."""
        okr = okr_draft(event.arguments)
        detail = "\n".join(okr_lines(okr)) if okr else event.arguments
        self._progress_report(sid, f"waiting for your decision on the objective {event.subject!r}")
        self._gate(event.approval_id, sid, "okr", f"Approve objective: {event.subject}", detail,
                   ["Approve", "Deny"], okr=okr)

    def _gate(self, gate_id: str, sid: str, kind: str, title: str, detail: str,
              options: list[str], **more: Any) -> None:
        self.pending[gate_id] = {"kind": kind, "session_id": sid}
        self.protocol.notify("codetether/approval", {"id": gate_id, "kind": kind, "title": title,
                                                     "detail": detail, "options": options, **more})
        if self.use_message_requests:
            self.spawn(self._ask(gate_id, kind, f"{title} {detail}".strip(), options), f"ask:{gate_id}")

    def _on_proposal(self, sid: str, event: EditProposed) -> None:
        pid = event.proposal_id
        files = event.files
        for f in files:
            doc = self.workspace.text_documents.get(path_to_uri(f["path"]))
            f["uri"] = path_to_uri(f["path"])
            f["version"] = doc.version if doc is not None else None
            # Once per proposal, not per code-action request (files can be long).
            f["range"] = changed_range(f.get("before") or "", f.get("after") or "")
        self.pending[pid] = {"kind": "edit", "session_id": sid, "files": files, "tool": event.tool}
        self.protocol.notify("codetether/proposal", {
            "id": pid, "tool": event.tool,
            "files": [{"rel": f.get("rel") or f["path"], **{k: f[k] for k in ("uri", "path", "diff", "version")}}
                      for f in files]})
        if event.auto_apply:
            self.spawn(self.approve(pid), f"apply:{pid}")
        elif self.use_message_requests:
            paths = ", ".join(f.get("rel") or f["path"] for f in files)
            self.spawn(self._ask(pid, "edit", f"Apply the agent's {event.tool} to {paths}?",
                                 ["Apply", "Reject"]), f"ask:{pid}")

    async def _ask(self, gate_id: str, kind: str, message: str, options: list[str]) -> None:
        actions = [t.MessageActionItem(title=o) for o in options] or [t.MessageActionItem(title="OK")]
        choice = await self.window_show_message_request_async(
            t.ShowMessageRequestParams(type=t.MessageType.Info, message=message, actions=actions))
        if gate_id not in self.pending:
            return  # decided meanwhile (another client, or a code action)
        title = choice.title if choice is not None else None
        if kind == "question":
            await self.answer(gate_id, title or "")
        elif title in ("Allow", "Apply", "Approve"):
            await self.approve(gate_id)
        else:
            await self.reject(gate_id, "declined in the editor")

    # -- decisions -------------------------------------------------------------------------

    async def approve(self, gate_id: str) -> dict[str, Any]:
        if not gate_id:
            raise ValueError('codetether.approve: "id" must be a non-empty string')
        gate = self.pending.get(gate_id)
        if gate is None and gate_id in self.closed:
            raise Conflict(f"not applied: the proposal was withdrawn ({self.closed[gate_id]})")
        if gate is None or gate["kind"] != "edit":
            rec = await self.call("approval/decide", {"approval_id": gate_id, "decision": "allow"})
            self.forget(gate_id)
            return {"status": rec["status"]}
        return await approve_edit(self, gate_id, gate)

    def forget(self, gate_id: str) -> None:
        """This editor decided the gate: drop it, and still announce it when the daemon's
        approval_resolved arrives (clients close its toast and diff on that)."""
        if self.pending.pop(gate_id, None) is not None:
            self._decided_here[gate_id] = None
            while len(self._decided_here) > 200:
                self._decided_here.pop(next(iter(self._decided_here)))

    def stale(self, files: list[dict[str, Any]]) -> str | None:
        """The first file whose buffer no longer holds what the proposal was made from."""
        for f in files:
            doc = self.workspace.text_documents.get(f["uri"])
            if doc is not None and f.get("before") is not None and doc.source != f["before"]:
                return str(f.get("rel") or f["path"])
        return None

    async def reject(self, gate_id: str, reason: str = "") -> dict[str, Any]:
        if not gate_id:
            raise ValueError('codetether.reject: "id" must be a non-empty string')
        if gate_id not in self.pending and gate_id in self.closed:
            raise Conflict(f"the proposal was already withdrawn ({self.closed[gate_id]})")
        rec = await self.call("approval/decide", {"approval_id": gate_id, "decision": "deny",
                                                  "reason": reason or "rejected in the editor"})
        return {"status": rec["status"]}

    async def answer(self, question_id: str, answer: str) -> dict[str, Any]:
        self.pending.pop(question_id, None)
        result: dict[str, Any] = await self.call("question/answer", {"question_id": question_id,
                                                                       "answer": answer})
        return result

    # -- runs, progress, status --------------------------------------------------------------

    async def run_prompt(self, sid: str, text: str) -> dict[str, Any]:
        self._runs += 1
        token = f"codetether-{sid}-{self._runs}"
        window = self.client_capabilities.window
        try:
            if not (window and window.work_done_progress):
                raise LookupError("the client does not do work done progress")
            await self.window_work_done_progress_create_async(t.WorkDoneProgressCreateParams(token=token))
            self.work_done_progress.begin(token, t.WorkDoneProgressBegin(title="codetether", message=text[:60]))
            self._progress[sid] = token
        except Exception:  # noqa: BLE001 - progress is optional for clients
            log.debug("client declined work done progress")
        try:
            result: dict[str, Any] = await self.call("session/prompt", {"session_id": sid, "text": text})
            return result
        except RequestCancelled:
            return {"stop_reason": "cancelled"}  # the user asked for it: not an error (E7)
        finally:
            self._progress_end(sid, "done")
            self.spawn(self._publish_status(), "status")  # the run is released now (E4)

    # -- /swarm ---------------------------------------------------------------------------

    async def run_swarm(self, folder: str, task: str) -> dict[str, Any]:
        """Run a swarm on ``folder`` (``/swarm`` in the chat): its progress goes out as
        ``codetether/swarm`` notifications, and as chat events of the pseudo-session
        ``swarm:<id>`` (notices, then the answer) that any chat already shows; its
        subtasks' approvals are gates like any other."""
        self._runs += 1
        token = f"codetether-swarm-{self._runs}"
        try:
            window = self.client_capabilities.window
            if not (window and window.work_done_progress):
                raise LookupError("the client does not do work done progress")
            await self.window_work_done_progress_create_async(t.WorkDoneProgressCreateParams(token=token))
            self.work_done_progress.begin(token, t.WorkDoneProgressBegin(title="codetether swarm",
                                                                         message=task[:60]))
            self._progress["swarm"] = token
        except Exception:  # noqa: BLE001 - progress is optional for clients
            log.debug("client declined work done progress")
        params: dict[str, Any] = {"task": task, "workspace": folder, "approval_mode": self.options.approval_mode}
        if self.options.model:
            params["model"] = self.options.model
        try:
            state: dict[str, Any] = await self.call("swarm/start", params)
        except RequestCancelled:
            state = {"id": self.swarm_id, "status": "cancelled"}
        finally:
            self._progress_end("swarm", "done")
        self.protocol.notify("codetether/swarm", {"type": "result", "state": state})
        answer = state.get("answer") or f"swarm {state.get('status')}: {state.get('error') or 'no answer'}"
        self._swarm_chat({"type": "text", "text": answer})
        self._swarm_chat({"type": "done", "stop_reason": "end_turn" if state.get("status") == "completed"
                          else str(state.get("status")), "steps": len(state.get("results") or {})})
        self.swarm_id = None
        return state

    def _on_swarm(self, event: dict[str, Any]) -> None:
        if event.get("swarm_id") and self.swarm_id != event["swarm_id"]:
            self.swarm_id, self._swarm_seq = str(event["swarm_id"]), 0
        self.protocol.notify("codetether/swarm", {"type": "event", "event": event})
        line = describe_progress(event)
        if line:
            self._progress_report("swarm", line.strip())
            self._swarm_chat({"type": "notice", "text": line, "level": "info"})
        if event.get("phase") == "approval":
            approval_id, _, rest = str(event.get("detail", "")).partition(" ")
            tool, _, subject = rest.partition(" ")
            self._gate(approval_id, f"swarm:{self.swarm_id}", "tool",
                       f"Allow {tool} (swarm subtask {event.get('subtask')})?", subject, ["Allow", "Deny"])

    def _swarm_chat(self, event: dict[str, Any]) -> None:
        self.protocol.notify("codetether/event", {"session_id": f"swarm:{self.swarm_id}",
                                                  "seq": self._swarm_seq, "event": event})
        self._swarm_seq += 1

    def _progress_report(self, sid: str, message: str) -> None:
        token = self._progress.get(sid)
        if token is not None:
            self.work_done_progress.report(token, t.WorkDoneProgressReport(message=message))

    def _progress_end(self, sid: str, message: str) -> None:
        token = self._progress.pop(sid, None)
        if token is not None:
            self.work_done_progress.end(token, t.WorkDoneProgressEnd(message=message))

    async def status(self) -> dict[str, Any]:
        # Before any chat there is no session: say which model one would use (E7).
        info: dict[str, Any] = {"session_id": self.active, "model": self.options.model, "busy": False,
                                "input_tokens": 0, "output_tokens": 0, "cost": ""}
        if self.active is not None:
            status = await self.call("session/status", {"session_id": self.active})
            info.update({k: status[k] for k in ("model", "busy", "context", "input_tokens",
                                                "output_tokens", "cost")})
        info["text"] = status_text(info)
        return info

    async def _publish_status(self, busy: bool | None = None) -> None:
        self._status_seq += 1
        ticket = self._status_seq
        info = await self.status()
        if ticket != self._status_seq:
            return  # a newer push is on its way
        if busy is not None:
            info["busy"] = busy
        self.protocol.notify("codetether/status", info)

    async def review(self, uri: str) -> dict[str, Any]:
        path = uri_to_path(uri)
        sid = await self.session_for(self.folder_of(path))
        rel = os.path.relpath(path, self.folder_of(path))  # noqa: ASYNC240 - absolute paths: string work
        result = await self.run_prompt(sid, REVIEW_PROMPT.format(path=rel))
        doc = self.workspace.get_text_document(uri)
        found = parse_review(result.get("text", ""), len(doc.lines) or 1)
        self.text_document_publish_diagnostics(t.PublishDiagnosticsParams(uri=uri, diagnostics=found))
        return {"findings": len(found)}

    def proposal_actions(self, uri: str) -> list[t.CodeAction]:
        return proposal_actions(self.pending, uri)


server = CodetetherServer()


def main() -> None:
    """Serve LSP on stdio (``python -m codetether.lsp``, ``codetether lsp``)."""
    logging.basicConfig(level=logging.WARNING, filename=str(Path(os.devnull)))
    serve_stdio(server)
