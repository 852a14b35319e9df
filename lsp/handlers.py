"""LSP features and ``codetether.*`` commands: each maps one request to the server's
methods in :mod:`.server` (PROTOCOL.md lists them)."""

from __future__ import annotations

from typing import Any

from lsprotocol import types as t

from .convert import uri_to_path
from .options import Options, parse_options
from .server import CodetetherServer, server

__all__: list[str] = []

@server.feature(t.INITIALIZE)
def _initialize(ls: CodetetherServer, params: t.InitializeParams) -> None:
    ls.options, ls.option_warning = parse_options(params.initialization_options)
    experimental = params.capabilities.experimental
    ours = experimental.get("codetether") if isinstance(experimental, dict) else None
    ours = ours if isinstance(ours, dict) else {}
    ls.client_approvals = ours.get("approvals") is True
    ls.client_saves = ours.get("saveDocuments") is True


@server.feature(t.INITIALIZED)
def _initialized(ls: CodetetherServer, _params: t.InitializedParams) -> None:
    if ls.option_warning:
        ls.window_show_message(t.ShowMessageParams(t.MessageType.Warning, ls.option_warning))


@server.feature(t.TEXT_DOCUMENT_DID_OPEN)
def _did_open(ls: CodetetherServer, params: t.DidOpenTextDocumentParams) -> None:
    ls.buffer_changed(params.text_document.uri, params.text_document.text)


@server.feature(t.TEXT_DOCUMENT_DID_CHANGE)
def _did_change(ls: CodetetherServer, params: t.DidChangeTextDocumentParams) -> None:
    doc = ls.workspace.get_text_document(params.text_document.uri)
    ls.buffer_changed(doc.uri, doc.source)


@server.feature(t.TEXT_DOCUMENT_DID_CLOSE)
def _did_close(ls: CodetetherServer, params: t.DidCloseTextDocumentParams) -> None:
    ls.buffer_changed(params.text_document.uri, None)


@server.feature(t.TEXT_DOCUMENT_CODE_ACTION,
                t.CodeActionOptions(code_action_kinds=[t.CodeActionKind.QuickFix]))
def _code_action(ls: CodetetherServer, params: t.CodeActionParams) -> list[t.CodeAction]:
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


@server.command("codetether.chat")
async def _chat(ls: CodetetherServer, *args: Any) -> dict[str, Any]:
    a = _arg(args)
    text = str(a.get("text", "")).strip()
    if not text:
        raise ValueError("codetether.chat needs {\"text\": ...}")
    folder = ls.folder_of(uri_to_path(a["folder"]) if a.get("folder") else None)
    sid = await ls.session_for(folder)
    ls.spawn(ls.run_prompt(sid, text), f"run:{sid}")
    return {"session_id": sid}


@server.command("codetether.cancel")
async def _cancel(ls: CodetetherServer, *_args: Any) -> Any:
    if ls.active is None:
        return {"cancelled": False}
    return await ls.call("session/cancel", {"session_id": ls.active})


@server.command("codetether.newSession")
async def _new(ls: CodetetherServer, *args: Any) -> dict[str, Any]:
    folder = ls.folder_of(uri_to_path(_arg(args)["folder"]) if _arg(args).get("folder") else None)
    ls.sessions.pop(folder, None)
    return {"session_id": await ls.session_for(folder)}


@server.command("codetether.sessions")
async def _sessions(ls: CodetetherServer, *_args: Any) -> Any:
    return await ls.call("session/list", {"workspace": ls.folder_of(None)})


@server.command("codetether.resume")
async def _resume(ls: CodetetherServer, *args: Any) -> dict[str, Any]:
    sid = str(_arg(args).get("session_id", ""))
    info = (await ls.call("session/get", {"session_id": sid}))["info"]
    ls.sessions[info["workspace"]] = ls.active = sid
    await ls.call("session/subscribe", {"session_id": sid})
    ls.spawn(ls.call("session/resume", {"session_id": sid}), f"resume:{sid}")
    return {"session_id": sid}


@server.command("codetether.model")
async def _model(ls: CodetetherServer, *args: Any) -> dict[str, Any]:
    if _arg(args).get("model"):
        ls.options = Options(**{**{f: getattr(ls.options, f) for f in ls.options.__struct_fields__},
                                "model": _arg(args)["model"]})
        ls.sessions.clear()  # new sessions use it
    models = await ls.call("models/list")
    return {"model": ls.options.model, "models": [m["id"] for m in models]}


@server.command("codetether.planMode")
async def _plan(ls: CodetetherServer, *args: Any) -> dict[str, Any]:
    mode = "plan" if _arg(args).get("on", True) else "ask"
    ls.options = Options(**{**{f: getattr(ls.options, f) for f in ls.options.__struct_fields__},
                            "approval_mode": mode})
    ls.sessions.clear()
    return {"approval_mode": mode}


@server.command("codetether.approve")
async def _approve(ls: CodetetherServer, *args: Any) -> dict[str, Any]:
    return await ls.approve(_str("codetether.approve", args, "id"))


@server.command("codetether.reject")
async def _reject(ls: CodetetherServer, *args: Any) -> dict[str, Any]:
    return await ls.reject(_str("codetether.reject", args, "id"),
                           _str("codetether.reject", args, "reason", required=False))


@server.command("codetether.showDiff")
def _show_diff(ls: CodetetherServer, *args: Any) -> dict[str, Any]:
    pid = str(_arg(args).get("id", ""))
    gate = ls.pending.get(pid)
    if gate is None or gate["kind"] != "edit":
        raise ValueError(f"no open edit proposal {pid!r}")
    return {"id": pid, "files": [{"uri": f["uri"], "path": f["path"], "original": f.get("before") or "",
                                  "proposed": f.get("after") or "", "diff": f["diff"]}
                                 for f in gate["files"]]}


@server.command("codetether.answer")
async def _answer(ls: CodetetherServer, *args: Any) -> Any:
    return await ls.answer(_str("codetether.answer", args, "id"), str(_arg(args).get("answer", "")))


@server.command("codetether.review")
async def _review(ls: CodetetherServer, *args: Any) -> dict[str, Any]:
    return await ls.review(str(_arg(args).get("uri", "")))


@server.command("codetether.status")
async def _status(ls: CodetetherServer, *_args: Any) -> dict[str, Any]:
    return await ls.status()
