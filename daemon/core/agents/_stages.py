"""Stages and the stage scheduler: a plan's dependencies become topological levels, and
each level's subtasks run in parallel under a concurrency cap.

Failure policy: a failed (or cancelled) subtask skips its transitive dependants, each
naming the failed dependency, and lets independent subtasks run on; with ``fail_fast``
the first failure cancels the running ones and skips everything not yet started.
Cancelling the caller's task cancels every running subtask, waits for each to end, and
marks it (and every one not started) cancelled, then re-raises: none is left running.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping

import msgspec

from ...wire.swarm import Plan, Subtask, SubtaskResult, SubtaskStatus, SwarmPhase, SwarmProgress
from ._plan import validate_plan

__all__ = ["ProgressCallback", "RunSubtask", "run_stages", "stages"]

log = logging.getLogger("codetether.daemon.swarm")

ProgressCallback = Callable[[SwarmProgress], Awaitable[None] | None]
"""Where progress goes (the bus, later); plain or async. Its errors are logged, never
raised into the swarm."""

RunSubtask = Callable[[Subtask, Mapping[str, SubtaskResult]], Awaitable[SubtaskResult]]
"""Runs one subtask, given its direct dependencies' results. An exception it raises
becomes a ``failed`` result carrying the exception's text."""


def _order(sub: Subtask) -> tuple[int, str]:
    return (-sub.priority, sub.name)


def stages(plan: Plan) -> list[list[str]]:
    """Topological levels of a validated plan (Kahn): level ``n`` holds the subtasks whose
    dependencies all lie in earlier levels; within a level, higher priority first, then
    by name. Raises ``ValueError`` on a cycle or an unknown dependency (validate first)."""
    by_name = {s.name: s for s in plan.subtasks}
    indegree = {s.name: len(set(s.dependencies)) for s in plan.subtasks}
    dependants: dict[str, list[str]] = {name: [] for name in by_name}
    for sub in plan.subtasks:
        for dep in set(sub.dependencies):
            if dep not in by_name:
                raise ValueError(f"subtask {sub.name!r} depends on unknown subtask {dep!r}")
            dependants[dep].append(sub.name)
    level = sorted((by_name[n] for n, d in indegree.items() if d == 0), key=_order)
    levels: list[list[str]] = []
    placed = 0
    while level:
        levels.append([s.name for s in level])
        placed += len(level)
        ready = []
        for sub in level:
            for child in dependants[sub.name]:
                indegree[child] -= 1
                if indegree[child] == 0:
                    ready.append(by_name[child])
        level = sorted(ready, key=_order)
    if placed != len(by_name):
        stuck = sorted(n for n, d in indegree.items() if d > 0)
        raise ValueError(f"dependency cycle among subtasks {stuck}")
    return levels


