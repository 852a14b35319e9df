"""Idle memory of ``codetether serve`` with the socket, HTTP and gRPC listening [goal: VmRSS <= 50 MB].

VmRSS from /proc/<pid>/status after start and after a few agent card fetches (the
public card over HTTP, the extended card over HTTP JSON-RPC and over gRPC), for
three processes in turn, to show what each listener costs:

* the plain daemon (Unix socket only), after start and after 20 status calls;
* ``codetether serve --grpc-port -1`` (socket + HTTP);
* ``codetether serve`` (socket + HTTP + gRPC) — the figure with the goal;
* the floor under any such server here: a bare process with an aiohttp app (one
  route) and a grpc.aio server (the standard health service) listening, nothing else
  (``python -m bench.a2a_rss floor``).

Then what the full one has loaded: native libraries mapped from site-packages, and
third-party packages by import time (a second ``serve`` with PYTHONPROFILEIMPORTTIME).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ._util import (
    PYTHON,
    BenchResult,
    child_env,
    heading,
    parse_importtime,
    print_rows,
    temp_daemon,
    temp_dir,
)
from .a2a_throughput import ROOT, TOKEN, Server, memory_mb, serve_codetether
from .daemon_rss import _mapped_packages, _status_calls, _third_party, _via

NAME = "a2a_rss"
GOAL_MB = 50.0
FETCHES = 5


def run(quick: bool = False) -> BenchResult:
    result = BenchResult(NAME)
    rows: list[list[str]] = []

    with temp_daemon() as daemon:
        start = _mem(daemon.pid)
        _status_calls(daemon)
        idle = _mem(daemon.pid)
    rows.append(["daemon (socket only)", *start, *idle])

    with serve_codetether(grpc=False) as served:
        start = _mem(served.proc.pid)
        asyncio.run(_fetch_cards(served, grpc=False))
        http_only = _mem(served.proc.pid)
    rows.append(["serve: socket + HTTP", *start, *http_only])

    with serve_codetether() as served:
        start = _mem(served.proc.pid)
        asyncio.run(_fetch_cards(served, grpc=True))
        full = _mem(served.proc.pid)
        mapped = _mapped_packages(served.proc.pid)
        by_mapping = _rss_by_mapping(served.proc.pid)
    rows.append(["serve: socket + HTTP + gRPC", *start, *full])

    with _floor() as (proc, http_url, grpc_address):
        floor_start = _mem(proc.pid)
        asyncio.run(_poke_floor(http_url, grpc_address))
        floor = _mem(proc.pid)
    rows.append(["floor: bare aiohttp + grpc.aio", *floor_start, *floor])
    print_rows(rows, ["process", "VmRSS MB at start", "RssAnon", "VmRSS MB after calls", "RssAnon"])

    result.figure("daemon (socket) VmRSS idle", float(idle[0]), "MB")
    result.figure("serve socket+HTTP VmRSS after card fetches", float(http_only[0]), "MB")
    result.figure("serve socket+HTTP+gRPC VmRSS at start", float(start[0]), "MB")
    result.figure("serve socket+HTTP+gRPC VmRSS after card fetches", float(full[0]), "MB", GOAL_MB)
    result.figure("HTTP listener cost (vs daemon)", float(http_only[0]) - float(idle[0]), "MB")
    result.figure("gRPC listener cost (vs socket+HTTP)", float(full[0]) - float(http_only[0]), "MB")
    result.figure("floor: bare aiohttp + grpc.aio listening", float(floor[0]), "MB")
    result.figure("serve above the floor", float(full[0]) - float(floor[0]), "MB")

    print(f"\nnative libraries mapped from site-packages (full serve): {', '.join(sorted(mapped)) or 'none'}")
    result.note("native libraries mapped: " + ", ".join(sorted(mapped)))
    top_maps = sorted(by_mapping.items(), key=lambda kv: -kv[1])[:12]
    print("resident memory of the full serve by mapping (/proc/<pid>/smaps):")
    print_rows([[name, f"{mb:.1f}"] for name, mb in top_maps], ["mapping", "Rss MB"])
    result.note("Rss by mapping: " + ", ".join(f"{name} {mb:.1f} MB" for name, mb in top_maps))
    with temp_dir() as tmp:
        with serve_codetether(extra_env={"PYTHONPROFILEIMPORTTIME": "1"},
                              stderr_path=tmp / "imports.log") as served:
            asyncio.run(_fetch_cards(served, grpc=True))
        log = (tmp / "imports.log").read_text(errors="replace")
    modules = {m.name: m for m in parse_importtime(log)}
    third = _third_party(modules)
    top = sorted(third.items(), key=lambda kv: -kv[1][1])[: 10 if quick else 18]
    print(f"\nmodules imported by the full serve (second process, import log): {len(modules)}")
    print("third-party packages by import time (a proxy for their weight):")
    print_rows([[name, str(count), f"{us / 1e3:.1f}", _via(modules, name)] for name, (count, us) in top],
               ["package", "modules", "import ms", "imported via"])
    result.note(f"modules imported: {len(modules)}; top third-party: " + ", ".join(
        f"{name} ({count} modules, {us / 1e3:.0f} ms, via {_via(modules, name)})"
        for name, (count, us) in top))
    return result


def _mem(pid: int) -> tuple[str, str]:
    return f"{memory_mb(pid):.1f}", f"{memory_mb(pid, 'RssAnon'):.1f}"


def _rss_by_mapping(pid: int) -> dict[str, float]:
    """Rss in MB per mapped file (site-packages files grouped by package), heap and anonymous."""
    out: dict[str, float] = {}
    name = "?"
    with open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            first = line.split(maxsplit=6)
            if "-" in first[0] and len(first) >= 5 and ":" in first[3]:  # a mapping's header line
                path = first[5].strip() if len(first) >= 6 else ""
                if "/site-packages/" in path:
                    name = path.split("/site-packages/", 1)[1].split("/", 1)[0]
                elif path.startswith("/"):
                    name = os.path.basename(path)
                else:
                    name = path or "[anonymous]"
            elif line.startswith("Rss:"):
                out[name] = out.get(name, 0.0) + int(line.split()[1]) / 1024
    return out


async def _fetch_cards(server: Server, *, grpc: bool) -> None:
    """A few card fetches as a peer makes them: public card, extended card (JSON-RPC, gRPC)."""
    import aiohttp

    headers = {"Authorization": f"Bearer {TOKEN}", "A2A-Version": "1.0"}
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "GetExtendedAgentCard", "params": {}})
    async with aiohttp.ClientSession(headers=headers) as session:
        for _ in range(FETCHES):
            async with session.get(server.http_url + "/.well-known/agent-card.json") as resp:
                card = await resp.json()
                assert resp.status == 200 and card.get("name"), card
            async with session.post(server.http_url + "/", data=body,
                                    headers={"Content-Type": "application/json"}) as resp:
                answer = await resp.json()
                assert "result" in answer, answer
    if grpc:
        import grpc as grpclib
        from a2a.types import a2a_pb2, a2a_pb2_grpc

        async with grpclib.aio.insecure_channel(server.grpc_address) as channel:
            services: Any = a2a_pb2_grpc  # generated, untyped
            stub = services.A2AServiceStub(channel)
            for _ in range(FETCHES):
                extended = await stub.GetExtendedAgentCard(
                    a2a_pb2.GetExtendedAgentCardRequest(),
                    metadata=(("authorization", f"Bearer {TOKEN}"), ("a2a-version", "1.0")))
                assert extended.name


@contextmanager
def _floor() -> Iterator[tuple[subprocess.Popen[str], str, str]]:
    """The bare aiohttp + grpc.aio process (``floor``), stopped afterwards."""
    proc = subprocess.Popen([PYTHON, "-m", "bench.a2a_rss", "floor"], cwd=ROOT, env=child_env(),
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        bound = json.loads(proc.stdout.readline())  # its readiness: both listeners bound
        yield proc, bound["http_url"], bound["grpc_address"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


async def _poke_floor(http_url: str, grpc_address: str) -> None:
    import aiohttp
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    async with aiohttp.ClientSession() as session:
        for _ in range(FETCHES):
            async with session.get(http_url + "/health") as resp:
                assert resp.status == 200
    async with grpc.aio.insecure_channel(grpc_address) as channel:
        stub: Any = health_pb2_grpc.HealthStub(channel)  # generated, untyped
        for _ in range(FETCHES):
            await stub.Check(health_pb2.HealthCheckRequest())


async def _floor_main() -> None:
    import grpc
    from aiohttp import web
    from grpc_health.v1 import health, health_pb2_grpc

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/health", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = grpc.aio.server()
    services: Any = health_pb2_grpc  # generated, untyped
    services.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    grpc_port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(json.dumps({"http_url": f"http://127.0.0.1:{runner.addresses[0][1]}",
                      "grpc_address": f"127.0.0.1:{grpc_port}"}), flush=True)
    stopped = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    await stopped.wait()
    await server.stop(0)
    await runner.cleanup()


if __name__ == "__main__":
    if sys.argv[1:2] == ["floor"]:
        asyncio.run(_floor_main())
    else:
        heading(NAME)
        run()
