"""A swarm from start to end: plan, stages of parallel subtasks, merge-back, synthesis.

:class:`Swarm` drives one swarm's state through ``planning -> running -> synthesizing
-> completed`` (or ``failed`` / ``cancelled``), saving it to the :class:`SwarmStore`
after every change, so ``swarm status`` reads it any time and ``swarm resume`` picks it
up after a restart: the plan is kept, ``done`` subtasks are not run again, the merge
and the synthesis happen once.

Where a subtask runs is injected (:data:`RunAgent`): a child agent session in the
daemon, or a worker on another host. A subtask that changes files (``needs_worktree``)
runs in its own git worktree and branch, created from the swarm's base commit; one
that does not runs read-only (``plan`` mode) in the main workspace, so a plan that
says a subtask changes nothing cannot be used to change the main tree unmerged. In a
workspace that is not a git repository every subtask runs in the workspace itself, in
the caller's mode, and there is nothing to merge.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import msgspec

from ...wire.swarm import Plan, Subtask, SubtaskResult, SwarmPhase, SwarmProgress, SwarmState
from ._git import GitError
from ._plan import ChatModel, plan_subtasks
from ._stages import ProgressCallback, run_stages, stages
from ._store import SwarmStore
from ._worktrees import Worktrees

__all__ = ["AgentOutcome", "RunAgent", "Swarm", "subtask_prompt", "synthesis_prompt"]

log = logging.getLogger("codetether.daemon.swarm")

#: The most characters of one subtask's output passed to its dependants and to the synthesis.
RESULT_CHARS = 4000


@dataclass(frozen=True, slots=True)
class AgentOutcome:
    """How one subtask's agent run ended."""

    text: str
    stop_reason: str  # "end_turn" | "max_steps" | "cancelled" | "error" | "timeout"
    steps: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    session_id: str = ""


RunAgent = Callable[[Subtask, Path, str, str], Awaitable[AgentOutcome]]
"""run_agent(subtask, workspace, prompt, mode): run one subtask's agent to its end."""


