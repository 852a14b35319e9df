"""JSON-RPC round trip over the Unix socket, p50/p99 [goal: p50 <= 100 us].

One persistent connection per client, ``daemon/status`` each time:

* our blocking ``Client`` (what the CLI uses: json encode, sendall, recv, decode),
* a raw asyncio client (pre-encoded frames, ``readline``),
* a raw blocking socket (pre-encoded frames, no decode): the floor of the transport.

The clients take turns in rounds so machine noise lands on all three alike. For
scale, the daemon's own share is timed in process too: the same Service and
API the runner builds, a frame fed to a Connection whose ``send`` just
hands the reply back (decode, task, dispatch, handler, encode; no socket).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

from ._util import (
    BenchResult,
    Stats,
    heading,
    print_rows,
    summarize,
    temp_daemon,
    temp_dir,
)

NAME = "rpc_latency"
GOAL_US = 100.0
ROUNDS = 4
METHOD = "daemon/status"


def run(quick: bool = False) -> BenchResult:
    from codetether.daemon.client import Client

    result = BenchResult(NAME)
    calls = 500 if quick else 2000
    per_round = calls // ROUNDS
    samples: dict[str, list[float]] = {"Client (ours)": [], "raw asyncio": [], "raw socket": []}
    with temp_daemon() as daemon:
        path = str(daemon.paths.socket)
        client = Client(daemon.paths, autostart=False)
        raw = _RawSocket(path)
        with asyncio.Runner() as runner:
            aio = runner.run(_AsyncClient.connect(path))
            try:
                runs: dict[str, Callable[[int], list[float]]] = {
                    "Client (ours)": lambda n: _time_calls(lambda: client.call(METHOD), n),
                    "raw asyncio": lambda n: runner.run(aio.timed_calls(n)),
                    "raw socket": raw.timed_calls,
                }
                for fn in runs.values():  # warm-up: connection buffers, daemon caches
                    fn(100)
                for rnd in range(ROUNDS):
                    names = list(runs)[rnd % 3:] + list(runs)[:rnd % 3]
                    for name in names:
                        samples[name] += runs[name](per_round)
            finally:
                runner.run(aio.close())
                client.close()
                raw.close()

    with temp_dir() as home:
        samples["in-process dispatch (no socket)"] = asyncio.run(_in_process(home, calls))
    stats: dict[str, Stats] = {name: summarize(s) for name, s in samples.items()}
    print(f"{METHOD} over {path}, {per_round * ROUNDS} calls per client in {ROUNDS} rounds:")
    print_rows([[name, f"{st.p50 * 1e6:.1f}", f"{st.p90 * 1e6:.1f}", f"{st.p99 * 1e6:.1f}",
                 f"{st.min * 1e6:.1f}", f"{st.max * 1e6:.0f}"] for name, st in stats.items()],
               ["client", "p50 us", "p90 us", "p99 us", "min us", "max us"])
    ours = stats["Client (ours)"]
    result.figure("Client p50", ours.p50 * 1e6, "us", GOAL_US)
    result.figure("Client p99", ours.p99 * 1e6, "us")
    result.figure("raw asyncio p50", stats["raw asyncio"].p50 * 1e6, "us")
    result.figure("raw asyncio p99", stats["raw asyncio"].p99 * 1e6, "us")
    result.figure("raw socket p50 (floor)", stats["raw socket"].p50 * 1e6, "us")
    result.figure("raw socket p99 (floor)", stats["raw socket"].p99 * 1e6, "us")
    result.figure("in-process dispatch p50 (daemon share)",
                  stats["in-process dispatch (no socket)"].p50 * 1e6, "us")
    return result


async def _in_process(home: Path, n: int) -> list[float]:
    """Per-request seconds of the daemon's Python path for METHOD, without the socket."""
    from codetether.daemon.api import build_api
    from codetether.daemon.app import App
    from codetether.daemon.core.config import load_config
    from codetether.daemon.core.providers import ModelResolver
    from codetether.daemon.core.secrets import SecretStore
    from codetether.daemon.paths import get_paths
    from codetether.daemon.rpc import Connection

    paths = get_paths({"CODETETHER_HOME": str(home)})
    loaded = load_config(Path(os.devnull))
    app = App(paths, loaded, ModelResolver(loaded.config, SecretStore(loaded.config.secrets)))
    api = build_api(app)
    loop = asyncio.get_running_loop()
    reply: asyncio.Future[bytes] = loop.create_future()

    async def send(frame: bytes) -> None:
        reply.set_result(frame)

    conn = Connection(api, send, name="bench")
    out = []
    try:
        for i, frame in enumerate(_frames(n + 100, 1)):
            reply = loop.create_future()
            t0 = time.perf_counter()
            conn.feed(frame[:-1])
            answer = await reply
            if i >= 100:
                out.append(time.perf_counter() - t0)
            if b'"result"' not in answer:
                raise RuntimeError(f"unexpected reply: {answer[:200]!r}")
    finally:
        await conn.close()
        await app.aclose()
    return out


def _time_calls(call: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        out.append(time.perf_counter() - t0)
    return out


def _frames(n: int, start: int) -> list[bytes]:
    return [json.dumps({"jsonrpc": "2.0", "id": start + i, "method": METHOD},
                       separators=(",", ":")).encode() + b"\n" for i in range(n)]


class _AsyncClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.next_id = 1

    @classmethod
    async def connect(cls, path: str) -> _AsyncClient:
        reader, writer = await asyncio.open_unix_connection(path, limit=1 << 20)
        return cls(reader, writer)

    async def timed_calls(self, n: int) -> list[float]:
        frames = _frames(n, self.next_id)
        self.next_id += n
        out = []
        for frame in frames:
            t0 = time.perf_counter()
            self.writer.write(frame)
            await self.writer.drain()
            line = await self.reader.readline()
            out.append(time.perf_counter() - t0)
            if b'"result"' not in line:
                raise RuntimeError(f"unexpected reply: {line[:200]!r}")
        return out

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


class _RawSocket:
    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.next_id = 1
        self.buf = b""

    def timed_calls(self, n: int) -> list[float]:
        frames = _frames(n, self.next_id)
        self.next_id += n
        out = []
        sock = self.sock
        for frame in frames:
            t0 = time.perf_counter()
            sock.sendall(frame)
            buf = self.buf
            while b"\n" not in buf:
                buf += sock.recv(1 << 16)
            out.append(time.perf_counter() - t0)
            line, _, self.buf = buf.partition(b"\n")
            if b'"result"' not in line:
                raise RuntimeError(f"unexpected reply: {line[:200]!r}")
        return out

    def close(self) -> None:
        self.sock.close()


if __name__ == "__main__":
    heading(NAME)
    run()
