"""LSP features and ``codetether.*`` commands: each maps one request to the server's
methods (PROTOCOL.md lists them).

The handlers know the server only as :class:`Host`; :mod:`.server` registers
:data:`FEATURES` and :data:`COMMANDS` on itself, so this module never imports it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from lsprotocol import types as t
from pygls.workspace import Workspace

from .convert import uri_to_path
from .options import Options, parse_options

__all__ = ["COMMANDS", "FEATURES", "Host"]


class Host(Protocol):
    """What the handlers need of the server (:class:`~.server.CodetetherServer`)."""

    options: Options
    option_warning: str | None
    client_approvals: bool
    client_saves: bool
    sessions: dict[str, str]
    active: str | None
    pending: dict[str, dict[str, Any]]

    @property
    def workspace(self) -> Workspace: ...

    def window_show_message(self, params: t.ShowMessageParams) -> None: ...

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]: ...

    async def call(self, method: str, params: Any = None) -> Any: ...

    def folder_of(self, path: str | None) -> str: ...

    async def session_for(self, folder: str) -> str: ...

    def buffer_changed(self, uri: str, text: str | None) -> None: ...

    def proposal_actions(self, uri: str) -> list[t.CodeAction]: ...

    async def run_prompt(self, sid: str, text: str) -> dict[str, Any]: ...

    async def run_swarm(self, folder: str, task: str) -> dict[str, Any]: ...

    swarm_id: str | None

    async def approve(self, gate_id: str) -> dict[str, Any]: ...

    async def reject(self, gate_id: str, reason: str = "") -> dict[str, Any]: ...

    async def answer(self, question_id: str, answer: str) -> dict[str, Any]: ...

    async def review(self, uri: str) -> dict[str, Any]: ...

    async def status(self) -> dict[str, Any]: ...


def _initialize(ls: Host, params: t.InitializeParams) -> None:
    ls.options, ls.option_warning = parse_options(params.initialization_options)
    experimental = params.capabilities.experimental
    ours = experimental.get("codetether") if isinstance(experimental, dict) else None
    ours = ours if isinstance(ours, dict) else {}
    ls.client_approvals = ours.get("approvals") is True
    ls.client_saves = ours.get("saveDocuments") is True


def _initialized(ls: Host, _params: t.InitializedParams) -> None:
    if ls.option_warning:
        ls.window_show_message(t.ShowMessageParams(t.MessageType.Warning, ls.option_warning))


def _did_open(ls: Host, params: t.DidOpenTextDocumentParams) -> None:
    ls.buffer_changed(params.text_document.uri, params.text_document.text)


def _did_change(ls: Host, params: t.DidChangeTextDocumentParams) -> None:
    doc = ls.workspace.get_text_document(params.text_document.uri)
    ls.buffer_changed(doc.uri, doc.source)


def _did_close(ls: Host, params: t.DidCloseTextDocumentParams) -> None:
    ls.buffer_changed(params.text_document.uri, None)


def _code_action(ls: Host, params: t.CodeActionParams) -> list[t.CodeAction]:
    return ls.proposal_actions(params.text_document.uri)


def _arg(args: tuple[Any, ...]) -> dict[str, Any]:
    return args[0] if args and isinstance(args[0], dict) else {}


def _str(command: str, args: tuple[Any, ...], field: str, *, required: bool = True) -> str:
    """A string argument, or -32602 naming the field (R6)."""
    value = _arg(args).get(field)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise ValueError(f'{command}: "{field}" must be a non-empty string')
    return value


async def _chat(ls: Host, *args: Any) -> dict[str, Any]:
    a = _arg(args)
    text = str(a.get("text", "")).strip()
    if not text:
        raise ValueError("codetether.chat needs {\"text\": ...}")
    if text == "/swarm" or text.startswith("/swarm "):
        return await _swarm(ls, {**a, "text": text.removeprefix("/swarm").strip()})
    folder = ls.folder_of(uri_to_path(a["folder"]) if a.get("folder") else None)
    sid = await ls.session_for(folder)
    ls.spawn(ls.run_prompt(sid, text), f"run:{sid}")
    return {"session_id": sid}


async def _swarm(ls: Host, *args: Any) -> dict[str, Any]:
    a = _arg(args)
    task = str(a.get("text", "")).strip()
    if not task:
        raise ValueError('codetether.swarm needs {"text": the task} (in the chat: /swarm TASK)')
    if ls.swarm_id is not None:
        raise ValueError(f"a swarm is running ({ls.swarm_id}): cancel it first")
    folder = ls.folder_of(uri_to_path(a["folder"]) if a.get("folder") else None)
    ls.spawn(ls.run_swarm(folder, task), "swarm")
    return {"swarm": True, "workspace": folder}


async def _cancel(ls: Host, *_args: Any) -> Any:
    if ls.swarm_id is not None:
        return await ls.call("swarm/cancel", {"swarm_id": ls.swarm_id})
    if ls.active is None:
        return {"cancelled": False}
    return await ls.call("session/cancel", {"session_id": ls.active})


async def _new(ls: Host, *args: Any) -> dict[str, Any]:
    folder = ls.folder_of(uri_to_path(_arg(args)["folder"]) if _arg(args).get("folder") else None)
    ls.sessions.pop(folder, None)
    return {"session_id": await ls.session_for(folder)}


async def _sessions(ls: Host, *_args: Any) -> Any:
    return await ls.call("session/list", {"workspace": ls.folder_of(None)})


async def _resume(ls: Host, *args: Any) -> dict[str, Any]:
    sid = str(_arg(args).get("session_id", ""))
    info = (await ls.call("session/get", {"session_id": sid}))["info"]
    ls.sessions[info["workspace"]] = ls.active = sid
    await ls.call("session/subscribe", {"session_id": sid})
    ls.spawn(ls.call("session/resume", {"session_id": sid}), f"resume:{sid}")
    return {"session_id": sid}


async def _model(ls: Host, *args: Any) -> dict[str, Any]:
    if _arg(args).get("model"):
        ls.options = Options(**{**{f: getattr(ls.options, f) for f in ls.options.__struct_fields__},
                                "model": _arg(args)["model"]})
        ls.sessions.clear()  # new sessions use it
    models = await ls.call("models/list")
    return {"model": ls.options.model, "models": [m["id"] for m in models]}


async def _plan(ls: Host, *args: Any) -> dict[str, Any]:
    mode = "plan" if _arg(args).get("on", True) else "ask"
    ls.options = Options(**{**{f: getattr(ls.options, f) for f in ls.options.__struct_fields__},
                            "approval_mode": mode})
    ls.sessions.clear()
    return {"approval_mode": mode}


async def _approve(ls: Host, *args: Any) -> dict[str, Any]:
    return await ls.approve(_str("codetether.approve", args, "id"))


async def _reject(ls: Host, *args: Any) -> dict[str, Any]:
    return await ls.reject(_str("codetether.reject", args, "id"),
                           _str("codetether.reject", args, "reason", required=False))


def _show_diff(ls: Host, *args: Any) -> dict[str, Any]:
    pid = str(_arg(args).get("id", ""))
    gate = ls.pending.get(pid)
    if gate is None or gate["kind"] != "edit":
        raise ValueError(f"no open edit proposal {pid!r}")
    return {"id": pid, "files": [{"uri": f["uri"], "path": f["path"], "original": f.get("before") or "",
                                  "proposed": f.get("after") or "", "diff": f["diff"]}
                                 for f in gate["files"]]}


async def _answer(ls: Host, *args: Any) -> Any:
    return await ls.answer(_str("codetether.answer", args, "id"), str(_arg(args).get("answer", "")))


async def _review(ls: Host, *args: Any) -> dict[str, Any]:
    return await ls.review(str(_arg(args).get("uri", "")))


async def _status(ls: Host, *_args: Any) -> dict[str, Any]:
    return await ls.status()


#: Events one ``codetether.history`` answer holds at most (the newest kept).
HISTORY_LIMIT = 2000


async def _history(ls: Host, *args: Any) -> dict[str, Any]:
    """A session's newest :data:`HISTORY_LIMIT` events in ``codetether/event`` shape, oldest
    first, so a chat view can redraw a session it never saw (after a reload, or one resumed
    from the list)."""
    sid = _str("codetether.history", args, "session_id", required=False) or ls.active
    if not sid:
        return {"session_id": None, "events": []}
    length = (await ls.call("events/length", {"session_id": sid}))["length"]
    first = max(0, int(length) - HISTORY_LIMIT)
    records = await ls.call("events/replay", {"session_id": sid, "from_seq": first, "limit": HISTORY_LIMIT})
    return {"session_id": sid, "events": [
        {"session_id": sid, "seq": r["seq"], "event": {"type": r["kind"], **r["data"]}} for r in records]}


#: (LSP method, its options, handler), registered by the server.
FEATURES: list[tuple[str, Any, Callable[..., Any]]] = [
    (t.INITIALIZE, None, _initialize),
    (t.INITIALIZED, None, _initialized),
    (t.TEXT_DOCUMENT_DID_OPEN, None, _did_open),
    (t.TEXT_DOCUMENT_DID_CHANGE, None, _did_change),
    (t.TEXT_DOCUMENT_DID_CLOSE, None, _did_close),
    (t.TEXT_DOCUMENT_CODE_ACTION,
     t.CodeActionOptions(code_action_kinds=[t.CodeActionKind.QuickFix]), _code_action),
]

#: ``workspace/executeCommand`` commands by name, registered by the server.
COMMANDS: dict[str, Callable[..., Any]] = {
    "codetether.chat": _chat,
    "codetether.swarm": _swarm,
    "codetether.cancel": _cancel,
    "codetether.newSession": _new,
    "codetether.sessions": _sessions,
    "codetether.resume": _resume,
    "codetether.model": _model,
    "codetether.planMode": _plan,
    "codetether.approve": _approve,
    "codetether.reject": _reject,
    "codetether.showDiff": _show_diff,
    "codetether.answer": _answer,
    "codetether.review": _review,
    "codetether.status": _status,
    "codetether.history": _history,
}
