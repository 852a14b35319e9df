"""A2A SendMessage requests/s, codetether vs a2a-sdk's own server [goal: ratio >= 2x].

Both servers run the same trivial agent: it answers at once, and the task ends
``TASK_STATE_COMPLETED`` with one text artifact.

* ours: ``codetether serve --conformance`` (socket, HTTP and gRPC listening): the
  agent started by that flag follows the A2A TCK's messageId contract, and the
  messageIds sent here (``tck-artifact-text-...``) ask it for exactly that: an
  artifact, then completed. Tasks go through our task manager and are persisted in
  SQLite (every state change, before it is announced), as always;
* theirs: a2a-sdk's ``DefaultRequestHandler`` + ``InMemoryTaskStore`` with an
  ``AgentExecutor`` that enqueues the task, an artifact and "completed"; its
  Starlette JSON-RPC app on aiohttp's HTTP server (ours too) through a small ASGI
  bridge, and its ``GrpcHandler`` on grpc.aio. Not uvicorn: under uvicorn 0.54 (h11
  or httptools) this keep-alive aiohttp client gets ~23 req/s from even a bare ASGI
  app (40 ms stalls per request), a figure that would flatter us.

A second table (no goal) is what a default daemon does per task: ``codetether serve``
without the flag runs the real agent loop for each task (a session, its event stream
on disk, audit records, the scripted provider answering "ok"; ``[a2a] approval_mode =
"plan"``, ``[session] auto_save = false``), against the same SDK figures.

The same client, in its own process, drives every server in the same run, cell by
cell (transport x concurrency x server, in alternating order): aiohttp posting
JSON-RPC (the SDK's httpx client saturates a core at 64) and raw grpc aio stubs. With
two or more cpus the servers are pinned to one core and the client to another. Server
CPU per request comes from /proc/<pid>/stat.

``python -m bench.a2a_throughput sdk-server`` and ``... client SPEC`` are the
child processes this benchmark starts.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ._util import CLI, PYTHON, BenchResult, child_env, heading, home_dir, print_rows, temp_dir

NAME = "a2a_throughput"
GOAL_RATIO = 2.0
TOKEN = "bench-token-0123456789abcdef"
ROOT = Path(__file__).resolve().parent.parent
TRANSPORTS = ("jsonrpc", "grpc")
CONCURRENCY = (1, 64)
#: The messageIds' prefix for ours: the conformance agent's "an artifact, then completed".
TRIVIAL_TAG = "tck-artifact-text"

__all__ = ["ROOT", "TOKEN", "Server", "Tally", "cores", "drive_grpc", "drive_jsonrpc", "jsonrpc_body",
           "memory_mb", "pinning", "serve_codetether", "server_cpu", "write_config"]


# -- the servers --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Server:
    """A server process and where it listens."""

    name: str
    proc: subprocess.Popen[str]
    http_url: str
    grpc_address: str


def pinning(core: int | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` pinning the child (and every thread it starts) to ``core``."""
    if core is None:
        return None
    return lambda: os.sched_setaffinity(0, {core})


def cores() -> tuple[int | None, int | None]:
    """(server core, client core), or no pinning on a single cpu."""
    cpus = sorted(os.sched_getaffinity(0))
    return (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)


