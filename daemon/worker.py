"""``codetether worker``: join the cluster and run subtasks that daemons queue on NATS.

``python -m codetether.daemon worker --bus nats://HOST:4222 [--name N] [--workspace DIR]
[--max-concurrent K] [--port P | --no-http-server] [--json]``

The process composes an App under its own ``CODETETHER_HOME`` (its config names its
models and its approval mode), a NatsBus, a :class:`~codetether.daemon.core.cluster.Worker`
and, unless ``--no-http-server``, probes on ``127.0.0.1:P``: ``/health`` (the process
is up), ``/ready`` (registered and pulling; 503 before and while stopping) and
``/worker/status`` (its card and the items it runs). With ``--json`` it prints one
line ``{"http_url", "name", "id"}`` once ready: a launcher's handshake.

Each item runs in a temporary git worktree of ``--workspace`` (a clone of the
daemon's repository) at the item's base commit: a commit the clone does not have
is fetched once from the clone's remotes; still missing, it fails the item, saying so. The agent runs there as a
session of the worker's App, in the narrower of the item's mode and the worker's
configured one; what it changed is committed and sent back as ``git format-patch
--stdout base..HEAD``; the worktree is removed.

SIGTERM or SIGINT: stop pulling, give back the items in flight (another worker takes
them at once), deregister, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, Unavailable

if TYPE_CHECKING:
    from aiohttp import web

    from .app import App
    from .core.cluster import Progress, Worker
    from .wire.cluster import WorkItem, WorkResult

__all__ = ["WorkerOptions", "main", "run_worker"]

log = logging.getLogger("codetether.worker")

_IDENTITY = ("-c", "user.name=codetether worker", "-c", "user.email=worker@codetether.invalid")


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """The worker's flags (see the module doc); ``ack_wait`` and ``heartbeat`` in seconds."""

    bus: str
    name: str
    workspace: Path
    max_concurrent: int = 1
    port: int | None = 8080
    print_json: bool = False
    ack_wait: float = 30.0
    heartbeat: float = 3.0
    worker_ttl: float = 15.0


def _inside(tree: Path, subdir: str) -> Path:
    """The item's folder in the worktree; a folder off the wire that leads outside it (an
    absolute path, ``..``, a link) fails the item instead of moving the agent there."""
    if not subdir:
        return tree
    root = tree.resolve()
    where = (tree / subdir).resolve()
    if where != root and root not in where.parents:
        raise GitFailed(f"the folder {subdir!r} is outside the worktree")
    return where


class GitFailed(Exception):
    """A git command of the worker failed (its words in the message)."""


async def _git(cwd: Path, *args: str, check: bool = True) -> tuple[int, str]:
    """``git -C cwd args`` (core.agents' one runner): exit code and stdout; with ``check``
    a failure is :class:`GitFailed` in git's words."""
    from .core.agents import git

    result = await git(cwd, *args, check=False)
    if check and result.code != 0:
        raise GitFailed(f"git {' '.join(args[:2])} failed: {result.err.strip()}")
    return result.code, result.out


