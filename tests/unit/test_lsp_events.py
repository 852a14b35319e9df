"""The language server decodes daemon events with the ``wire.events`` union: known ones
act (a question becomes a gate), unknown ones (a newer daemon's) are forwarded to the
client and otherwise ignored; configuring a home never touches ``os.environ``."""

from __future__ import annotations

import io
import json
import os
from typing import Any

import msgspec
import pytest
from codetether.daemon.wire.events import QuestionAsked, TextChunk
from codetether.lsp.options import Options
from codetether.lsp.server import CodetetherServer
from pygls.io_ import StdoutWriter


def _server() -> tuple[CodetetherServer, io.BytesIO]:
    ls = CodetetherServer()
    ls.client_approvals = True  # the client renders gates: no showMessageRequest task
    out = io.BytesIO()
    ls.protocol.set_writer(StdoutWriter(out), include_headers=False)
    return ls, out


def _sent(out: io.BytesIO) -> list[dict[str, Any]]:
    text, decoder, frames = out.getvalue().decode(), json.JSONDecoder(), []
    pos = 0
    while pos < len(text):
        frame, pos = decoder.raw_decode(text, pos)
        frames.append(frame)
    return frames


def _params(event: Any) -> dict[str, Any]:
    raw = event if isinstance(event, dict) else msgspec.to_builtins(event)
    return {"session_id": "s1", "seq": 7, "event": raw}


def test_a_known_event_is_decoded_and_acted_on() -> None:
    ls, out = _server()
    ls.on_daemon("session/event", _params(QuestionAsked(question_id="q1", question="Which?",
                                                        options=["a", "b"])))
    assert ls.pending == {"q1": {"kind": "question", "session_id": "s1"}}
    methods = [(f["method"], f["params"]) for f in _sent(out)]
    assert methods[0][0] == "codetether/event" and methods[0][1]["event"]["type"] == "question"
    assert methods[1] == ("codetether/approval", {"id": "q1", "kind": "question", "title": "Which?",
                                                  "detail": "", "options": ["a", "b"]})


@pytest.mark.parametrize("event", [
    {"type": "hologram", "shape": "new in a later daemon"},
    {"type": "question", "question_id": "q2"},  # a known type in a shape we cannot read
    {"no_type": True},
])
def test_an_event_this_server_does_not_know_is_forwarded_and_otherwise_ignored(event: dict[str, Any]) -> None:
    ls, out = _server()
    ls.on_daemon("session/event", _params(event))
    assert [f["method"] for f in _sent(out)] == ["codetether/event"]
    assert ls.pending == {}


def test_events_the_server_does_not_act_on_are_still_forwarded() -> None:
    ls, out = _server()
    ls.on_daemon("session/event", _params(TextChunk(text="hi")))
    ls.on_daemon("other/notification", {"x": 1})
    assert [f["params"]["event"] for f in _sent(out)] == [{"type": "text", "text": "hi"}]


def test_a_configured_home_goes_to_the_daemon_client_not_to_our_environment(
        short_dir: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODETETHER_HOME", raising=False)
    ls, _ = _server()
    ls.options = Options(codetether_home=str(short_dir), auto_start_daemon=False)
    client = ls._daemon()
    assert "CODETETHER_HOME" not in os.environ
    assert client.env is not None and client.env["CODETETHER_HOME"] == str(short_dir)
    assert client.paths.socket_path.startswith(os.path.realpath(short_dir))