def _handshake(name: str, proc: subprocess.Popen[str], stderr: Path) -> Server:
    """Wait for the child's one JSON line with its bound addresses (its readiness)."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=30)
        raise RuntimeError(f"{name} exited {proc.returncode}: {stderr.read_text()[-800:]}")
    bound = json.loads(line)
    return Server(name, proc, bound["http_url"], bound["grpc_address"])


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def write_config(home: Path, workspace: Path, *, auto_save: bool = False) -> None:
    """The trivial agent's config: scripted provider answering "ok" to every turn
    (``auto_save``: sessions on disk, as a daemon runs by default)."""
    (home / "config").mkdir(parents=True, exist_ok=True)
    workspace.mkdir(parents=True, exist_ok=True)
    script = home / "script.json"
    script.write_text(json.dumps({"turns": [], "fallback": "ok"}))
    (home / "config" / "config.toml").write_text(
        f'[default]\nprovider = "scripted"\nmodel = "scripted"\n\n'
        f'[providers.scripted]\nscript = "{script}"\n\n'
        f'[session]\nauto_save = {"true" if auto_save else "false"}\n\n'
        f'[a2a]\napproval_mode = "plan"\nworkspace = "{workspace}"\n')


@contextmanager
def serve_codetether(core: int | None = None, *, grpc: bool = True, extra_env: dict[str, str] | None = None,
                     stderr_path: Path | None = None, auto_save: bool = False, conformance: bool = False,
                     name: str = "codetether") -> Iterator[Server]:
    """``codetether serve --json`` on free ports in a throwaway home, stopped afterwards
    (its stderr kept at ``stderr_path`` when given; ``conformance``: the TCK's agent)."""
    with home_dir() as tmp:
        home, workspace = tmp / "h", tmp / "ws"
        write_config(home, workspace, auto_save=auto_save)
        env = {k: v for k, v in child_env(**(extra_env or {})).items() if not k.startswith("CODETETHER_")}
        env.update(CODETETHER_HOME=str(home), CODETETHER_AUTH_TOKEN=TOKEN)
        stderr = stderr_path or tmp / "serve.stderr"
        with stderr.open("w") as err:
            proc = subprocess.Popen(
                [CLI, "serve", "--port", "0", "--grpc-port", "0" if grpc else "-1", "--json",
                 *(["--conformance"] if conformance else [])],
                env=env, cwd=workspace, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                text=True, preexec_fn=pinning(core))
        try:
            yield _handshake(name, proc, stderr)
        finally:
            _stop(proc)


@contextmanager
def _serve_sdk(core: int | None) -> Iterator[Server]:
    with temp_dir() as tmp:
        stderr = tmp / "sdk.stderr"
        with stderr.open("w") as err:
            proc = subprocess.Popen([PYTHON, "-m", "bench.a2a_throughput", "sdk-server"], cwd=ROOT,
                                    env=child_env(), stdout=subprocess.PIPE, stderr=err,
                                    stdin=subprocess.DEVNULL, text=True, preexec_fn=pinning(core))
        try:
            yield _handshake("a2a-sdk", proc, stderr)
        finally:
            _stop(proc)


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def jsonrpc_body(message_id: str, text: str = "hi") -> bytes:
    """A 1.0 JSON-RPC SendMessage request (blocking: the answer is the finished task)."""
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {
        "message": {"messageId": message_id, "role": "ROLE_USER", "parts": [{"text": text}]}}},
        separators=(",", ":")).encode()


# -- the benchmark ------------------------------------------------------------------


