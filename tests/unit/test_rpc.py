"""The JSON-RPC engine over a real Unix socket: every bad frame gets a clear
error, and the listener keeps serving afterwards."""

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar

import msgspec
import pytest
from codetether.daemon.api import API, Method
from codetether.daemon.transports.unix import UnixListener


class Table(API):
    """An API of test handlers; params None hands the handler the raw params dict."""

    def handle(self, name, handler, params=None):
        self.add(Method(name, handler, params or dict, object))


class Tick(msgspec.Struct):
    METHOD: ClassVar[str] = "tick"
    n: int


class Params(msgspec.Struct, forbid_unknown_fields=True):
    n: int


async def _double(p: Params, ctx):
    return {"twice": p.n * 2}


async def _forever(p, ctx):
    await asyncio.Event().wait()


async def _crash(p, ctx):
    raise RuntimeError("kaput")


@pytest.fixture
async def server(short_dir):
    d = Table()
    d.handle("double", _double, Params)
    d.handle("forever", _forever)
    d.handle("crash", _crash)
    listener = UnixListener(short_dir / "s.sock", d, max_message_bytes=1024)
    await listener.start()
    yield listener
    await listener.stop_accepting()
    await listener.drain(1.0)


class Conn:
    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    async def send(self, raw: bytes):
        self.writer.write(raw + b"\n")
        await self.writer.drain()

    async def recv(self):
        return json.loads(await asyncio.wait_for(self.reader.readline(), 10))

    async def call(self, req_id, method, params=None):
        msg = {"jsonrpc": "2.0", "id": req_id, "method": method}
        if params is not None:
            msg["params"] = params
        await self.send(json.dumps(msg).encode())
        return await self.recv()


@pytest.fixture
async def conn(server):
    reader, writer = await asyncio.open_unix_connection(str(server.path))
    yield Conn(reader, writer)
    writer.close()
    await writer.wait_closed()


async def test_socket_is_private(server):
    assert server.path.stat().st_mode & 0o777 == 0o600


async def test_call_and_bad_input_then_still_serving(conn):
    assert (await conn.call(1, "double", {"n": 21}))["result"] == {"twice": 42}

    await conn.send(b"{not json")
    assert (await conn.recv())["error"]["code"] == -32700

    await conn.send(b'{"jsonrpc":"1.0","id":2,"method":"double"}')
    reply = await conn.recv()
    assert reply["error"]["code"] == -32600 and reply["id"] == 2

    reply = await conn.call(3, "nope")
    assert reply["error"]["code"] == -32601 and "nope" in reply["error"]["message"]

    reply = await conn.call(4, "double", {"n": "x"})
    assert reply["error"]["code"] == -32602 and "$.n" in reply["error"]["message"]
    reply = await conn.call(5, "double", {"n": 1, "extra": 1})
    assert reply["error"]["code"] == -32602
    reply = await conn.call(6, "double", [1])
    assert reply["error"]["code"] == -32602

    await conn.send(b'{"jsonrpc":"2.0","id":7,"method":"double","params":{"n":"' + b"x" * 5000 + b'"}}')
    reply = await conn.recv()
    assert reply["error"]["code"] == -32600 and "exceeds 1024 bytes" in reply["error"]["message"]

    reply = await conn.call(8, "crash")
    assert reply["error"]["code"] == -32603 and "kaput" in reply["error"]["message"]

    assert (await conn.call(9, "double", {"n": 2}))["result"] == {"twice": 4}


async def test_batch(conn):
    await conn.send(json.dumps([
        {"jsonrpc": "2.0", "id": 1, "method": "double", "params": {"n": 1}},
        {"jsonrpc": "2.0", "method": "double", "params": {"n": 5}},
        {"jsonrpc": "2.0", "id": 2, "method": "nope"},
    ]).encode())
    replies = {r["id"]: r for r in await conn.recv()}
    assert replies[1]["result"] == {"twice": 2}
    assert replies[2]["error"]["code"] == -32601


async def test_cancel_request_answers_32800(conn):
    await conn.send(b'{"jsonrpc":"2.0","id":"long","method":"forever"}')
    await conn.send(b'{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":"long"}}')
    reply = await conn.recv()
    assert reply == {"jsonrpc": "2.0", "id": "long",
                     "error": {"code": -32800, "message": "request cancelled"}}
    assert (await conn.call(2, "double", {"n": 3}))["result"] == {"twice": 6}


