"""A run's life on the socket: cancelled by its caller, cancelled before it began, a caller
that stops reading, a double cancel. Each keeps what the daemon did before the API
became transport-neutral: the run's last events reach its caller before the answer,
and the session is freed when the run ends, whatever its caller does."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from codetether.daemon.api import API, CallContext, CallRecord, build_api
from codetether.daemon.app import App
from codetether.daemon.transports import UnixListener

SLOW = [{"tool": "bash", "arguments": {"command": "sleep 60"}}, {"text": "never"}]


@dataclass
class Daemon:
    app: App
    api: API
    listener: UnixListener
    workspace: Path
    calls: list[CallRecord] = field(default_factory=list)


@pytest.fixture
async def make(short_dir: Path, scripted_app: Any) -> AsyncIterator[Callable[..., Any]]:
    made: list[Daemon] = []

    async def build(turns: list[dict[str, Any]]) -> Daemon:
        ws = short_dir / "ws"
        ws.mkdir()
        app = scripted_app(short_dir / "h", turns, config='[permissions]\nmode = "auto"\n')
        table = build_api(app)
        listener = UnixListener(short_dir / "d.sock", table, max_message_bytes=1 << 20)
        await listener.start()
        daemon = Daemon(app, table, listener, ws)
        table.observers.append(daemon.calls.append)
        made.append(daemon)
        return daemon

    yield build
    for d in made:
        await d.listener.stop_accepting()
        d.app.stop_runs()
        await d.listener.drain(2.0)
        await d.app.aclose()


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.got: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, d: Daemon) -> Conn:
        return cls(*await asyncio.open_unix_connection(str(d.listener.path)))

    def send(self, *frames: dict[str, Any]) -> None:
        """All frames in one write: the daemon reads them in one chunk."""
        self.writer.write(b"".join(json.dumps(f).encode() + b"\n" for f in frames))

    async def until(self, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        async with asyncio.timeout(20):
            while True:
                msg = json.loads(await self.reader.readline())
                self.got.append(msg)
                if done(msg):
                    return msg

    async def call(self, req_id: str, method: str, params: dict[str, Any]) -> Any:
        self.send({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params})
        return (await self.until(lambda m: m.get("id") == req_id))["result"]

    def events(self) -> list[str]:
        return [m["params"]["event"]["type"] for m in self.got if m.get("method") == "session/event"]

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def _prompt(req_id: str, sid: str, text: str = "go") -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": req_id, "method": "session/prompt",
            "params": {"session_id": sid, "text": text}}


def _started(m: dict[str, Any]) -> bool:
    return m.get("method") == "session/event" and m["params"]["event"]["type"] == "tool_call_start"


async def test_cancel_request_sends_the_runs_last_events_before_its_answer(make: Any) -> None:
    d = await make(SLOW)
    c = await Conn.open(d)
    sid = (await c.call("c", "session/create", {"workspace": str(d.workspace)}))["id"]
    c.send(_prompt("p", sid))
    await c.until(_started)
    c.send({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": "p"}})
    answer = await c.until(lambda m: m.get("id") == "p")
    assert answer["error"]["code"] == -32800
    assert c.events()[-1] == "done" and c.got[-2]["params"]["event"]["stop_reason"] == "cancelled"
    rt = d.app.runtime(sid)
    assert not rt.busy and rt.run_task is None
    assert [r.outcome for r in d.calls if r.method == "session/prompt"] == ["cancelled"]
    await c.close()


async def test_a_cancel_read_with_its_prompt_cancels_a_run_that_still_begins(make: Any) -> None:
    d = await make(SLOW)
    c = await Conn.open(d)
    sid = (await c.call("c", "session/create", {"workspace": str(d.workspace)}))["id"]
    c.send(_prompt("p", sid, "remember me"),
           {"jsonrpc": "2.0", "id": "k", "method": "session/cancel", "params": {"session_id": sid}})
    answer = await c.until(lambda m: m.get("id") == "p")
    assert answer["error"]["code"] == -32800
    assert next(m for m in c.got if m.get("id") == "k")["result"] == {"cancelled": True}
    assert c.events()[0] == "user" and c.events()[-1] == "done"
    rt = d.app.runtime(sid)
    assert rt.messages[0].role == "user" and rt.messages[0].content == "remember me"
    await c.close()


async def test_a_reader_that_never_reads_does_not_hold_the_session(make: Any) -> None:
    d = await make([{"text": "quick"}, {"text": "second"}])
    info = await d.api.call("session/create", {"workspace": str(d.workspace)}, CallContext(transport="inproc"))
    reading, stalled = asyncio.Event(), asyncio.Event()

    async def never(note: Any) -> None:
        reading.set()
        await stalled.wait()  # a client that stopped reading

    ctx = CallContext(transport="inproc", emit=never)
    call = asyncio.create_task(d.api.call("session/prompt", {"session_id": info.id, "text": "a"}, ctx))
    await reading.wait()
    rt = d.app.runtime(info.id)
    async with asyncio.timeout(10):  # the run ends while its reader is stuck on the first event
        await rt.lock.acquire()
    rt.lock.release()
    assert not rt.busy and rt.run_task is None
    assert (await d.api.call("session/cancel", {"session_id": info.id}, CallContext(transport="inproc"))
            ).cancelled is False
    second = await d.api.call("session/prompt", {"session_id": info.id, "text": "b"},
                              CallContext(transport="inproc"))
    assert second.text == "second"
    stalled.set()
    assert (await call).text == "quick"


async def test_two_cancels_in_a_row_leave_the_session_usable(make: Any) -> None:
    d = await make([*SLOW, {"text": "after"}])
    c = await Conn.open(d)
    sid = (await c.call("c", "session/create", {"workspace": str(d.workspace)}))["id"]
    c.send(_prompt("p", sid))
    await c.until(_started)
    cancel = {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": "p"}}
    c.send(cancel, cancel)
    await c.until(lambda m: m.get("id") == "p")
    await c.close()  # and a disconnect on top
    c = await Conn.open(d)
    result = await c.call("p2", "session/prompt", {"session_id": sid, "text": "again"})
    assert result["text"] == "never" or result["text"] == "after"
    rt = d.app.runtime(sid)
    assert not rt.busy and rt.run_task is None
    await c.close()


async def test_a_watcher_without_a_channel_sees_another_callers_run(make: Any) -> None:
    d = await make([{"text": "hello"}])
    info = await d.api.call("session/create", {"workspace": str(d.workspace)}, CallContext(transport="inproc"))
    seen: list[Any] = []
    done = asyncio.Event()

    async def collect(note: Any) -> None:
        seen.append(note)
        if type(note.event).__name__ == "Done":
            done.set()

    watcher = CallContext(transport="inproc", emit=collect)
    await d.api.call("session/subscribe", {"session_id": info.id}, watcher)
    await d.api.call("session/prompt", {"session_id": info.id, "text": "hi"}, CallContext(transport="inproc"))
    async with asyncio.timeout(10):
        await done.wait()  # the watcher's pump is its own task
    for stop in watcher.on_close:
        stop()
    assert {type(n.event).__name__ for n in seen} >= {"UserMessage", "TextChunk", "Done"}


async def test_a_detached_run_goes_on_when_its_caller_leaves(tmp_path: Path, scripted_app: Any) -> None:
    """`detach`: the caller (a TUI quitting) stops reading; the run is not cancelled, it
    finishes, and its events still reach the session's stream."""
    import contextlib
    import os

    from codetether.daemon.api import CallContext, build_api
    from codetether.daemon.wire import api as wire

    app = scripted_app(tmp_path / "home", [{"tool": "bash", "arguments": {"command": "echo left-behind"}},
                                           "finished without me"], config='[permissions]\nmode = "auto"\n')
    try:
        table = build_api(app)
        ctx = CallContext(transport="inproc", peer={"uid": os.getuid()}, principal=f"uid:{os.getuid()}")
        sid = (await table.call("session/create", {"workspace": str(tmp_path)}, ctx)).id
        stream = table.stream("session/prompt", {"session_id": sid, "text": "go", "detach": True}, ctx)
        async with contextlib.aclosing(stream) as run:
            async for item in run:
                assert isinstance(item, wire.SessionEventNote)
                break  # the caller leaves after the first event
        rt = app.runtime(sid)
        task = rt.run_task
        assert task is not None and not task.cancelled()
        result = await task  # it runs to its end
        assert result.text == "finished without me" and result.stop_reason == "end_turn"
        records = await table.call("events/replay", {"session_id": sid, "from_seq": 0, "limit": 100}, ctx)
        assert records[-1].kind == "done" and records[-1].data["stop_reason"] == "end_turn"
    finally:
        await app.aclose()
