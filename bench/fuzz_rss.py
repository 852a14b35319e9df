"""Daemon memory under 20,000 fuzzed socket frames [goal: VmRSS growth <= 10 MB].

A seeded generator writes hostile JSON-RPC frames to the real daemon's Unix socket:
deep nesting (up to 5,000 levels), invalid UTF-8, huge ids and numbers, random
bytes, malformed requests, unknown and read-only methods with random params,
batches, ``$/cancelRequest`` for anything, and a few oversized frames; the stream
is cut at random points, and a ``daemon/status`` after each slice proves the
connection still serves. Between slices: partial frames then close, and floods of
300 connections (past the listener's cap of 256). VmRSS is read from
/proc/<pid>/status after start, after a warm-up of 1,000 frames, and at the end;
the answers are counted by JSON-RPC code (-32603 means a handler crashed).
"""

from __future__ import annotations

import json
import random
import select
import socket
import time
from collections import Counter
from pathlib import Path

from ._util import BenchResult, Daemon, heading, print_rows, temp_daemon

NAME = "fuzz_rss"
GOAL_MB = 10.0
FRAMES = 20_000
WARM_UP = 1_000
SLICE = 200  # frames per exchange, each followed by a daemon/status
FLOOD = 300
SEED = 7
READ_ONLY = ("daemon/status", "session/list", "session/get", "session/status", "models/list",
             "tools/list", "config/get", "approval/list", "audit/recent", "events/read")


def run(quick: bool = False) -> BenchResult:
    result = BenchResult(NAME)
    total = FRAMES // 4 if quick else FRAMES
    rng = random.Random(SEED)
    codes: Counter[str] = Counter()
    readings: list[tuple[str, float]] = []
    with temp_daemon() as daemon:
        path = str(daemon.paths.socket)
        limit = _max_message_bytes(daemon)
        readings.append(("after start", _rss(daemon.pid)))
        client = _Client(path)
        try:
            _fuzz(client, rng, WARM_UP, limit, codes)
            readings.append((f"after {WARM_UP:,} warm-up frames", _rss(daemon.pid)))
            t0 = time.perf_counter()
            sent = 0
            floods = partials = refused = 0
            while sent < total:
                n = min(SLICE * 10, total - sent)
                _fuzz(client, rng, n, limit, codes)
                sent += n
                for _ in range(20):
                    _partial_then_close(path, _frame(rng, limit)[: rng.randrange(1, 200)])
                    partials += 1
                refused += _flood(path, FLOOD)
                floods += 1
            elapsed = time.perf_counter() - t0
            status = client.exchange([])
        finally:
            client.close()
        readings.append((f"after {total:,} fuzzed frames", _rss(daemon.pid)))
        alive = "result" in status
    start, warm, end = (r[1] for r in readings)
    print(f"{total:,} frames in {elapsed:.1f} s, {partials} partial frames then close, "
          f"{floods} floods of {FLOOD} connections ({refused} refused at the cap); "
          f"daemon {'alive and serving' if alive else 'NOT SERVING'}")
    print_rows([[label, f"{mb:.1f}", f"{mb - start:+.1f}"] for label, mb in readings],
               ["", "VmRSS MB", "vs start"])
    print("answers by code: " + ", ".join(f"{code} x{n}" for code, n in codes.most_common()))
    result.figure("daemon VmRSS after start", start, "MB")
    result.figure(f"VmRSS growth over {total:,} fuzzed frames (from start)", end - start, "MB", GOAL_MB)
    result.figure("VmRSS growth after warm-up", end - warm, "MB")
    result.figure("internal errors (-32603) answered", codes["-32603"], "")
    result.note(f"answers by code: {dict(codes.most_common())}")
    if not alive:
        result.note("the daemon stopped answering daemon/status")
    return result