async def test_requests_on_one_connection_run_concurrently(conn):
    await conn.send(b'{"jsonrpc":"2.0","id":1,"method":"forever"}')
    assert (await conn.call(2, "double", {"n": 4}))["result"] == {"twice": 8}


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to connect as another uid")
async def test_peer_with_another_uid_is_refused(server):
    # Open the directory and socket to everyone, so only the SO_PEERCRED check stands.
    os.chmod(server.path.parent, 0o755)
    os.chmod(server.path, 0o777)
    script = (
        "import os, socket, sys\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
        "try:\n"
        "    s.sendall(b'{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"double\",\"params\":{\"n\":1}}\\n')\n"
        "    print(repr(s.recv(100)))\n"
        "except (BrokenPipeError, ConnectionResetError):\n"  # refused before or after the send
        "    print(repr(b''))\n")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script, str(server.path),
                                                stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    assert out.decode().strip() == "b''"  # closed without an answer


async def test_same_uid_peer_is_served(conn):
    assert (await conn.call(1, "double", {"n": 1}))["result"] == {"twice": 2}


async def test_unhashable_ids_are_invalid_requests_and_the_connection_survives(conn):
    await conn.send(b'{"jsonrpc":"2.0","id":{"a":1},"method":"double","params":{"n":1}}')
    reply = await conn.recv()
    assert reply["error"]["code"] == -32600 and reply["id"] is None
    await conn.send(b'{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":[1]}}')
    assert (await conn.call(2, "double", {"n": 5}))["result"] == {"twice": 10}


async def test_batch_members_notify_on_the_connection_and_end_with_it(short_dir):
    seen = []

    async def watch(p, ctx):
        ctx.on_close.append(lambda: seen.append("closed"))
        await ctx.emit(Tick(n=1))
        return {"ok": True}

    d = Table()
    d.handle("watch", watch)
    frames = []

    async def send(frame):
        frames.append(frame)

    from codetether.daemon.rpc import Connection

    conn = Connection(d, send)
    conn.feed(b'[{"jsonrpc":"2.0","id":1,"method":"watch"}]')
    await conn.drain()
    assert json.loads(frames[0]) == {"jsonrpc": "2.0", "method": "tick", "params": {"n": 1}}
    assert json.loads(frames[1]) == [{"jsonrpc": "2.0", "id": 1, "result": {"ok": True}}]
    await conn.close()
    assert seen == ["closed"]


async def test_every_error_class_crosses_the_socket_with_its_code(short_dir):
    from codetether.daemon import errors

    d = Table()

    async def fail(p, ctx):
        cls = next(c for c in errors.ERROR_TABLE if c.__name__ == p["name"])
        raise cls(f"a {p['name']}", data={"n": 1})

    d.handle("fail", fail)
    listener = UnixListener(short_dir / "e.sock", d, max_message_bytes=1 << 20)
    await listener.start()
    reader, writer = await asyncio.open_unix_connection(str(listener.path))
    conn = Conn(reader, writer)
    try:
        for i, cls in enumerate(errors.ERROR_TABLE, start=1):
            reply = await conn.call(i, "fail", {"name": cls.__name__})
            assert reply["error"] == {"code": errors.ERROR_TABLE[cls].jsonrpc,
                                      "message": f"a {cls.__name__}", "data": {"n": 1}}, cls
            back = errors.from_wire(reply["error"])
            assert back.codes.jsonrpc == errors.ERROR_TABLE[cls].jsonrpc
    finally:
        writer.close()
        await writer.wait_closed()
        await listener.stop_accepting()
        await listener.drain(1.0)


# -- hostile input: R1 and the bounds that keep one peer from exhausting the daemon --