def run(quick: bool = False) -> BenchResult:
    result = BenchResult(NAME)
    seconds, warmup, rounds = (2.0, 0.5, 1) if quick else (5.0, 1.0, 2)
    server_core, client_core = cores()
    sums: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    # The SDK's JSON-RPC app is mounted at "/" and ours answers JSON-RPC there too.
    tags = {"codetether": TRIVIAL_TAG, "agent loop": "c", "a2a-sdk": "c"}
    with serve_codetether(server_core, conformance=True) as ours, \
            serve_codetether(server_core, name="agent loop") as loop, _serve_sdk(server_core) as theirs:
        http_note = theirs.proc.stdout.readline().strip() if theirs.proc.stdout else ""
        print(f"servers: codetether pid {ours.proc.pid} (trivial agent), {loop.proc.pid} (agent loop), "
              f"a2a-sdk pid {theirs.proc.pid} ({http_note}); pinned to cpu {server_core}, client to cpu "
              f"{client_core}")
        result.note(f"a2a-sdk JSON-RPC served by {http_note}")
        for rnd in range(rounds):
            for transport in TRANSPORTS:
                for conc in CONCURRENCY:
                    order = (ours, theirs) if (rnd + conc) % 2 else (theirs, ours)
                    # the agent loop's rows (no goal): once, in the middle of the first round
                    for server in (*order[:1], *((loop,) if rnd == 0 else ()), *order[1:]):
                        target = server.http_url + "/" if transport == "jsonrpc" else server.grpc_address
                        spec = {"transport": transport, "target": target, "concurrency": conc,
                                "seconds": seconds, "warmup": warmup, "tag": tags[server.name]}
                        cpu0 = server_cpu(server.proc.pid)
                        out = _client(spec, client_core)
                        out["server_cpu"] = server_cpu(server.proc.pid) - cpu0
                        sums.setdefault((server.name, transport, conc), []).append(out)
    rows = []
    loop_rows = []
    for transport in TRANSPORTS:
        for conc in CONCURRENCY:
            cells = {name: _merge(sums[(name, transport, conc)]) for name in ("codetether", "a2a-sdk")}
            for name, c in cells.items():
                rows.append(_row(transport, conc, name, c))
                result.figure(f"{transport} c={conc} {name}", c["rps"], "req/s")
            ratio = cells["codetether"]["rps"] / max(cells["a2a-sdk"]["rps"], 1e-9)
            result.figure(f"{transport} c={conc} ratio ours/sdk", ratio, "x")
            # Figure goals are upper bounds: ours >= 2x theirs is theirs/ours <= 0.5.
            result.figure(f"{transport} c={conc} sdk/ours (goal ours >= {GOAL_RATIO:g}x)", 1 / ratio, "x",
                          1 / GOAL_RATIO)
            agent = _merge(sums[("agent loop", transport, conc)])
            loop_rows.append(_row(transport, conc, "agent loop", agent)
                             + [f"{agent['rps'] / max(cells['a2a-sdk']['rps'], 1e-9):.2f}x"])
            result.figure(f"{transport} c={conc} agent loop ratio ours/sdk",
                          agent["rps"] / max(cells["a2a-sdk"]["rps"], 1e-9), "x")
            result.figure(f"{transport} c={conc} errors",
                          sum(c["errors"] for c in (*cells.values(), agent)), "", 0)
    columns = ["transport", "conc", "server", "req/s", "p50 ms", "p99 ms", "server cpu ms/req",
               "client cpu", "errors"]
    print("the same trivial agent on both servers:")
    print_rows(rows, columns)
    print("\nours through the real agent loop (a session per task; the SDK's figures above):")
    print_rows(loop_rows, [*columns, "vs sdk"])
    return result


def _row(transport: str, conc: int, name: str, c: dict[str, Any]) -> list[str]:
    return [transport, str(conc), name, f"{c['rps']:.0f}", f"{c['p50'] * 1e3:.1f}", f"{c['p99'] * 1e3:.1f}",
            f"{c['cpu_ms']:.2f}", f"{c['client_cpu']:.0%}", str(c["errors"])]