def _rss(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def _max_message_bytes(daemon: Daemon) -> int:
    from codetether.daemon.client import Client

    with Client(daemon.paths, autostart=False) as client:
        config = client.call("config/get")
    return int(config["config"]["daemon"]["max_message_bytes"])


# -- frames ---------------------------------------------------------------------------


def _frame(rng: random.Random, limit: int) -> bytes:
    """One hostile frame (no raw newline inside)."""
    kind = rng.randrange(100)
    if kind < 10:
        return b'{"jsonrpc":"2.0","id":%d,"method":"daemon/status"}' % rng.randrange(1 << 30)
    if kind < 25:
        return _dumps(_request(rng))
    if kind < 35:
        return _dumps([_request(rng) for _ in range(rng.randrange(0, 30))])
    if kind < 50:
        n = rng.randrange(1, 5000)
        return rng.choice([b"[" * n + b"]" * n, b'{"a":' * n + b"1" + b"}" * n, b"[" * n,
                           b'{"jsonrpc":"2.0","id":1,"method":"daemon/status","params":'
                           + b"[" * n + b"]" * n + b"}"])
    if kind < 60:
        return b'{"jsonrpc":"2.0","id":"u","method":"' + _bytes(rng, 64) + b'"}'
    if kind < 70:
        digits = b"9" * rng.randrange(1, 8000)
        return (b'{"jsonrpc":"2.0","id":' + digits + b',"method":"daemon/status","params":[1'
                + digits + b"e" + str(rng.randrange(-500, 500)).encode() + b"]}")
    if kind < 80:
        return _dumps({"jsonrpc": "2.0", "method": "$/cancelRequest",
                       "params": {"id": _value(rng, 2)}})
    if kind < 99:
        return _bytes(rng, 300)
    if rng.random() < 0.05:  # rarely: past the frame limit, skipped up to its newline
        return b'{"jsonrpc":"2.0","id":1,"method":"x","params":"' + b"x" * (limit + 10) + b'"}'
    return b"{}"


def _request(rng: random.Random) -> dict[str, object]:
    message: dict[str, object] = {"jsonrpc": rng.choice(["2.0", "2.0", "2.0", "1.0", 2])}
    if rng.random() < 0.7:
        message["id"] = _value(rng, 1)
    if rng.random() < 0.9:
        message["method"] = rng.choice([*READ_ONLY, "nope", "x" * rng.randrange(500)])
    if rng.random() < 0.6:
        message["params"] = rng.choice([
            _value(rng, 3),
            {"session_id": rng.choice(["\x00", "a" * 300, "../../etc", "", "é" * 100])},
            {"limit": rng.choice([-1, 0, 10**30, "x"])},
        ])
    return message


def _value(rng: random.Random, depth: int) -> object:
    kind = rng.randrange(9 if depth > 0 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.randrange(-(2**200), 2**200)
    if kind == 3:
        return rng.uniform(-1e300, 1e300)
    if kind == 4:
        return "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randrange(40)))
    if kind == 5:
        return "\ud800" * rng.randrange(1, 3)  # a lone surrogate, escaped by json.dumps
    if kind < 8:
        return [_value(rng, depth - 1) for _ in range(rng.randrange(5))]
    return {str(_value(rng, 0))[:8]: _value(rng, depth - 1) for _ in range(rng.randrange(5))}


def _dumps(value: object) -> bytes:
    return json.dumps(value).encode()


def _bytes(rng: random.Random, most: int) -> bytes:
    return rng.randbytes(rng.randrange(1, most)).replace(b"\n", b" ")


# -- clients --------------------------------------------------------------------------


class _Client:
    """Reads while it writes: the answers must not back up into the daemon."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.sock.setblocking(False)
        self.pending = b""
        self.sentinel = 0
        self.last: dict[str, object] = {}

    def close(self) -> None:
        self.sock.close()

    def exchange(self, chunks: list[bytes], codes: Counter[str] | None = None) -> dict[str, object]:
        self.sentinel += 1
        want = f"sentinel-{self.sentinel}"
        request = json.dumps({"jsonrpc": "2.0", "id": want, "method": "daemon/status"}).encode()
        out = b"".join(chunks) + request + b"\n"
        deadline = time.monotonic() + 120
        while True:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no answer to {want} within 120 s")
            readable, writable, _ = select.select([self.sock], [self.sock] if out else [], [], 1.0)
            if writable:
                out = out[self.sock.send(out[:1 << 16]):]
            if not readable:
                continue
            data = self.sock.recv(1 << 16)
            if not data:
                raise RuntimeError("the daemon closed the connection")
            *lines, self.pending = (self.pending + data).split(b"\n")
            for line in lines:
                frame = json.loads(line)
                for item in frame if isinstance(frame, list) else [frame]:
                    if codes is not None:
                        codes["result" if "result" in item else str(item["error"]["code"])] += 1
                    if item.get("id") == want:
                        return dict(item)


def _fuzz(client: _Client, rng: random.Random, n: int, limit: int, codes: Counter[str]) -> None:
    for start in range(0, n, SLICE):
        stream = b"".join(_frame(rng, limit) + b"\n" for _ in range(min(SLICE, n - start)))
        cuts = sorted(rng.randrange(len(stream)) for _ in range(rng.randrange(8)))
        chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        answer = client.exchange(chunks, codes)
        if "result" not in answer:
            raise RuntimeError(f"daemon/status failed after fuzzed frames: {answer}")


def _partial_then_close(path: str, prefix: bytes) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        sock.sendall(prefix.replace(b"\n", b" "))


def _flood(path: str, n: int) -> int:
    """``n`` connections at once, each asking for the status; returns how many were refused."""
    socks = []
    refused = 0
    try:
        for _ in range(n):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            socks.append(sock)
            sock.connect(path)
            sock.sendall(b'{"jsonrpc":"2.0","id":1,"method":"daemon/status"}\n')
        for sock in socks:
            sock.settimeout(30)
            line = b""
            while not line.endswith(b"\n"):
                data = sock.recv(1 << 16)
                if not data:
                    break
                line += data
            refused += "result" not in json.loads(line)
    finally:
        for sock in socks:
            sock.close()
    return refused


if __name__ == "__main__":
    heading(NAME)
    run()