async def test_r1_frames_that_fail_to_decode_get_32700_and_requests_in_flight_survive(short_dir):
    opened = asyncio.Event()

    async def gate(p, ctx):
        await opened.wait()
        return "through"

    async def open_gate(p, ctx):
        opened.set()
        return "opened"

    d = Table()
    d.handle("gate", gate)
    d.handle("open", open_gate)
    listener = UnixListener(short_dir / "r1.sock", d, max_message_bytes=1 << 20)
    await listener.start()
    reader, writer = await asyncio.open_unix_connection(str(listener.path))
    conn = Conn(reader, writer)
    try:
        await conn.send(b'{"jsonrpc":"2.0","id":1,"method":"gate"}')
        bad = [
            b"[" * 1000 + b"]" * 1000,  # RecursionError inside msgspec (R1)
            b'{"a":' * 5000 + b"1" + b"}" * 5000,
            b'{"jsonrpc":"2.0","id":1e400,"method":"gate"}',  # a number out of range
            b'{"jsonrpc":"2.0","id":' + b"9" * 5000 + b',"method":"gate"}',
            b'{"jsonrpc":"2.0","id":2,"method":"\xff\xfe"}',  # invalid UTF-8
            b"\x00\x01\x02",
        ]
        for frame in bad:
            await conn.send(frame)
            reply = await conn.recv()
            assert reply["error"]["code"] == -32700 and reply["id"] is None, frame[:40]
        assert "nested too deeply" in (await _parse_error(conn, b"[" * 1000 + b"]" * 1000))
        # The request sent before all that is still in flight, and still answered.
        replies = {r["id"]: r for r in [await conn.call(3, "open"), await conn.recv()]}
        assert replies == {3: {"jsonrpc": "2.0", "id": 3, "result": "opened"},
                           1: {"jsonrpc": "2.0", "id": 1, "result": "through"}}
    finally:
        writer.close()
        await writer.wait_closed()
        await listener.stop_accepting()
        await listener.drain(1.0)


@pytest.fixture
async def wide_conn(short_dir):
    """A connection to a listener that takes frames of up to 1 MB."""
    d = Table()
    d.handle("double", _double, Params)
    listener = UnixListener(short_dir / "w.sock", d, max_message_bytes=1 << 20)
    await listener.start()
    reader, writer = await asyncio.open_unix_connection(str(listener.path))
    yield Conn(reader, writer)
    writer.close()
    await writer.wait_closed()
    await listener.stop_accepting()
    await listener.drain(1.0)


async def _parse_error(conn, frame):
    await conn.send(frame)
    return (await conn.recv())["error"]["message"]


async def test_r1_deep_params_are_invalid_params_not_a_crash(wide_conn):
    conn = wide_conn
    # Decodes (under the recursion limit) but cannot be converted into the params Struct.
    depth = 900
    await conn.send(b'{"jsonrpc":"2.0","id":1,"method":"double","params":{"n":'
                    + b"[" * depth + b"]" * depth + b"}}")
    reply = await conn.recv()
    assert reply["id"] == 1 and reply["error"]["code"] == -32602
    assert (await conn.call(2, "double", {"n": 1}))["result"] == {"twice": 2}


async def test_r1_huge_ids_and_method_names_are_answered_briefly(conn):
    big = 10**40  # decodes as an int: a valid id, echoed back exactly
    await conn.send(b'{"jsonrpc":"2.0","id":%d,"method":"double","params":{"n":1}}' % big)
    assert await conn.recv() == {"jsonrpc": "2.0", "id": big, "result": {"twice": 2}}
    reply = await conn.call(2, "m" * 900)
    assert reply["error"]["code"] == -32601 and len(reply["error"]["message"]) < 300


async def test_r1_a_batch_over_the_limit_is_refused_whole(wide_conn):
    conn = wide_conn
    from codetether.daemon.rpc.dispatch import MAX_BATCH

    batch = [{"jsonrpc": "2.0", "id": i, "method": "double", "params": {"n": i}}
             for i in range(MAX_BATCH + 1)]
    await conn.send(json.dumps(batch).encode())
    reply = await conn.recv()
    assert reply["error"]["code"] == -32600 and reply["error"]["data"] == {"limit": MAX_BATCH}
    assert (await conn.call(1, "double", {"n": 1}))["result"] == {"twice": 2}


async def test_requests_past_the_pending_limit_are_refused_not_queued():
    from codetether.daemon.rpc import Connection

    d = Table()
    d.handle("forever", _forever)
    frames = []

    async def send(frame):
        frames.append(json.loads(frame))

    conn = Connection(d, send, max_pending=2)
    for i in range(3):
        await conn.receive(b'{"jsonrpc":"2.0","id":%d,"method":"forever"}' % i)
    assert frames == [{"jsonrpc": "2.0", "id": 2, "error": {
        "code": -31010, "message": "too many requests in flight on this connection (limit 2)",
        "data": {"limit": 2}}}]
    assert conn.inflight == 2
    await conn.close()


