"""`codetether lsp` on bad input (R6): a real server process on stdio, raw frames.

Every case ends with a well-formed probe request that must be answered: the server stays
alive and in step whatever came before. The property test sends random and mutated frames
and checks the same, plus that memory stays bounded.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CLI = str(Path(sys.executable).parent / "codetether")
WS_URI = "file:///tmp/ct-robust-ws"


def frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def encode(msg: dict[str, Any]) -> bytes:
    return json.dumps({"jsonrpc": "2.0", **msg}).encode()


class RawServer:
    """One ``codetether lsp`` process. ``_replies`` (guarded by ``_cond``) maps request ids
    to the responses read so far; ``errors`` collects the id-null error responses."""

    def __init__(self, home: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "CODETETHER_"))}
        env["CODETETHER_HOME"] = str(home)
        self._stderr = (home / "lsp.stderr").open("wb")
        self.proc = subprocess.Popen([CLI, "lsp", "--stdio"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, env=env)
        self._cond = threading.Condition()
        self._replies: dict[Any, dict[str, Any]] = {}
        self.errors: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._reader = threading.Thread(target=self._read, name="lsp-robust-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            assert length is not None, "the server wrote a frame without Content-Length"
            msg = json.loads(out.read(length))
            with self._cond:
                if "method" in msg:
                    pass  # notifications and requests from the server: not needed here
                elif msg.get("id") is None:
                    self.errors.append(msg)
                else:
                    self._replies[msg["id"]] = msg
                self._cond.notify_all()

    def send(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def reply(self, msg_id: Any, timeout: float = 10.0) -> dict[str, Any] | None:
        with self._cond:
            self._cond.wait_for(lambda: msg_id in self._replies or self.proc.poll() is not None, timeout)
            return self._replies.pop(msg_id, None)

    def request(self, method: str, params: Any, timeout: float = 10.0) -> dict[str, Any] | None:
        msg_id = f"r{next(self._ids)}"
        self.send(frame(encode({"id": msg_id, "method": method, "params": params})))
        return self.reply(msg_id, timeout)

    def probe(self, attempts: int = 3) -> dict[str, Any]:
        """A well-formed request; resent if a broken frame before it swallowed its header."""
        for _ in range(attempts):
            answer = self.request("textDocument/codeAction", {
                "textDocument": {"uri": f"{WS_URI}/a.py"},
                "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
                "context": {"diagnostics": []}}, timeout=5.0)
            if answer is not None:
                return answer
        raise AssertionError(f"the server did not answer a well-formed request (alive: {self.alive})")

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def close(self) -> None:
        if self.alive:
            try:
                self.request("shutdown", None, timeout=5)
                self.send(frame(encode({"method": "exit"})))
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        self._reader.join(timeout=5)
        self._stderr.close()


@pytest.fixture(scope="module")
def lsp() -> Iterator[RawServer]:
    home = Path(tempfile.mkdtemp(prefix="ctr", dir="/tmp"))
    server = RawServer(home)
    try:
        init = server.request("initialize", {
            "processId": None, "rootUri": WS_URI, "capabilities": {},
            # No daemon: these tests are about the transport, and nothing may start one.
            "initializationOptions": {"codetetherHome": str(home), "autoStartDaemon": False}})
        assert init is not None and "result" in init, init
        server.send(frame(encode({"method": "initialized", "params": {}})))
        yield server
    finally:
        server.close()
        subprocess.run(["rm", "-rf", str(home)], check=False)


def _errors_since(lsp: RawServer, n: int) -> list[dict[str, Any]]:
    with lsp._cond:
        return lsp.errors[n:]


PROBE_BODY = encode({"id": "x", "method": "textDocument/codeAction", "params": {}})


def test_r6_content_length_99999999999_is_refused_and_the_server_lives_on(lsp: RawServer) -> None:
    n = len(lsp.errors)
    lsp.send(b"Content-Length: 99999999999\r\n\r\n" + b"{}" * 10)
    assert "result" in lsp.probe() and lsp.alive
    (err,) = _errors_since(lsp, n)
    assert err["error"]["code"] == -32600 and "limit" in err["error"]["message"]


@pytest.mark.parametrize("broken", [
    pytest.param(b"Content-Length: 5\r\n\r\n" + PROBE_BODY, id="too-small"),
    pytest.param(b"Content-Length: %d\r\n\r\n" % (len(PROBE_BODY) + 40) + PROBE_BODY, id="too-large"),
    pytest.param(b"\r\n\r\n" + PROBE_BODY, id="missing"),
    pytest.param(b"Content-Lenght: 3\r\n\r\n{}", id="misspelt"),
    pytest.param(b"Content-Length: twelve\r\n\r\n{}", id="not-a-number"),
])
def test_r6_a_broken_header_is_answered_and_the_next_request_too(lsp: RawServer, broken: bytes) -> None:
    n = len(lsp.errors)
    lsp.send(broken)
    assert "result" in lsp.probe()
    errors = _errors_since(lsp, n)
    assert errors and all(e["error"]["code"] in (-32700, -32600) for e in errors), errors
    assert all("Traceback" not in json.dumps(e) for e in errors)


def test_r6_lf_only_headers_are_understood(lsp: RawServer) -> None:
    body = encode({"id": "lf", "method": "textDocument/codeAction", "params": {
        "textDocument": {"uri": f"{WS_URI}/a.py"},
        "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
        "context": {"diagnostics": []}}})
    lsp.send(b"Content-Length: %d\n\n" % len(body) + body)
    answer = lsp.reply("lf")
    assert answer is not None and "result" in answer


def test_r6_params_that_do_not_parse_get_invalid_params_naming_the_field(lsp: RawServer) -> None:
    answer = lsp.request("textDocument/codeAction", {"range": {}})
    assert answer is not None and answer["error"]["code"] == -32602, answer
    assert "textDocument" in answer["error"]["message"], answer
    answer = lsp.request("workspace/executeCommand", {"command": "codetether.approve", "arguments": [{"id": 7}]})
    assert answer is not None and answer["error"]["code"] == -32602 and '"id"' in answer["error"]["message"]
    answer = lsp.request("x/y", {"a": 1}) and None  # unknown method: answered too
    lsp.send(frame(b'{"jsonrpc": "1.0", "id": "v1", "method": "x"}'))
    answer = lsp.reply("v1")
    assert answer is not None and answer["error"]["code"] == -32600, answer
    for bad in (b"[1, 2]", b'{"id": {"a": 1}}', b"\xff\xfe{", b"[" * 100000):
        n = len(lsp.errors)
        lsp.send(frame(bad))
        assert "result" in lsp.probe()
        (err,) = _errors_since(lsp, n)
        assert err["error"]["code"] in (-32700, -32600), err


def test_r6_errors_carry_no_traceback(lsp: RawServer) -> None:
    # No daemon here: approving anything fails, plainly.
    answer = lsp.request("workspace/executeCommand", {"command": "codetether.approve",
                                                      "arguments": [{"id": "0123456789ab"}]})
    assert answer is not None and "error" in answer, answer
    assert answer["error"]["code"] != -32603 and "data" not in answer["error"], answer
    assert "Traceback" not in answer["error"]["message"] and "codetether." not in answer["error"]["message"]


# -- the property test -----------------------------------------------------------------

_URIS = st.sampled_from([f"{WS_URI}/{n}.py" for n in range(4)])
_TEXT = st.text(max_size=200)
_RANGE = {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 0}}
_MESSAGES = st.one_of(
    st.builds(lambda u, t: {"method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": u, "languageId": "python", "version": 1, "text": t}}}, _URIS, _TEXT),
    st.builds(lambda u, t: {"method": "textDocument/didChange", "params": {
        "textDocument": {"uri": u, "version": 2}, "contentChanges": [{"text": t}]}}, _URIS, _TEXT),
    st.builds(lambda u: {"method": "textDocument/didClose", "params": {"textDocument": {"uri": u}}}, _URIS),
    st.builds(lambda u: {"id": 0, "method": "textDocument/codeAction", "params": {
        "textDocument": {"uri": u}, "range": _RANGE, "context": {"diagnostics": []}}}, _URIS),
    st.builds(lambda c, a: {"id": 0, "method": "workspace/executeCommand", "params": {"command": c, "arguments": a}},
              st.sampled_from(["codetether.status", "codetether.showDiff", "codetether.nope"]),
              st.lists(st.dictionaries(st.sampled_from(["id", "text", "uri"]), st.text(max_size=20)), max_size=2)),
    st.builds(lambda m: {"id": 0, "method": m, "params": {}},
              st.sampled_from(["textDocument/hover", "textDocument/codeAction", "nope/nothing", "$/x"])),
)


@st.composite
def _frames(draw: st.DrawFn) -> bytes:
    msg = draw(_MESSAGES)
    if "id" in msg:
        msg["id"] = draw(st.one_of(st.integers(1000, 10**6), st.text(min_size=1, max_size=8)))
    body = encode(msg)
    kind = draw(st.sampled_from(["valid", "delta", "huge", "no-header", "lf", "flip", "cut", "random",
                                 "nested", "junk-header"]))
    if kind == "delta":
        return b"Content-Length: %d\r\n\r\n" % max(0, len(body) + draw(st.integers(-60, 60))) + body
    if kind == "huge":
        return b"Content-Length: %d\r\n\r\n" % draw(st.sampled_from([10**8, 99999999999, 2**64, 10**40])) + body
    if kind == "no-header":
        return b"\r\n" + body
    if kind == "lf":
        return b"Content-Length: %d\n\n" % len(body) + body
    if kind == "flip":
        data = bytearray(frame(body))
        i = draw(st.integers(0, len(data) - 1))
        data[i] = draw(st.integers(0, 255))
        return bytes(data)
    if kind == "cut":
        data = frame(body)
        return data[:draw(st.integers(0, len(data)))]
    if kind == "random":
        return draw(st.binary(max_size=300))
    if kind == "nested":
        depth = draw(st.integers(1, 20000))
        return frame(b"[" * depth + b"]" * draw(st.integers(0, depth)))
    if kind == "junk-header":
        return draw(st.binary(min_size=1, max_size=40)).replace(b"\n", b"") + b"\r\n" + frame(body)
    return frame(body)


def test_r6_random_and_mutated_frames_never_stop_or_bloat_the_server(lsp: RawServer) -> None:
    # Warm up every path once (lazy imports, cattrs' structure functions) before measuring.
    for kind in (b"Content-Length: 99999999999\r\n\r\n", b"\r\n\r\n{}", frame(b"[" * 20000), frame(b"{}")):
        lsp.send(kind)
        lsp.probe()
    lsp.request("workspace/executeCommand", {"command": "codetether.status", "arguments": []})
    before = lsp.rss_kb()
    started = time.monotonic()

    @settings(max_examples=int(os.environ.get("CT_FUZZ_EXAMPLES", "800")), deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.lists(_frames(), min_size=1, max_size=6))
    def run(frames: list[bytes]) -> None:
        lsp.send(b"".join(frames))
        assert "result" in lsp.probe(), "a well-formed request after bad frames was not answered"
        assert lsp.alive

    run()
    grown_mb = (lsp.rss_kb() - before) / 1024
    print(f"\n[lsp fuzz] {time.monotonic() - started:.1f} s, RSS grew {grown_mb:.1f} MB")
    assert lsp.alive
    assert "result" in lsp.probe()
    assert grown_mb < 10, f"RSS grew by {grown_mb:.1f} MB"