def executor(app: App, options: WorkerOptions) -> Any:
    """The worker's ``execute``: one item in a temporary worktree (see the module doc)."""
    from .api._runs import run_session
    from .api.cluster import narrower_mode
    from .core.agents import AgentOutcome
    from .wire.cluster import WorkResult
    from .wire.events import ApprovalRequested, SessionEvent, ToolCallStart

    workspace = options.workspace
    scratch = app.paths.data_dir / "worktrees"

    async def execute(item: WorkItem, progress: Progress) -> WorkResult:
        base = item.base_commit or "HEAD"
        code, out = await _git(workspace, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}", check=False)
        if code != 0:  # not here yet: one fetch from the clone's remotes (fails fast offline)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(60):
                    await _git(workspace, "fetch", "--quiet", "--all", check=False)
            code, out = await _git(workspace, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}", check=False)
        if code != 0:
            return WorkResult(id=item.id, status="failed", stop_reason="error", error=(
                f"base commit {base} is not in this worker's workspace {workspace}, nor in its remotes: "
                "push it where the worker's clone fetches from"))
        base = out.strip()
        scratch.mkdir(parents=True, exist_ok=True)
        tree = Path(tempfile.mkdtemp(prefix="work-", dir=scratch))
        try:
            await _git(workspace, "worktree", "add", "--quiet", "--detach", str(tree), base)
            where = _inside(tree, item.subdir)
            if not where.is_dir():
                raise GitFailed(f"the folder {item.subdir} is not in commit {base[:12]}")
            mode = narrower_mode(item.mode or "plan", app.config.permissions.mode)

            async def on_event(event: SessionEvent) -> None:
                if isinstance(event, ToolCallStart):
                    await progress("agent", event.name)
                elif isinstance(event, ApprovalRequested):
                    # Fail closed: nobody is at a worker to say yes (as for an A2A task).
                    app.approvals.decide(event.approval_id, "deny", by=f"worker:{options.name}",
                                         reason="nobody at the worker can approve; run the swarm in auto mode "
                                                "or grant the rule in the worker's config")

            outcome: AgentOutcome = await run_session(
                app, where=where, prompt=item.prompt, mode=mode, title=f"work {item.swarm_id}: {item.subtask or item.id}",
                model=item.model or None, on_event=on_event, principal=f"worker:{options.name}")
            await _git(tree, "add", "-A")
            staged, _ = await _git(tree, "diff", "--cached", "--quiet", check=False)
            if staged == 1:
                named, _ = await _git(tree, "config", "user.email", check=False)
                who = () if named == 0 else _IDENTITY
                await _git(tree, *who, "-c", "commit.gpgSign=false", "commit", "--quiet", "--no-verify",
                           "-m", f"codetether worker {options.name}: {item.subtask or item.id}")
            _, patch = await _git(tree, "format-patch", "--stdout", "--binary", f"{base}..HEAD")
            ok = outcome.stop_reason in ("end_turn", "max_steps")
            return WorkResult(id=item.id, status="completed" if ok else "failed", text=outcome.text,
                              stop_reason=outcome.stop_reason, steps=outcome.steps, tokens_in=outcome.tokens_in,
                              tokens_out=outcome.tokens_out, patch=patch,
                              error="" if ok else f"the agent stopped: {outcome.stop_reason}")
        except GitFailed as exc:
            return WorkResult(id=item.id, status="failed", stop_reason="error", error=str(exc))
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(_git(workspace, "worktree", "remove", "--force", str(tree), check=False))
            with contextlib.suppress(OSError):
                os.rmdir(tree)  # left when the add failed

    return execute


def _probes(worker: Worker) -> web.Application:
    import msgspec
    from aiohttp import web

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"ok": True, "name": worker.name, "id": worker.id})

    async def ready(_: web.Request) -> web.Response:
        from .core.cluster import WorkerState

        ok = worker.ready.is_set() and worker.state is WorkerState.RUNNING
        return web.json_response({"ready": ok}, status=200 if ok else 503)

    async def status(_: web.Request) -> web.Response:
        items = [msgspec.to_builtins(item) for item in worker.items.values()]
        for item in items:
            item.pop("prompt", None)  # the status is for watching, not for reading the work
        return web.json_response({"card": msgspec.to_builtins(worker.card()), "state": worker.state.value,
                                  "items": items, "done": worker.done})

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/worker/status", status)
    return app


