"""Workers on other hosts, from the daemon's side: ``cluster/workers`` lists the live
workers, :func:`cluster_agent` runs a swarm's subtasks on them, and
a worker runs its items with :func:`~._runs.run_session`.

A subtask sent to the cluster becomes a :class:`~codetether.daemon.wire.cluster.WorkItem`
(prompt, mode, model, the swarm's base commit, the workspace's folder in the repository).
The worker's claim and each tool it runs come back as the same ``SwarmProgress`` events
a local subtask makes (phase ``agent``: ``worker NAME``, then the tool names); its
patch (``git format-patch``) is applied in the subtask's worktree with ``git am
--3way``, so the swarm's own commit and merge-back follow as for a local subtask. A
patch that does not apply fails the subtask with git's reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from ..app import App
from ..core.agents import AgentOutcome, RunAgent, slug
from ..core.approvals import MODE_RANK
from ..core.bus import Bus, NatsBus, State
from ..core.cluster import ClusterDispatcher, ClusterLink
from ..errors import CodetetherError, InvalidParams, ToolFailure
from ..wire.bus import BusEnvelope, BusMessage, SwarmEvent, TaskUpdate
from ..wire.cluster import WorkerCard, WorkersParams, WorkItem
from ..wire.swarm import Subtask, SwarmProgress, SwarmState
from ._context import CallContext
from ._table import Method

__all__ = ["ClusterAPI", "cluster_agent", "narrower_mode"]

Publish = Callable[[SwarmProgress], Awaitable[None] | None]


class ClusterAPI:
    """``cluster/workers``: the workers registered on the configured NATS server."""

    def __init__(self, app: App) -> None:
        self.app = app

    def methods(self) -> list[Method]:
        """The ``cluster/*`` methods this domain serves."""
        return [Method("cluster/workers", self.on_cluster_workers, WorkersParams, list[WorkerCard],
                       when_broken=True)]

    async def on_cluster_workers(self, _p: WorkersParams, _ctx: CallContext) -> list[WorkerCard]:
        """The live workers' cards (none without ``[bus] url``)."""
        url = self.app.config.bus.url
        if not url:
            return []
        link = ClusterLink(url)
        await link.start()
        try:
            return await link.workers()
        finally:
            await link.close()


def narrower_mode(a: str, b: str) -> str:
    """The narrower of two approval modes (plan < ask < auto)."""
    return a if MODE_RANK.get(a, 0) <= MODE_RANK.get(b, 0) else b


@contextlib.asynccontextmanager
async def _connected(app: App) -> AsyncIterator[ClusterDispatcher]:
    """A dispatcher over the app's NATS bus when it has one open, else a bus of our own;
    the JetStream link is ours either way (both closed at the end)."""
    url = app.config.bus.url
    if not url:
        raise InvalidParams('execution "cluster" needs a NATS bus: set [bus] url = "nats://..."')
    own: Bus | None = None
    bus: Any = getattr(app, "bus", None)
    if not (isinstance(bus, NatsBus) and bus.state is State.OPEN):
        own = bus = NatsBus(url, name="codetether-swarm")
        await own.start()
    link = ClusterLink(url, name="codetether-swarm")
    try:
        await link.start()
        yield ClusterDispatcher(link, bus, sender_id=f"daemon-{os.getpid()}")
    finally:
        await link.close()
        if own is not None:
            await own.close()


def cluster_agent(app: App, state: SwarmState, progress: Publish, subdir: str) -> RunAgent:
    """Run each subtask on a worker (see the module doc)."""

    async def emit(name: str, detail: str) -> None:
        out = progress(SwarmProgress(swarm_id=state.id, phase="agent", subtask=name, detail=detail,
                                     ts=time.time()))
        if out is not None:
            await out

    async def run_agent(sub: Subtask, where: Path, prompt: str, mode: str) -> AgentOutcome:
        # The subtask's worktree was made at the swarm's base commit (``state`` here is
        # the swarm's first state: the Swarm keeps its later ones), so ask git.
        base = await _head(where)
        item = WorkItem(id=f"{state.id}-{slug(sub.name)}-{os.urandom(3).hex()}", swarm_id=state.id,
                        subtask=sub.name, prompt=prompt, mode=mode, model=state.model or "", base_commit=base,
                        repo=state.workspace, subdir=subdir, timeout=float(app.config.swarm.subtask_timeout),
                        created_at=time.time())

        async def on_progress(message: BusMessage, envelope: BusEnvelope) -> None:
            if isinstance(message, TaskUpdate) and message.state == "TASK_STATE_WORKING":
                await emit(sub.name, f"worker {(message.metadata or {}).get('worker', envelope.sender_id)}")
            elif isinstance(message, SwarmEvent) and message.phase == "agent":
                await emit(sub.name, message.detail)

        try:
            async with _connected(app) as dispatcher:
                result = await dispatcher.run(item, on_progress)
        except CodetetherError as exc:
            return AgentOutcome(text=exc.message, stop_reason="error")
        worker = f" (on worker {result.worker})" if result.worker else ""
        if result.status != "completed":
            return AgentOutcome(text=(result.error or result.text or result.status) + worker,
                                stop_reason=result.stop_reason or "error", steps=result.steps,
                                tokens_in=result.tokens_in, tokens_out=result.tokens_out)
        if result.patch.strip():
            if where == Path(state.workspace) or not base:  # read-only, or no git: nothing may change
                return AgentOutcome(text=f"worker {result.worker} changed files, but this subtask has no "
                                         "worktree to take them", stop_reason="error")
            try:
                await apply_patch(where, result.patch)
            except ToolFailure as exc:
                return AgentOutcome(text=f"the patch from worker {result.worker} does not apply: {exc.message}",
                                    stop_reason="error", steps=result.steps)
        return AgentOutcome(text=result.text, stop_reason=result.stop_reason or "end_turn", steps=result.steps,
                            tokens_in=result.tokens_in, tokens_out=result.tokens_out,
                            session_id=f"{result.worker}:{result.id}")

    return run_agent


async def _head(where: Path) -> str:
    proc = await asyncio.create_subprocess_exec(
        "git", "-C", str(where), "rev-parse", "--verify", "--quiet", "HEAD^{commit}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    out, _ = await proc.communicate()
    return out.decode().strip() if proc.returncode == 0 else ""


_IDENTITY = {"GIT_COMMITTER_NAME": "codetether swarm", "GIT_COMMITTER_EMAIL": "swarm@codetether.invalid"}


async def apply_patch(where: Path, patch: str) -> None:
    """``git am --3way`` the patch into the work tree ``where`` (aborted when it fails)."""
    env = {**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_EDITOR": "true"}
    for key, value in _IDENTITY.items():
        env.setdefault(key, value)
    proc = await asyncio.create_subprocess_exec(
        "git", "-C", str(where), "-c", "commit.gpgSign=false", "am", "--3way", "--keep-cr", "--no-gpg-sign",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
    out, err = await proc.communicate(patch.encode())
    if proc.returncode != 0:
        abort = await asyncio.create_subprocess_exec(
            "git", "-C", str(where), "am", "--abort", stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, env=env)
        await abort.wait()
        raise ToolFailure((err.decode(errors="replace").strip() or out.decode(errors="replace").strip())[-2000:])