def _merge(outs: list[dict[str, Any]]) -> dict[str, Any]:
    done = sum(o["done"] for o in outs)
    window = sum(o["window"] for o in outs)
    lat = sorted(x for o in outs for x in o["latencies"])
    return {"rps": done / window, "errors": sum(o["errors"] for o in outs),
            "p50": lat[len(lat) // 2] if lat else 0.0, "p99": lat[int(len(lat) * 0.99)] if lat else 0.0,
            "cpu_ms": 1e3 * sum(o["server_cpu"] for o in outs) / max(done, 1),
            "client_cpu": sum(o["client_cpu"] for o in outs) / len(outs)}


def _client(spec: dict[str, Any], core: int | None) -> dict[str, Any]:
    """One client run in its own process; its JSON summary."""
    proc = subprocess.run([PYTHON, "-m", "bench.a2a_throughput", "client", json.dumps(spec)], cwd=ROOT,
                          env=child_env(), capture_output=True, text=True, preexec_fn=pinning(core),
                          timeout=spec["seconds"] + spec["warmup"] + 120)
    if proc.returncode != 0:
        raise RuntimeError(f"client {spec} exited {proc.returncode}: {proc.stderr[-1500:]}")
    out: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    if out["first_error"]:
        print(f"  {spec['transport']} c={spec['concurrency']} {spec['target']}: "
              f"{out['errors']} errors, first: {out['first_error']}", flush=True)
    return out


# -- the client (child process) -----------------------------------------------------


class Tally:
    """Requests done (inside the [start, end] window) and failed (any time), with latencies."""

    def __init__(self, start: float, end: float) -> None:
        self.start, self.end = start, end
        self.done = self.errors = 0
        self.latencies: list[float] = []
        self.first_error = ""

    def record(self, t0: float, ok: bool, what: str = "") -> None:
        t1 = time.perf_counter()
        if self.start <= t0 and t1 <= self.end:
            if ok:
                self.done += 1
                self.latencies.append(t1 - t0)
        if not ok:
            self.errors += 1
            self.first_error = self.first_error or what[:300]


async def drive_jsonrpc(url: str, tally: Tally, concurrency: int, stop: float, tag: str = "c",
                        timeout: float = 60.0) -> None:
    """``concurrency`` callers, one keep-alive connection each, posting SendMessage until ``stop``."""
    import aiohttp

    headers = {"Authorization": f"Bearer {TOKEN}", "A2A-Version": "1.0",
               "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers,
                                     timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        async def worker(w: int) -> None:
            n = 0
            while time.perf_counter() < stop:
                n += 1
                t0 = time.perf_counter()
                try:
                    async with session.post(url, data=jsonrpc_body(f"{tag}-{w}-{n}")) as resp:
                        body = await resp.read()
                    ok = resp.status == 200 and b"TASK_STATE_COMPLETED" in body
                    tally.record(t0, ok, f"HTTP {resp.status}: {body[:200]!r}")
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    tally.record(t0, False, f"{type(exc).__name__}: {exc}")

        await asyncio.gather(*(worker(w) for w in range(concurrency)))


async def drive_grpc(address: str, tally: Tally, concurrency: int, stop: float, tag: str = "g",
                     channels: int = 1, timeout: float = 60.0) -> None:
    """``concurrency`` callers over ``channels`` grpc aio channels, raw stubs."""
    import grpc
    from a2a.types import a2a_pb2, a2a_pb2_grpc

    metadata = (("authorization", f"Bearer {TOKEN}"), ("a2a-version", "1.0"))
    completed = a2a_pb2.TaskState.TASK_STATE_COMPLETED
    chans = [grpc.aio.insecure_channel(address) for _ in range(channels)]
    services: Any = a2a_pb2_grpc  # generated, untyped
    stubs = [services.A2AServiceStub(ch) for ch in chans]

    async def worker(w: int) -> None:
        stub = stubs[w % len(stubs)]
        n = 0
        while time.perf_counter() < stop:
            n += 1
            request = a2a_pb2.SendMessageRequest(message=a2a_pb2.Message(
                message_id=f"{tag}-{w}-{n}", role=a2a_pb2.Role.ROLE_USER, parts=[a2a_pb2.Part(text="hi")]))
            t0 = time.perf_counter()
            try:
                resp = await stub.SendMessage(request, metadata=metadata, timeout=timeout)
                tally.record(t0, resp.task.status.state == completed, f"answer: {str(resp)[:200]}")
            except grpc.aio.AioRpcError as exc:
                tally.record(t0, False, f"{exc.code().name}: {exc.details()}")

    try:
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
    finally:
        for ch in chans:
            await ch.close()


async def _client_main(spec: dict[str, Any]) -> dict[str, Any]:
    start = time.perf_counter() + spec["warmup"]
    end = start + spec["seconds"]
    tally = Tally(start, end)
    cpu0, t0 = time.process_time(), time.perf_counter()
    tag = spec.get("tag", "c")
    if spec["transport"] == "jsonrpc":
        await drive_jsonrpc(spec["target"], tally, spec["concurrency"], end, tag=tag)
    else:
        await drive_grpc(spec["target"], tally, spec["concurrency"], end, tag=tag)
    cpu = time.process_time() - cpu0
    window = end - start
    return {"done": tally.done, "errors": tally.errors, "window": window, "first_error": tally.first_error,
            "latencies": tally.latencies, "client_cpu": cpu / (time.perf_counter() - t0)}


# -- a2a-sdk's server (child process) -------------------------------------------------


async def _sdk_server_main(out: IO[str]) -> None:
    import grpc
    from a2a.server.agent_execution import AgentExecutor, RequestContext
    from a2a.server.events import EventQueue
    from a2a.server.request_handlers import DefaultRequestHandler, GrpcHandler
    from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
    from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
    from a2a.types import a2a_pb2, a2a_pb2_grpc
    from starlette.applications import Starlette

    class Trivial(AgentExecutor):
        """Answers "ok" at once: the task, its artifact, completed."""

        async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
            assert context.message is not None and context.task_id and context.context_id
            if context.current_task is None:
                await event_queue.enqueue_event(a2a_pb2.Task(
                    id=context.task_id, context_id=context.context_id, history=[context.message],
                    status=a2a_pb2.TaskStatus(state=a2a_pb2.TaskState.TASK_STATE_SUBMITTED)))
            updater = TaskUpdater(event_queue, context.task_id, context.context_id)
            await updater.add_artifact([a2a_pb2.Part(text="ok")], name="answer")
            await updater.complete()

        async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
            raise NotImplementedError

    card = a2a_pb2.AgentCard(name="sdk-reference", description="a2a-sdk's server, trivial agent",
                             version="1.0", capabilities=a2a_pb2.AgentCapabilities(streaming=True))
    handler = DefaultRequestHandler(Trivial(), InMemoryTaskStore(), card)
    app = Starlette(routes=[*create_jsonrpc_routes(handler, "/"), *create_agent_card_routes(card)])
    rpc = grpc.aio.server()
    services: Any = a2a_pb2_grpc  # generated, untyped
    services.add_A2AServiceServicer_to_server(GrpcHandler(handler), rpc)
    grpc_port = rpc.add_insecure_port("127.0.0.1:0")
    await rpc.start()
    http_port, served_by, http_stop = await _serve_asgi(app)
    out.write(json.dumps({"http_url": f"http://127.0.0.1:{http_port}",
                          "grpc_address": f"127.0.0.1:{grpc_port}"}) + "\n" + served_by + "\n")
    out.flush()
    stopped = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    await stopped.wait()
    await http_stop()
    await rpc.stop(1)


async def _serve_asgi(app: Any) -> tuple[int, str, Callable[[], Any]]:
    """The Starlette app on aiohttp's server through a plain ASGI bridge."""
    from aiohttp import web

    async def bridge(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": request.method, "scheme": "http", "path": request.path,
                 "raw_path": request.raw_path.encode(), "query_string": request.query_string.encode(),
                 "root_path": "", "headers": [(k.lower(), v) for k, v in request.raw_headers],
                 "client": request.transport.get_extra_info("peername") if request.transport else None,
                 "server": None}
        sent = False
        response: web.StreamResponse | None = None
        disconnected = asyncio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await disconnected.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal response
            if message["type"] == "http.response.start":
                response = web.StreamResponse(status=message["status"], headers={
                    k.decode(): v.decode() for k, v in message.get("headers", [])})
                await response.prepare(request)
            elif message["type"] == "http.response.body" and response is not None:
                await response.write(message.get("body", b""))
                if not message.get("more_body"):
                    await response.write_eof()

        try:
            await app(scope, receive, send)
        finally:
            disconnected.set()
        assert response is not None
        return response

    web_app = web.Application()
    web_app.router.add_route("*", "/{tail:.*}", bridge)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return port, "aiohttp via an ASGI bridge", runner.cleanup


def _main(argv: list[str]) -> None:
    if argv[:1] == ["sdk-server"]:
        asyncio.run(_sdk_server_main(sys.stdout))
    elif argv[:1] == ["client"]:
        print(json.dumps(asyncio.run(_client_main(json.loads(argv[1])))))
    else:
        heading(NAME)
        run()


if __name__ == "__main__":
    _main(sys.argv[1:])