async def test_batch_members_count_against_the_pending_limit():  # R1
    # A batch is one task, but its members each run: they spend the same budget, or a
    # client could hold max_pending x MAX_BATCH requests with a few frames.
    from codetether.daemon.rpc import Connection

    d = Table()
    d.handle("forever", _forever)
    frames = []

    async def send(frame):
        frames.append(json.loads(frame))

    conn = Connection(d, send, max_pending=4)
    batch = b"[" + b",".join(b'{"jsonrpc":"2.0","id":%d,"method":"forever"}' % i for i in range(3)) + b"]"
    await conn.receive(batch)
    assert frames == []  # the batch and its 3 members: the whole budget of 4
    await conn.receive(batch)
    await conn.receive(b'{"jsonrpc":"2.0","id":9,"method":"forever"}')
    assert [(f["id"], f["error"]["code"]) for f in frames] == [(None, -31010), (9, -31010)]
    await conn.close()


@contextlib.asynccontextmanager
async def _serving(sock: Path, **options: Any) -> AsyncIterator[tuple[Any, Callable[[], Awaitable[Any]]]]:
    """A listener serving ``double`` with ``options``, and a way to connect to it; every
    connection made is closed and the listener drained on the way out."""
    d = Table()
    d.handle("double", _double, Params)
    listener = UnixListener(sock, d, max_message_bytes=1024, **options)
    await listener.start()
    opened: list[Conn] = []

    async def connect() -> Conn:
        opened.append(Conn(*await asyncio.open_unix_connection(str(listener.path))))
        return opened[-1]

    try:
        yield listener, connect
    finally:
        for c in opened:
            c.writer.close()
            await c.writer.wait_closed()
        await listener.stop_accepting()
        await listener.drain(1.0)


async def test_connections_past_the_limit_are_told_why_and_closed(short_dir):
    async with _serving(short_dir / "c.sock", max_connections=2) as (listener, connect):
        first = await connect()
        for conn in (first, await connect()):
            assert (await conn.call(1, "double", {"n": 1}))["result"] == {"twice": 2}
        extra = await connect()
        reply = await extra.recv()
        assert reply["error"]["code"] == -31010 and reply["error"]["data"] == {"limit": 2}
        assert await asyncio.wait_for(extra.reader.read(), 10) == b""  # then closed
        # Freeing a slot lets the next one in.
        first.writer.close()
        await first.writer.wait_closed()
        while listener.connections >= 2:  # the daemon notices the EOF
            await asyncio.sleep(0)
        again = await connect()
        assert (await again.call(2, "double", {"n": 2}))["result"] == {"twice": 4}


async def test_a_stalled_partial_frame_is_dropped_with_its_connection(short_dir):
    async with _serving(short_dir / "t.sock", frame_timeout=0.2) as (_listener, connect):
        idle, stalled = await connect(), await connect()
        stalled.writer.write(b'{"jsonrpc":"2.0","id":1,"meth')  # no newline, then silence
        await stalled.writer.drain()
        reply = await stalled.recv()
        assert reply["error"]["code"] == -32600 and "incomplete frame" in reply["error"]["message"]
        assert await asyncio.wait_for(stalled.reader.read(), 10) == b""
        # A connection idle between frames for longer than that is not timed out.
        assert (await idle.call(1, "double", {"n": 3}))["result"] == {"twice": 6}


async def test_partial_frames_share_one_memory_budget(short_dir):
    async with _serving(short_dir / "b.sock", max_buffered_bytes=1500) as (listener, connect):
        a, b = await connect(), await connect()
        frame = b'{"jsonrpc":"2.0","id":1,"method":"double","params":{"n":1}}'
        a.writer.write(frame + b" " * (1000 - len(frame)))  # a partial frame of 1,000 bytes
        await a.writer.drain()
        while listener.buffered < 1000:  # the daemon has read it
            await asyncio.sleep(0)
        await b.send(b'{"jsonrpc":"2.0","id":2,"method":"double","params":{"n":2}}' + b" " * 600)
        reply = await b.recv()
        assert reply["error"]["code"] == -31010 and reply["error"]["data"] == {"limit": 1500}
        # The first frame is untouched and completes; the budget is free again.
        await a.send(b"")
        assert (await a.recv())["result"] == {"twice": 2}
        assert (await b.call(3, "double", {"n": 3}))["result"] == {"twice": 6}
        assert listener.buffered == 0

