"""A load run on ``codetether serve``: 1,000 concurrent A2A clients for 60 s on loopback
[goals: 0 errors, VmRSS growth <= 10 % from 5 s in to the end].

The clients (``--quick``: 100 for 10 s) loop on SendMessage with the trivial agent of
``a2a_throughput`` (with sessions on disk): 80 % over HTTP JSON-RPC (aiohttp, one keep-alive connection each),
20 % over gRPC (raw aio stubs, ten callers per channel; the gRPC listener bounds calls
at 256 at once, so this share stays under it). The client runs in its own process,
pinned to another core than the server where there are two. The server's VmRSS and
open fds are sampled every half second; after the run it must still answer
``/health``. The soft fd limit is raised when 1,000 connections would not fit in it.
"""

from __future__ import annotations

import asyncio
import json
import math
import resource
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from ._util import PYTHON, BenchResult, child_env, heading, print_rows
from .a2a_throughput import (
    ROOT,
    Tally,
    cores,
    drive_grpc,
    drive_jsonrpc,
    memory_mb,
    pinning,
    serve_codetether,
    server_cpu,
)

NAME = "a2a_load"
GOAL_GROWTH = 10.0  # percent
BASELINE_AT = 5.0  # seconds into the run
GRPC_SHARE = 0.2
CALLERS_PER_CHANNEL = 10


def run(quick: bool = False) -> BenchResult:
    result = BenchResult(NAME)
    clients, seconds = (100, 10.0) if quick else (1000, 60.0)
    grpc_clients = int(clients * GRPC_SHARE)
    spec: dict[str, Any] = {"http": clients - grpc_clients, "grpc": grpc_clients, "seconds": seconds}
    raised = _raise_fd_limit(clients * 2 + 256)
    if raised:
        print(f"  raised the soft fd limit: {raised}")
        result.note(f"raised the soft fd limit: {raised}")
    server_core, client_core = cores()
    samples: list[tuple[float, float, int]] = []
    # Sessions on disk, as a daemon runs by default: the in-memory store (auto_save = false)
    # keeps every transcript by design, which is growth this run is not about.
    with serve_codetether(server_core, auto_save=True) as served:
        pid = served.proc.pid
        rss_before = memory_mb(pid)
        cpu0 = server_cpu(pid)
        spec.update(url=served.http_url + "/", address=served.grpc_address)
        proc = subprocess.Popen([PYTHON, "-m", "bench.a2a_load", "client", json.dumps(spec)], cwd=ROOT,
                                env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=pinning(client_core))
        t0 = time.monotonic()
        while proc.poll() is None:
            samples.append((time.monotonic() - t0, memory_mb(pid), _fds(pid)))
            try:
                proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
        stdout, stderr = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"load client exited {proc.returncode}: {stderr[-1500:]}")
        out: dict[str, Any] = json.loads(stdout.splitlines()[-1])
        cpu = server_cpu(pid) - cpu0
        rss_end = memory_mb(pid)
        with urllib.request.urlopen(served.http_url + "/health", timeout=10) as resp:
            healthy = resp.status == 200
    baseline = next((rss for t, rss, _ in samples if t >= BASELINE_AT), samples[0][1])
    peak = max(rss for _, rss, _ in samples)
    growth = 100 * (rss_end - baseline) / baseline
    rows = [[f"{t:.1f}", f"{rss:.1f}", str(fds)] for t, rss, fds in samples[:: max(1, len(samples) // 12)]]
    rows.append(["end", f"{rss_end:.1f}", ""])
    print(f"{clients} clients ({spec['http']} JSON-RPC, {spec['grpc']} gRPC) for {seconds:.0f} s; "
          f"server VmRSS {rss_before:.1f} MB before the load")
    print_rows(rows, ["t s", "VmRSS MB", "open fds"])
    print_rows([[kind, str(o["done"]), f"{o['done'] / out['elapsed']:.0f}", str(o["errors"]),
                 f"{o['p50']:.2f}", f"{o['p99']:.2f}", f"{o['max']:.2f}", o["first_error"][:60]]
                for kind, o in (("JSON-RPC", out["http"]), ("gRPC", out["grpc"]))],
               ["transport", "requests", "req/s", "errors", "p50 s", "p99 s", "max s", "first error"])
    total = out["http"]["done"] + out["grpc"]["done"]
    errors = out["http"]["errors"] + out["grpc"]["errors"]
    result.figure("concurrent clients", clients, "")
    result.figure("requests completed", total, "")
    result.figure("requests/s", total / out["elapsed"], "req/s")
    result.figure("errors", errors, "", 0)
    result.figure("VmRSS at 5 s", baseline, "MB")
    result.figure("VmRSS at end", rss_end, "MB")
    result.figure("VmRSS peak", peak, "MB")
    result.figure("VmRSS growth 5 s -> end", growth, "%", GOAL_GROWTH)
    result.figure("server CPU per request", 1e3 * cpu / max(total, 1), "ms")
    result.figure("open fds peak", max(fds for _, _, fds in samples), "")
    result.figure("serves /health after the run", 1 if healthy else 0, "")
    for kind in ("http", "grpc"):
        if out[kind]["first_error"]:
            result.note(f"{kind} first error: {out[kind]['first_error']}")
    return result


def _raise_fd_limit(needed: int) -> str:
    """Raise RLIMIT_NOFILE's soft limit (inherited by the server and client) if it is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        new = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        return f"{soft} -> {new} (hard {hard})"
    return ""


def _fds(pid: int) -> int:
    try:
        return sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return -1


def _summary(tally: Tally) -> dict[str, Any]:
    lat = sorted(tally.latencies)

    def at(q: float) -> float:
        return lat[min(len(lat) - 1, int(len(lat) * q))] if lat else 0.0

    return {"done": tally.done, "errors": tally.errors, "first_error": tally.first_error,
            "p50": at(0.5), "p99": at(0.99), "max": lat[-1] if lat else 0.0}


async def _client_main(spec: dict[str, Any]) -> dict[str, Any]:
    start = time.perf_counter()
    stop = start + spec["seconds"]
    http, grpc = Tally(0.0, math.inf), Tally(0.0, math.inf)
    jobs = [drive_jsonrpc(spec["url"], http, spec["http"], stop, tag="load", timeout=120.0)]
    if spec["grpc"]:
        jobs.append(drive_grpc(spec["address"], grpc, spec["grpc"], stop, tag="load",
                               channels=max(1, spec["grpc"] // CALLERS_PER_CHANNEL), timeout=120.0))
    await asyncio.gather(*jobs)
    return {"elapsed": time.perf_counter() - start, "http": _summary(http), "grpc": _summary(grpc)}


if __name__ == "__main__":
    if sys.argv[1:2] == ["client"]:
        print(json.dumps(asyncio.run(_client_main(json.loads(sys.argv[2])))))
    else:
        heading(NAME)
        run()