async def run_worker(options: WorkerOptions) -> int:
    """Run the worker until SIGTERM/SIGINT (see the module doc); the exit code."""
    from aiohttp import web

    from . import __version__
    from .app import App
    from .core.bus import NatsBus
    from .core.cluster import ClusterLink, Worker
    from .core.config import load_config
    from .core.providers import ModelResolver
    from .core.secrets import SecretStore
    from .paths import get_paths

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    paths = get_paths()
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(paths.data_dir, 0o700)
    loaded = load_config(paths.config_file)
    app = App(paths, loaded, ModelResolver(loaded.config, SecretStore(loaded.config.secrets)))
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(app.aclose)
        bus = NatsBus(options.bus, name=f"codetether-worker-{options.name}")
        await bus.start()
        stack.push_async_callback(bus.close)
        link = ClusterLink(options.bus, worker_ttl=options.worker_ttl, name=f"codetether-worker-{options.name}")
        await link.start()
        stack.push_async_callback(link.close)
        worker = Worker(link, bus, executor(app, options), name=options.name, workspace=str(options.workspace),
                        max_concurrent=options.max_concurrent, heartbeat=options.heartbeat,
                        ack_wait=options.ack_wait, version=__version__)
        await worker.start()
        http_url = None
        if options.port is not None:
            runner = web.AppRunner(_probes(worker), access_log=None)
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            site = web.TCPSite(runner, "127.0.0.1", options.port)
            try:
                await site.start()
            except OSError as exc:
                raise ConfigError(f"the worker's probes cannot listen on port {options.port}: "
                                  f"{exc.strerror or exc}") from exc
            http_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        # First to run at exit: give the items back and deregister, while the app (whose
        # sessions run them) is still open; probes answer "not ready" meanwhile.
        stack.push_async_callback(worker.stop)
        log.info("worker %s (%s) pulling from %s", worker.name, worker.id, options.bus)
        if options.print_json:
            print(json.dumps({"http_url": http_url, "name": worker.name, "id": worker.id}), flush=True)
        await stop.wait()
        log.info("worker %s stopping", worker.name)
    return 0


def _options(argv: list[str]) -> WorkerOptions:
    parser = argparse.ArgumentParser(prog="codetether worker", description=(
        "Join the cluster: pull subtasks from NATS JetStream and run them in a clone of the repository."))
    parser.add_argument("command", choices=["worker"])
    parser.add_argument("--bus", required=True, help="the NATS server, nats://HOST:4222")
    parser.add_argument("--name", default=socket.gethostname(), help="the worker's name (default: the host's)")
    parser.add_argument("--workspace", default=".", help="a git clone of the daemon's repository (default .)")
    parser.add_argument("--max-concurrent", type=int, default=1, help="subtasks at once (default 1)")
    parser.add_argument("--port", type=int, default=8080, help="probe port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--no-http-server", action="store_true", help="no probes")
    parser.add_argument("--json", action="store_true", help='print {"http_url","name","id"} once ready')
    parser.add_argument("--ack-wait", type=float, default=30.0,
                        help="seconds a dead worker's claim lasts before its item is redelivered")
    parser.add_argument("--heartbeat", type=float, default=3.0, help="seconds between heartbeats")
    args = parser.parse_args(argv)
    if args.max_concurrent < 1:
        parser.error("--max-concurrent must be at least 1")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be a port number (0 for any free port)")
    if args.ack_wait < 1 or args.heartbeat <= 0:
        parser.error("--ack-wait must be at least 1 s and --heartbeat positive")
    workspace = Path(args.workspace).expanduser().resolve()
    if not workspace.is_dir():
        parser.error(f"--workspace {args.workspace} is not a directory")
    return WorkerOptions(bus=args.bus, name=args.name, workspace=workspace, max_concurrent=args.max_concurrent,
                         port=None if args.no_http_server else args.port, print_json=args.json,
                         ack_wait=args.ack_wait, heartbeat=args.heartbeat,
                         worker_ttl=max(15.0, 3 * args.heartbeat))


def main(argv: list[str] | None = None) -> int:
    """``python -m codetether.daemon worker ...``."""
    options = _options(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        return asyncio.run(run_worker(options))
    except (ConfigError, Unavailable) as exc:
        print(f"codetether worker: {exc.message}", file=sys.stderr, flush=True)
        return 5