def _clip(text: str, limit: int = RESULT_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n[... {len(text) - limit} more characters]"


def subtask_prompt(task: str, sub: Subtask, deps: Mapping[str, SubtaskResult], worktree: bool) -> str:
    """What a subtask's agent is told: the whole task for context, its own part, and what
    the subtasks it depends on reported."""
    parts = [f"You are one of several agents working on this task:\n{task}\n",
             f"Your part ({sub.name}{', ' + sub.specialty if sub.specialty else ''}):\n{sub.instruction}\n"]
    for name, result in deps.items():
        parts.append(f"Subtask {name} ({result.status}) reported:\n{_clip(result.output)}\n")
    parts.append("Change files only as your part needs; your changes are merged with the others'."
                 if worktree else "Do not change files: read, search and report.")
    parts.append("End with a short report of what you did and found.")
    return "\n".join(parts)


def synthesis_prompt(state: SwarmState) -> list[dict[str, str]]:
    """The final model call: the task and every subtask's result, to one answer."""
    lines = [f"Task: {state.task}", "", "The subtasks' results:"]
    for level in state.stages:
        for name in level:
            result = state.results.get(name)
            if result is None:
                continue
            diff = ""
            if result.diff is not None and result.diff.files:
                diff = f" (changed {len(result.diff.files)} files, +{result.diff.added} -{result.diff.removed})"
            lines.append(f"## {name}: {result.status}{diff}\n{_clip(result.output or result.error or '')}")
    if state.merge is not None:
        lines.append("\nMerge-back: " + "; ".join(f"{o.subtask} {o.status}" for o in state.merge.outcomes)
                     + (f" ({state.merge.refused})" if state.merge.refused else ""))
    lines.append("\nWrite the final answer for the user: what was done, what failed, what is left.")
    return [{"role": "system", "content": "You combine the reports of several agents into one answer."},
            {"role": "user", "content": "\n".join(lines)}]


class Swarm:
    """One swarm (see the module docstring). ``progress`` receives every event, plain or
    async; ``mode`` is the caller's approval mode for subtasks that change files."""

    def __init__(self, state: SwarmState, *, store: SwarmStore, model: ChatModel, run_agent: RunAgent,
                 workspace: Path, worktrees: Worktrees | None, mode: str, max_concurrency: int,
                 fail_fast: bool = False, progress: ProgressCallback | None = None) -> None:
        self.state = state
        self.store = store
        self.model = model
        self.run_agent = run_agent
        self.workspace = workspace
        self.worktrees = worktrees
        self.mode = mode
        self.max_concurrency = max_concurrency
        self.fail_fast = fail_fast
        self.progress = progress

    @property
    def id(self) -> str:
        return self.state.id

    def _set(self, **changes: object) -> None:
        self.state = msgspec.structs.replace(self.state, updated_at=time.time(), **changes)
        self.store.save(self.state)

    async def _emit(self, phase: SwarmPhase, subtask: str | None = None, detail: str = "") -> None:
        await self._forward(SwarmProgress(swarm_id=self.id, phase=phase, subtask=subtask, detail=detail,
                                          ts=time.time()))

    async def _forward(self, event: SwarmProgress) -> None:
        if self.progress is None:
            return
        try:
            out = self.progress(event)
            if out is not None:
                await out
        except Exception:  # noqa: BLE001 - a broken listener must not stop the swarm
            log.exception("swarm %s: progress listener failed", self.id)

    async def run(self) -> SwarmState:
        """Run (or resume) to the end; cancellation saves ``cancelled`` and re-raises."""
        try:
            if self.state.status == "completed":
                return self.state
            if self.state.plan is None:
                await self._plan()
            assert self.state.plan is not None
            if self.state.status in ("planning", "running", "failed", "cancelled"):
                self._set(merge=None)  # a resumed swarm merges what its new run finished
                await self._run_subtasks(self.state.plan)
            await self._merge()
            await self._synthesize()
            return self.state
        except asyncio.CancelledError:
            self._set(status="cancelled", error=None)
            await self._emit("cancelled")
            with contextlib.suppress(Exception):
                await asyncio.shield(self._cleanup())
            raise
        except Exception as exc:
            self._set(status="failed", error=str(getattr(exc, "message", exc)) or repr(exc))
            await self._emit("failed", detail=self.state.error or "")
            with contextlib.suppress(Exception):
                await asyncio.shield(self._cleanup())
            raise

    async def _plan(self) -> None:
        self._set(status="planning")
        await self._emit("planning", detail=self.state.strategy)
        plan = await plan_subtasks(self.model, self.state.task, self.state.strategy, self.state.max_subagents)
        levels = tuple(tuple(level) for level in stages(plan))
        self._set(plan=plan, stages=levels)
        await self._emit("planned", detail=" | ".join(", ".join(level) for level in levels))

    async def _run_subtasks(self, plan: Plan) -> None:
        if self.worktrees is not None and self.state.base_commit is None:
            self._set(base_commit=await self.worktrees.head())
        self._set(status="running", error=None)
        results = dict(self.state.results)

        async def progress(event: SwarmProgress) -> None:
            if event.subtask is not None and event.subtask in results:
                self._set(results=dict(results))  # saved as each result lands
            await self._forward(event)

        await run_stages(plan, self._subtask, max_concurrency=self.max_concurrency, fail_fast=self.fail_fast,
                         progress=progress, results=results, swarm_id=self.id)
        self._set(results=dict(results))

    async def _subtask(self, sub: Subtask, deps: Mapping[str, SubtaskResult]) -> SubtaskResult:
        started = time.time()
        in_tree = self.worktrees is not None and sub.needs_worktree
        tree = None
        if in_tree:
            assert self.worktrees is not None and self.state.base_commit is not None
            tree = await self.worktrees.create(self.id, sub.name, self.state.base_commit)
            where, mode = tree.path, self.mode
        else:
            where = self.workspace
            mode = "plan" if self.worktrees is not None else self.mode
        prompt = subtask_prompt(self.state.task, sub, deps, worktree=in_tree or self.worktrees is None)
        out = await self.run_agent(sub, where, prompt, mode)
        ok = out.stop_reason in ("end_turn", "max_steps")
        diff = None
        if tree is not None:
            assert self.worktrees is not None
            diff = await self.worktrees.commit(tree, f"codetether swarm {self.id}: {sub.name}")
        return SubtaskResult(
            name=sub.name, status="done" if ok else "failed", output=out.text,
            error=None if ok else f"the agent stopped: {out.stop_reason}", diff=diff,
            branch=tree.branch if tree is not None else None, steps=out.steps, tokens_in=out.tokens_in,
            tokens_out=out.tokens_out, started_at=started, finished_at=time.time())

    async def _merge(self) -> None:
        if self.worktrees is None or self.state.merge is not None:
            return
        order = [name for level in self.state.stages for name in level]
        alive = set(await self.worktrees.branches(self.id))  # a merged one was deleted by its cleanup
        branches = [(name, r.branch) for name in order
                    if (r := self.state.results.get(name)) is not None and r.status == "done"
                    and r.branch in alive]
        if not branches:
            await self._cleanup()
            return
        await self._emit("merging", detail=", ".join(name for name, _ in branches))
        report = await self.worktrees.merge(branches, swarm_id=self.id)
        self._set(merge=report)
        for outcome in report.outcomes:
            if outcome.status == "conflict":
                await self._emit("conflict", outcome.subtask, ", ".join(outcome.files))
            elif outcome.status in ("refused", "failed"):
                await self._emit("conflict", outcome.subtask, outcome.detail)
        await self._emit("merged", detail="; ".join(f"{o.subtask} {o.status}" for o in report.outcomes))
        await self._cleanup()

    async def _cleanup(self) -> None:
        if self.worktrees is not None:
            try:
                await self.worktrees.cleanup(self.id)
            except GitError as exc:
                log.warning("swarm %s: cleanup: %s", self.id, exc.message)

    async def _synthesize(self) -> None:
        self._set(status="synthesizing")
        await self._emit("synthesizing")
        results = self.state.results.values()
        if results and all(r.status != "done" for r in results):
            self._set(status="failed", error="every subtask failed", answer=None)
            await self._emit("failed", detail="every subtask failed")
            return
        answer = await self.model(synthesis_prompt(self.state))
        self._set(status="completed", answer=answer, error=None)
        await self._emit("completed")