class _Run:
    """One scheduling pass. ``results`` is the caller's live map (prior results in, each
    new one written as it lands); ``tasks`` the running subtasks, touched only by the
    scheduler's own coroutine."""

    def __init__(self, plan: Plan, run_subtask: RunSubtask, results: MutableMapping[str, SubtaskResult],
                 max_concurrency: int, progress: ProgressCallback | None, swarm_id: str) -> None:
        self.by_name = {s.name: s for s in plan.subtasks}
        self.dependants: dict[str, set[str]] = {n: set() for n in self.by_name}
        for sub in plan.subtasks:
            for dep in sub.dependencies:
                self.dependants[dep].add(sub.name)
        self.run_subtask = run_subtask
        self.results = results
        self.sem = asyncio.Semaphore(max_concurrency)
        self.progress = progress
        self.swarm_id = swarm_id
        self.tasks: dict[str, asyncio.Task[SubtaskResult]] = {}
        self.started: set[str] = set()  # past the semaphore: running, not just waiting
        self.stopped_by: str | None = None  # the subtask whose failure stopped a fail-fast run

    async def emit(self, phase: SwarmPhase, subtask: str | None = None, detail: str = "") -> None:
        if self.progress is None:
            return
        event = SwarmProgress(swarm_id=self.swarm_id, phase=phase, subtask=subtask, detail=detail, ts=time.time())
        try:
            maybe = self.progress(event)
            if inspect.isawaitable(maybe):
                await maybe
        except Exception:  # a broken listener must not break the swarm
            log.exception("swarm %s: progress callback failed", self.swarm_id)

    async def record(self, result: SubtaskResult) -> None:
        self.results[result.name] = result
        await self.emit(result.status, result.name, result.error or "")

    async def end(self, name: str, status: SubtaskStatus, error: str) -> None:
        now = time.time()
        await self.record(SubtaskResult(name=name, status=status, error=error, finished_at=now))

    async def one(self, sub: Subtask) -> SubtaskResult:
        """Run one subtask under the cap and record its result before the slot is freed, so
        watchers see it end before the next one starts."""
        async with self.sem:
            self.started.add(sub.name)
            await self.emit("started", sub.name)
            started = time.time()
            deps = {d: self.results[d] for d in sub.dependencies if d in self.results}
            try:
                result = await self.run_subtask(sub, deps)
            except Exception as exc:
                result = SubtaskResult(name=sub.name, status="failed", error=f"{type(exc).__name__}: {exc}",
                                       started_at=started, finished_at=time.time())
            changes: dict[str, object] = {}
            if result.name != sub.name:
                changes["name"] = sub.name
            if result.started_at is None:
                changes["started_at"] = started
            if result.finished_at is None:
                changes["finished_at"] = time.time()
            if changes:
                result = msgspec.structs.replace(result, **changes)
            await self.record(result)
            return result

    async def skip_dependants(self, failed: str) -> None:
        """Skip every transitive dependant of ``failed`` that has no result yet."""
        todo, seen = sorted(self.dependants[failed]), set()
        while todo:
            name = todo.pop(0)
            if name in seen:
                continue
            seen.add(name)
            if name not in self.results:
                await self.end(name, "skipped", f"dependency {failed!r} {self.results[failed].status}")
            todo.extend(sorted(self.dependants[name]))

    async def stop_running(self, status: SubtaskStatus, why: str) -> None:
        """Cancel every running subtask and wait until each has ended; one that still
        finished keeps its own result, the others end ``status``."""
        for task in self.tasks.values():
            task.cancel()
        pending = set(self.tasks.values())
        while pending:
            try:
                _, pending = await asyncio.wait(pending)
            except asyncio.CancelledError:
                for task in pending:  # cancelled again while waiting: keep waiting
                    task.cancel()
        for name, task in sorted(self.tasks.items()):
            if not task.cancelled() and task.exception() is None:
                await self.record(task.result())
            else:
                await self.end(name, status, why if name in self.started else f"{why} before it started")
        self.tasks.clear()

    async def stage(self, names: list[str], fail_fast: bool) -> bool:
        """Run one level; False when fail-fast stopped the swarm."""
        todo = [n for n in names if n not in self.results]
        if not todo:
            return True
        await self.emit("stage", detail=", ".join(todo))
        for name in todo:
            self.tasks[name] = asyncio.create_task(self.one(self.by_name[name]),
                                                   name=f"swarm:{self.swarm_id}:{name}")
        while self.tasks:
            done, _ = await asyncio.wait(self.tasks.values(), return_when=asyncio.FIRST_COMPLETED)
            for name in [n for n, t in self.tasks.items() if t in done]:
                task = self.tasks.pop(name)
                if task.cancelled():
                    result = SubtaskResult(name=name, status="cancelled", error="the subtask was cancelled",
                                           finished_at=time.time())
                    await self.record(result)
                else:
                    result = task.result()  # recorded by one()
                if result.status == "done":
                    continue
                if fail_fast:
                    self.stopped_by = name
                    await self.stop_running("cancelled", f"fail-fast: subtask {name!r} {result.status}")
                    return False
                await self.skip_dependants(name)
        return True


async def run_stages(plan: Plan, run_subtask: RunSubtask, *, max_concurrency: int, fail_fast: bool = False,
                     progress: ProgressCallback | None = None,
                     results: MutableMapping[str, SubtaskResult] | None = None,
                     swarm_id: str = "") -> dict[str, SubtaskResult]:
    """Run a validated plan stage by stage; return every subtask's result.

    ``results`` holds prior results (a resumed swarm): a ``done`` one is kept and not run
    again, any other (or one naming no subtask of the plan) is dropped and its subtask
    runs again. The map is updated in place as results land, so a caller that is
    cancelled still holds every outcome. An invalid plan raises ``PlanError``.
    """
    if max_concurrency < 1:
        raise ValueError("max_concurrency must be at least 1")
    validate_plan(plan)
    levels = stages(plan)
    live: MutableMapping[str, SubtaskResult] = results if results is not None else {}
    names = {s.name for s in plan.subtasks}
    for name in [n for n, r in live.items() if r.status != "done" or n not in names]:
        del live[name]
    run = _Run(plan, run_subtask, live, max_concurrency, progress, swarm_id)
    try:
        for level in levels:
            if not await run.stage(level, fail_fast):
                break
    except asyncio.CancelledError:
        await run.stop_running("cancelled", "the swarm was cancelled")
        for level in levels:
            for name in level:
                if name not in live:
                    await run.end(name, "cancelled", "the swarm was cancelled before it started")
        raise
    for level in levels:
        for name in level:
            if name not in live:  # only after fail-fast
                await run.end(name, "skipped", f"fail-fast: subtask {run.stopped_by!r} did not finish")
    return dict(live)
