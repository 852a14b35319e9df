"""The JSON-RPC dispatcher over a real Unix socket: every bad frame gets a clear
error, and the listener keeps serving afterwards."""

import asyncio
import json
import os
import sys

import msgspec
import pytest
from codetether.daemon.rpc import Dispatcher
from codetether.daemon.transports.unix import UnixListener


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
    d = Dispatcher()
    d.add("double", _double, Params)
    d.add("forever", _forever)
    d.add("crash", _crash)
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
        ctx.connection.on_close.append(lambda: seen.append("closed"))
        await ctx.notify("tick", {"n": 1})
        return {"ok": True}

    d = Dispatcher()
    d.add("watch", watch)
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

    d = Dispatcher()

    async def fail(p, ctx):
        cls = next(c for c in errors.ERROR_TABLE if c.__name__ == p["name"])
        raise cls(f"a {p['name']}", data={"n": 1})

    d.add("fail", fail)
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
