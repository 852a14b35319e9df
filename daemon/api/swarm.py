"""``swarm/*``: decompose a task into stages of parallel sub-agents and run it.

``swarm/start`` and ``swarm/resume`` are streams: ``swarm/event`` notes as the swarm
moves, then its final state. The swarm runs in its own task; a caller that goes away
cancels it (its state is saved ``cancelled``; ``swarm/resume`` goes on), as does
``swarm/cancel`` from any client. Every progress event is also published on the bus
topic ``swarm.{id}`` when the app has a bus.

Each subtask runs as a session of its own (titled ``swarm <id>: <name>``) through the
same run path as a prompt, in the subtask's worktree or read-only in the workspace
(see :mod:`codetether.daemon.core.agents`); its approval requests are announced as
``approval`` events, decided by id like any other. With ``execution = "cluster"``
subtasks go to workers over the bus instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from pathlib import Path

from ..app import App
from ..core.agents import AgentOutcome, RunAgent, Swarm, SwarmStore, Worktrees, new_swarm_id
from ..core.approvals import refuse_wider_mode
from ..core.bus import swarm_topic
from ..errors import Conflict, InvalidParams, NotFound, Unavailable
from ..wire import api
from ..wire.bus import SwarmEvent
from ..wire.events import ApprovalRequested, SessionEvent, ToolCallStart
from ..wire.swarm import (
    Subtask,
    SwarmEventNote,
    SwarmIdParams,
    SwarmListParams,
    SwarmProgress,
    SwarmStartParams,
    SwarmState,
)
from ._context import CallContext
from ._runs import chat_model, run_session
from ._table import Method
from .cluster import cluster_agent

__all__ = ["SwarmAPI"]

log = logging.getLogger("codetether.swarm")

Publish = Callable[[SwarmProgress], Awaitable[None] | None]


class SwarmAPI:
    """Start, resume, watch and cancel swarms (see the module docstring)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.store = SwarmStore(app.paths.data_dir / "swarms")
        self.running: dict[str, asyncio.Task[SwarmState]] = {}
        #: Swarms a caller is starting or resuming (claimed before any await, so two resumes
        #: of one swarm cannot both pass the check and run it twice).
        self._claimed: set[str] = set()
        #: Listeners of every swarm's progress: the bus (``swarm.{id}``) first.
        self.listeners: list[Publish] = [self._to_bus]

    async def _to_bus(self, event: SwarmProgress) -> None:
        await self.app.publish(swarm_topic(event.swarm_id), SwarmEvent(
            swarm_id=event.swarm_id, phase=event.phase, subtask=event.subtask or "", detail=event.detail),
            sender_id=f"swarm:{event.swarm_id}")

    def methods(self) -> list[Method]:
        """The ``swarm/*`` methods this domain serves."""
        return [
            Method("swarm/start", self.on_swarm_start, SwarmStartParams, SwarmState, streaming=True),
            Method("swarm/resume", self.on_swarm_resume, SwarmIdParams, SwarmState, streaming=True),
            Method("swarm/status", self.on_swarm_status, SwarmIdParams, SwarmState, when_broken=True),
            Method("swarm/list", self.on_swarm_list, SwarmListParams, list[SwarmState], when_broken=True),
            Method("swarm/cancel", self.on_swarm_cancel, SwarmIdParams, api.Cancelled, when_broken=True),
        ]

    async def on_swarm_start(self, p: SwarmStartParams, ctx: CallContext,
                             ) -> AsyncGenerator[SwarmEventNote | SwarmState, None]:
        """Plan ``task``, run its subtasks stage by stage, merge, answer (a stream)."""
        workspace = _directory(p.workspace)
        config = self.app.config
        refuse_wider_mode(ctx, p.approval_mode, config.permissions.mode)
        if p.model:
            self.app.models.resolve(p.model)  # an unknown model fails now, not mid-swarm
        execution = p.execution or config.swarm.execution
        if execution == "cluster" and not config.bus.url:
            raise InvalidParams('execution "cluster" needs a NATS bus: set [bus] url = "nats://..."',
                                data={"field": "execution"})
        now = time.time()
        state = SwarmState(
            id=new_swarm_id(), task=p.task, strategy=p.strategy, max_subagents=p.max_subagents,
            workspace=str(workspace), approval_mode=p.approval_mode or config.permissions.mode,
            model=p.model, execution=execution,
            concurrency=min(p.concurrency or p.max_subagents, config.swarm.max_concurrency),
            fail_fast=p.fail_fast, created_at=now, updated_at=now)
        self.store.save(state)
        async for item in self._drive(state, ctx, p.env):
            yield item

    async def on_swarm_resume(self, p: SwarmIdParams, ctx: CallContext,
                              ) -> AsyncGenerator[SwarmEventNote | SwarmState, None]:
        """Go on with a swarm that was cancelled, failed or cut short by a restart: its
        plan is kept and finished subtasks are not run again (a stream)."""
        state = self.store.get(p.swarm_id)
        if p.swarm_id in self.running or p.swarm_id in self._claimed:
            raise Conflict(f"swarm {p.swarm_id} is running", data={"swarm_id": p.swarm_id})
        refuse_wider_mode(ctx, state.approval_mode, self.app.config.permissions.mode)
        async for item in self._drive(state, ctx, p.env):
            yield item

    async def on_swarm_status(self, p: SwarmIdParams, _ctx: CallContext) -> SwarmState:
        """A swarm's state as last saved (live while it runs)."""
        return self.store.get(p.swarm_id)

    async def on_swarm_list(self, p: SwarmListParams, _ctx: CallContext) -> list[SwarmState]:
        """Swarms, newest first."""
        return self.store.list()[: p.limit]

    async def on_swarm_cancel(self, p: SwarmIdParams, _ctx: CallContext) -> api.Cancelled:
        """Cancel a running swarm: every running subtask stops, its state is saved."""
        task = self.running.get(p.swarm_id)
        if task is None:
            self.store.get(p.swarm_id)  # NotFound for an unknown id
            return api.Cancelled(cancelled=False)
        task.cancel()
        return api.Cancelled(cancelled=True)

    # -- running one ------------------------------------------------------------------

    async def _drive(self, state: SwarmState, ctx: CallContext, env: dict[str, str],
                     ) -> AsyncGenerator[SwarmEventNote | SwarmState, None]:
        if self.app.stopping:
            raise Unavailable("the daemon is shutting down")
        self._claimed.add(state.id)  # with the caller's check, before any await
        try:
            async for item in self._drive_claimed(state, ctx, env):
                yield item
        finally:
            self._claimed.discard(state.id)

    async def _drive_claimed(self, state: SwarmState, ctx: CallContext, env: dict[str, str],
                             ) -> AsyncGenerator[SwarmEventNote | SwarmState, None]:
        queue: asyncio.Queue[SwarmProgress | None] = asyncio.Queue()
        listeners = list(self.listeners)

        async def progress(event: SwarmProgress) -> None:
            queue.put_nowait(event)
            for listener in listeners:
                try:
                    out = listener(event)
                    if out is not None:
                        await out
                except Exception:  # noqa: BLE001 - a listener must not stop the swarm
                    log.exception("swarm %s: a progress listener failed", state.id)

        swarm = await self._swarm(state, env, progress)
        task = asyncio.create_task(swarm.run(), name=f"swarm:{state.id}")
        self.running[state.id] = task
        self.app.add_job(task)

        def ended(_: object) -> None:
            if self.running.get(state.id) is task:
                del self.running[state.id]
            queue.put_nowait(None)

        task.add_done_callback(ended)
        try:
            while (event := await queue.get()) is not None:
                yield SwarmEventNote(event=event)
            if not task.cancelled() and task.exception() is not None:
                log.info("swarm %s failed: %s", state.id, task.exception())
            yield swarm.state
        finally:
            if not task.done():  # the caller went away: the swarm stops, resumable
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(asyncio.wait([task]))

    async def _swarm(self, state: SwarmState, env: dict[str, str], progress: Publish) -> Swarm:
        workspace = _directory(state.workspace, gone=True)
        worktrees, subdir = await _worktrees(workspace, self.app.paths.data_dir / "worktrees")
        run_agent = self._local_agent(state, env, progress, subdir)
        if state.execution == "cluster":
            run_agent = self._cluster_agent(state, progress, subdir)
        return Swarm(state, store=self.store, model=chat_model(self.app, state.model, env), run_agent=run_agent,
                     workspace=workspace, worktrees=worktrees, mode=state.approval_mode,
                     max_concurrency=max(1, state.concurrency or self.app.config.swarm.max_concurrency),
                     fail_fast=state.fail_fast, progress=progress)

    def _local_agent(self, state: SwarmState, env: dict[str, str], progress: Publish, subdir: str) -> RunAgent:
        """A subtask as a session of this daemon, run to its end (bounded by the timeout)."""
        app = self.app

        async def run_agent(sub: Subtask, where: Path, prompt: str, mode: str) -> AgentOutcome:
            where = where / subdir if subdir and where != Path(state.workspace) else where

            async def on_event(event: SessionEvent) -> None:
                await self._relay(state.id, sub.name, event, progress)

            try:
                async with asyncio.timeout(app.config.swarm.subtask_timeout):
                    return await run_session(
                        app, where=where, prompt=prompt, mode=mode, title=f"swarm {state.id}: {sub.name}",
                        model=state.model, env=env, on_event=on_event, principal=f"swarm:{state.id}",
                        state={"swarm": {"id": state.id, "subtask": sub.name}})
            except TimeoutError:
                return AgentOutcome(text="stopped: over the subtask time limit", stop_reason="timeout")

        return run_agent

    @staticmethod
    async def _relay(swarm_id: str, name: str, event: SessionEvent, progress: Publish) -> None:
        if isinstance(event, ApprovalRequested):
            out = progress(SwarmProgress(swarm_id=swarm_id, phase="approval", subtask=name, ts=time.time(),
                                         detail=f"{event.approval_id} {event.tool} {event.subject}"))
            if out is not None:
                await out
        elif isinstance(event, ToolCallStart):
            out = progress(SwarmProgress(swarm_id=swarm_id, phase="agent", subtask=name, detail=event.name,
                                         ts=time.time()))
            if out is not None:
                await out

    def _cluster_agent(self, state: SwarmState, progress: Publish, subdir: str) -> RunAgent:
        """A subtask as a work item for the workers on NATS (see :mod:`.cluster`)."""
        return cluster_agent(self.app, state, progress, subdir)


async def _worktrees(workspace: Path, base_dir: Path) -> tuple[Worktrees | None, str]:
    """The repository's worktrees when ``workspace`` is in a git work tree with a commit,
    and the workspace's path inside it; (None, "") otherwise."""
    proc = await asyncio.create_subprocess_exec(
        "git", "-C", str(workspace), "rev-parse", "--show-toplevel", "--verify", "HEAD",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        return None, ""
    top = _directory(out.decode().splitlines()[0])
    rel = workspace.relative_to(top)
    return Worktrees(top, base_dir), "" if str(rel) == "." else str(rel)


def _directory(path: str, *, gone: bool = False) -> Path:
    """``path`` resolved, if it is an existing absolute directory."""
    where = Path(path).expanduser()
    if not where.is_absolute() or not where.is_dir():
        if gone:
            raise NotFound(f"the swarm's workspace {path} is gone")
        raise InvalidParams(f"workspace {path!r} is not an existing absolute directory",
                            data={"field": "workspace"})
    return where.resolve()
