"""A stand-in for ``codetether lsp`` that speaks lsp/PROTOCOL.md over stdio.

It lets the Neovim plugin be tested while (or without) the real server: it reads the
same ``$CODETETHER_HOME/config/config.toml`` + scripted-provider script the real
daemon would, and plays its turns: ``text`` streams, ``edit`` becomes a proposal
(applied with ``workspace/applyEdit`` on approve), ``bash`` an approval, ``question``
a question. It is single-threaded: one loop reads messages and advances the script.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

_out = sys.stdout.buffer
_in = sys.stdin.buffer


def send(msg: dict[str, Any]) -> None:
    body = json.dumps({"jsonrpc": "2.0", **msg}).encode()
    _out.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    _out.flush()


def read() -> dict[str, Any] | None:
    length = 0
    while True:
        line = _in.readline()
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return json.loads(_in.read(length))


def notify(method: str, params: Any) -> None:
    send({"method": method, "params": params})


def load_turns() -> list[dict[str, Any]]:
    home = Path(os.environ.get("CODETETHER_HOME", ""))
    try:
        config = tomllib.loads((home / "config" / "config.toml").read_text())
        script = Path(config["providers"]["scripted"]["script"])
        turns = json.loads(script.read_text())["turns"]
    except (OSError, KeyError, ValueError):
        return []
    return [{"text": t} if isinstance(t, str) else t for t in turns]


def position(text: str, offset: int) -> dict[str, int]:
    before = text[:offset]
    return {"line": before.count("\n"), "character": offset - (before.rfind("\n") + 1)}


class Stub:
    def __init__(self) -> None:
        self.turns = load_turns()
        self.docs: dict[str, str] = {}
        self.root = ""
        self.session = "stub-session"
        self.seq = itertools.count(1)
        self.ids = itertools.count(1)
        self.waiting: dict[str, Any] | None = None  # the gate the script waits on
        self.outgoing: dict[Any, tuple[Any, dict[str, Any]]] = {}  # our request id -> (their id, gate)
        self.usage = 0
        self.save = False  # the client saves applied edits itself (codetether/saveDocuments)

    def event(self, **event: Any) -> None:
        notify("codetether/event", {"session_id": self.session, "seq": next(self.seq), "event": event})

    def status(self) -> dict[str, Any]:
        return {"session_id": self.session, "model": "scripted/scripted", "busy": self.waiting is not None,
                "input_tokens": self.usage, "output_tokens": self.usage // 2, "cost": 0.0,
                "context": {"current": self.usage, "limit": 1000, "percent": self.usage / 10, "level": "ok"}}

    # -- the script
    def advance(self) -> None:
        while self.turns and self.waiting is None:
            turn = self.turns.pop(0)
            self.usage += 10
            notify("codetether/status", self.status())
            if "tool" not in turn:
                text = str(turn.get("text", ""))
                for i in range(0, len(text), 3):
                    self.event(type="text", text=text[i:i + 3])
                self.event(type="done", stop_reason="end_turn", steps=1, text=text)
                return
            self.start_tool(turn)

    def start_tool(self, turn: dict[str, Any]) -> None:
        name, args = turn["tool"], turn.get("arguments", {})
        call_id = f"call_{next(self.ids)}"
        gate_id = f"ap_{next(self.ids)}"
        self.event(type="tool_call_start", call_id=call_id, name=name, arguments=json.dumps(args))
        gate = {"id": gate_id, "call_id": call_id, "tool": name, "args": args}
        if name == "edit":
            path = Path(self.root, args["path"])
            uri = path.as_uri()
            text = self.docs.get(uri, path.read_text() if path.exists() else "")
            start = text.find(args["old_string"])
            if start < 0:
                return self.end_tool(gate, "old_string not found", error=True)
            gate.update(uri=uri, range={"start": position(text, start),
                                        "end": position(text, start + len(args["old_string"]))})
            proposed = text[:start] + args["new_string"] + text[start + len(args["old_string"]):]
            gate.update(original=text, proposed=proposed, path=args["path"])
            self.waiting = gate
            notify("codetether/proposal", {"id": gate_id, "tool": name,
                                           "files": [{"uri": uri, "path": str(path), "rel": args["path"],
                                                     "diff": "", "version": 0}]})
            notify("codetether/approval", {"id": gate_id, "kind": "edit", "title": f"edit {args['path']}",
                                           "detail": ""})
        elif name == "question":
            self.waiting = gate
            notify("codetether/approval", {"id": gate_id, "kind": "question", "title": args["question"],
                                           "detail": "", "options": args.get("options", [])})
        else:
            self.waiting = gate
            notify("codetether/approval", {"id": gate_id, "kind": "tool", "title": f"{name}: {args}",
                                           "detail": ""})

    def end_tool(self, gate: dict[str, Any], output: str, *, error: bool = False) -> None:
        self.event(type="tool_call_end", call_id=gate["call_id"], name=gate["tool"], output=output,
                   is_error=error, duration_ms=1.0)
        self.waiting = None
        self.advance()

    def decide(self, their_id: Any, gate_id: str, allow: bool, answer: str = "") -> None:
        gate = self.waiting
        if gate is None or gate["id"] != gate_id:
            return send({"id": their_id, "error": {"code": -32602, "message": f"no pending {gate_id}"}})
        if not allow:
            send({"id": their_id, "result": {"status": "deny"}})
            notify("codetether/resolved", {"id": gate_id, "status": "deny", "by": "stub", "reason": ""})
            return self.end_tool(gate, "rejected by the user", error=True)
        if gate["tool"] == "edit":
            req = f"s{next(self.ids)}"
            self.outgoing[req] = (their_id, gate)
            edit = {"changes": {gate["uri"]: [{"range": gate["range"], "newText": gate["args"]["new_string"]}]}}
            return send({"id": req, "method": "workspace/applyEdit", "params": {"label": "agent edit", "edit": edit}})
        send({"id": their_id, "result": {"answered": True} if answer else {"status": "allow"}})
        notify("codetether/resolved", {"id": gate_id, "status": "allow", "by": "stub", "reason": ""})
        self.end_tool(gate, f"answer: {answer}" if answer else "ok")

    def applied(self, req: Any, result: Any) -> None:
        their_id, gate = self.outgoing.pop(req)
        if gate.get("saving"):  # the answer to codetether/saveDocuments: now the agent goes on
            send({"id": their_id, "result": {"status": "allow", "applied": True}})
            notify("codetether/resolved", {"id": gate["id"], "status": "allow", "by": "stub", "reason": ""})
            return self.end_tool(gate, "applied")
        if not (result or {}).get("applied"):
            send({"id": their_id, "result": {"status": "deny", "applied": False,
                                              "message": "the editor could not apply it"}})
            notify("codetether/resolved", {"id": gate["id"], "status": "deny", "by": "stub", "reason": ""})
            return self.end_tool(gate, "the edit could not be applied", error=True)
        if self.save:  # save before the agent goes on (PROTOCOL.md, Approving an edit)
            req = f"s{next(self.ids)}"
            self.outgoing[req] = (their_id, {**gate, "saving": True})
            return send({"id": req, "method": "codetether/saveDocuments", "params": {"uris": [gate["uri"]]}})
        send({"id": their_id, "result": {"status": "allow", "applied": True}})
        notify("codetether/resolved", {"id": gate["id"], "status": "allow", "by": "stub", "reason": ""})
        self.end_tool(gate, "applied")

    # -- LSP
    def command(self, msg_id: Any, command: str, args: list[Any]) -> None:
        arg = args[0] if args else {}
        if command == "codetether.chat":
            send({"id": msg_id, "result": {"session_id": self.session}})
            self.event(type="user", text=arg.get("text", ""))
            return self.advance()
        if command in ("codetether.approve", "codetether.reject"):
            return self.decide(msg_id, arg["id"], command == "codetether.approve")
        if command == "codetether.answer":
            return self.decide(msg_id, arg["id"], True, arg.get("answer", ""))
        if command == "codetether.showDiff":
            gate = self.waiting
            if gate is None or gate["id"] != arg["id"] or gate["tool"] != "edit":
                return send({"id": msg_id, "error": {"code": -32602, "message": "no such proposal"}})
            return send({"id": msg_id, "result": {"id": gate["id"], "files": [
                {"uri": gate["uri"], "path": gate["path"], "original": gate["original"],
                 "proposed": gate["proposed"], "diff": ""}]}})
        if command == "codetether.status":
            return send({"id": msg_id, "result": self.status()})
        send({"id": msg_id, "error": {"code": -32601, "message": f"stub: {command} not implemented"}})

    def handle(self, msg: dict[str, Any]) -> bool:
        method, params = msg.get("method"), msg.get("params") or {}
        if method is None:  # a response to our request
            if msg.get("id") in self.outgoing:
                self.applied(msg["id"], msg.get("result"))
            return True
        if method == "initialize":
            self.root = unquote(urlparse(params.get("rootUri") or "").path) or os.getcwd()
            ours = ((params.get("capabilities") or {}).get("experimental") or {}).get("codetether") or {}
            self.save = bool(ours.get("saveDocuments")) and \
                (params.get("initializationOptions") or {}).get("saveAfterApply", True) is not False
            send({"id": msg["id"], "result": {
                "capabilities": {"textDocumentSync": 1, "executeCommandProvider": {"commands": []}},
                "serverInfo": {"name": "codetether-stub"}}})
        elif method == "shutdown":
            send({"id": msg["id"], "result": None})
        elif method == "exit":
            return False
        elif method == "textDocument/didOpen":
            self.docs[params["textDocument"]["uri"]] = params["textDocument"]["text"]
        elif method == "textDocument/didChange":
            self.docs[params["textDocument"]["uri"]] = params["contentChanges"][-1]["text"]
        elif method == "workspace/executeCommand":
            self.command(msg["id"], params["command"], params.get("arguments") or [])
        elif "id" in msg:
            send({"id": msg["id"], "error": {"code": -32601, "message": f"stub: {method}"}})
        return True


def main() -> None:
    stub = Stub()
    while (msg := read()) is not None and stub.handle(msg):
        pass


if __name__ == "__main__":
    main()
