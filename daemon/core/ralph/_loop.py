"""The Ralph loop: one fresh agent per iteration on the next story, then its checks.

Each iteration: pick the next story (:func:`next_story`); run a fresh agent on it
(``run_agent(prompt, workspace)``, injected: the daemon runs a new session) told the PRD,
the story and ``progress.txt``; write prd.json back as the loop holds it (it belongs to
the loop while it runs: an agent's edits to it are undone, so no agent marks its own
story); run the quality checks in order (typecheck, lint, test, build; null ones
skipped; the first failure stops them), then the story's verification steps (commands
run, prose recorded as ``manual``). All passed: the story gets ``passes: true``, prd.json
is saved atomically. The iteration is appended to ``progress.txt`` (beside prd.json)
whatever happened, and then, for a passing story of a PRD with ``auto_commit`` in a git
work tree, everything under the workspace is committed (the message names the story).
``after_iteration(iteration, state)`` is awaited last; it may return False to stop.

**Stages** (``parallel`` > 1; 1, the default, is the loop above and nothing else). When
several stories are ready at once (:func:`ready_stories`: none depends on another of
them) and the workspace is in a git work tree, an iteration takes up to ``parallel`` of
them as a stage (:mod:`._stage`): each story's agent works in its own worktree from HEAD,
all at once; their branches merge back in priority order; then, in the main tree, the
quality checks run once and each merged story's verification steps run. Each story
passes or not on its own and gets its own progress.txt entry; prd.json is saved once;
with ``auto_commit`` one commit (after the merges) names every story that passed. A
story whose branch does not merge (a conflict, or a refused or failed merge) does not
pass this iteration: its branch is kept and named in progress.txt, and a later
iteration runs it again from the new HEAD. A story whose agent failed is not merged
(its work is dropped with its worktree). Work that merged stays merged even when a
check fails afterwards, as a one-at-a-time iteration's work stays in the tree.

**A dirty main tree runs one at a time.** When tracked files other than the loop's own
(prd.json, progress.txt) have uncommitted changes, or a merge or rebase is under way,
the iteration runs one story the usual way, in the main tree (a ``stage`` event says
why): worktrees from HEAD would not see those changes, and merging around them could
mix the stories' work with the user's. If the tree becomes dirty while a stage runs,
its merges are refused (each story ``not_merged``, its branch kept) and the next
iteration, seeing the tree dirty, runs them one at a time. Worktrees that cannot be
made also fall back to one at a time.

The run stops when every story passes (``completed``), after ``max_iterations``, when the
hook says so (``stopped``) or when its task is cancelled (``cancelled``, re-raised; a
stage's agents are all cancelled and awaited, its worktrees removed). Its state is saved
(:class:`RalphStore`) at every step; progress events go to ``progress``.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec

from ...wire.ralph import (
    CheckResult,
    RalphIteration,
    RalphPhase,
    RalphProgress,
    RalphState,
    RalphStatus,
    UserStory,
)
from ..agents import AgentOutcome, GitError
from ._checks import clip, quality_commands, run_check, step_commands
from ._prd import PrdError, PrdFile, prd_id, ready_stories, widest_stage
from ._progress import append_progress, progress_entry, read_progress, story_prompt
from ._stage import Repo, StageTrees, StoryRun, commit_all, find_repo, run_agents, set_story, stage_id
from ._store import RalphStore

__all__ = ["AfterIteration", "Progress", "RalphLoop", "RunStoryAgent"]

log = logging.getLogger("codetether.ralph")

#: run_agent(prompt, workspace): one fresh agent, run to its end.
RunStoryAgent = Callable[[str, Path], Awaitable[AgentOutcome]]
#: Called with every progress event (it may be a coroutine function).
Progress = Callable[[RalphProgress], Awaitable[None] | None]
#: after_iteration(iteration, state), awaited after each iteration (a stage: once, with
#: its last story's record; every record is in ``state.iterations``); False stops the run.
AfterIteration = Callable[[RalphIteration, RalphState], Awaitable[bool | None]]

#: Stop reasons of an agent run after which its work is not checked.
AGENT_FAILED = frozenset({"error", "cancelled", "timeout"})
#: The progress phase that ends a run with each status.
_END_PHASE: dict[str, RalphPhase] = {"completed": "completed", "max_iterations": "max_iterations",
                                     "stopped": "stopped", "cancelled": "cancelled"}
_MERGED = ("merged", "unchanged")


class RalphLoop:
    """One run of a PRD (see the module docstring). :attr:`state` is its live state.
    Not reentrant: one :meth:`run` per instance. ``worktree_dir`` is where a stage's
    worktrees go (outside the repository; default: a new temporary folder per stage)."""

    def __init__(self, prd_path: Path, workspace: Path, run_agent: RunStoryAgent, *, max_iterations: int,
                 progress: Progress | None = None, after_iteration: AfterIteration | None = None,
                 store: RalphStore | None = None, check_timeout: float = 600.0, model: str | None = None,
                 approval_mode: str = "ask", parallel: int = 1, worktree_dir: Path | None = None) -> None:
        if max_iterations < 1:
            raise ValueError("max_iterations must be at least 1")
        if parallel < 1:
            raise ValueError("parallel must be at least 1")
        self.prd_path = prd_path.resolve()
        self.workspace = workspace.resolve()
        self.progress_path = self.prd_path.parent / "progress.txt"
        self.run_agent = run_agent
        self.max_iterations = max_iterations
        self.progress = progress
        self.after_iteration = after_iteration
        self.store = store
        self.check_timeout = check_timeout
        self.parallel = parallel
        self.worktree_dir = worktree_dir
        self._repo: Repo | None | bool = False  # False: not looked up yet
        now = time.time()
        self.state = RalphState(prd_id=prd_id(self.prd_path), prd_path=str(self.prd_path),
                                workspace=str(self.workspace), max_iterations=max_iterations, model=model,
                                approval_mode=approval_mode, created_at=now, updated_at=now, parallel=parallel)

    @staticmethod
    def independent_stories(prd_path: Path) -> int:
        """How many of the PRD's unfinished stories could run together (the widest level
        of their dependencies; 1 for a PRD that does not load: its run says why)."""
        try:
            return widest_stage(PrdFile.load(prd_path).prd)
        except PrdError:
            return 1

    @property
    def prd_id(self) -> str:
        return self.state.prd_id

    def _set(self, **changes: object) -> None:
        self.state = msgspec.structs.replace(self.state, updated_at=time.time(), **changes)
        if self.store is not None:
            self.store.save(self.state)

    async def _emit(self, phase: RalphPhase, story: str | None = None, detail: str = "", *,
                    stories: tuple[str, ...] = (), iteration: int | None = None) -> None:
        if self.progress is None:
            return
        out = self.progress(RalphProgress(prd_id=self.prd_id, phase=phase, story=story, stories=stories,
                                          iteration=self.state.iteration if iteration is None else iteration,
                                          detail=detail, ts=time.time()))
        if out is not None:
            await out

    async def run(self) -> RalphState:
        """Work through the PRD (see the module docstring); the final state. A PRD that
        does not load raises :class:`PrdError` before anything runs."""
        prd = PrdFile.load(self.prd_path)
        self._set(status="running", stories_total=len(prd.prd.user_stories), stories_passed=prd.passed)
        await self._emit("started", detail=f"{prd.passed} of {len(prd.prd.user_stories)} stories pass; "
                                           f"up to {self.max_iterations} iterations")
        try:
            await self._loop(prd)
        except asyncio.CancelledError:
            self._set(status="cancelled", current_story=None)
            await asyncio.shield(self._emit_end("cancelled"))
            raise
        except Exception as exc:  # noqa: BLE001 - the run's own failure is its state
            log.exception("ralph %s failed", self.prd_id)
            self._set(status="failed", current_story=None, error=str(exc) or type(exc).__name__)
            await self._emit_end("failed", self.state.error or "")
        return self.state

    async def _emit_end(self, status: RalphStatus, detail: str = "") -> None:
        phase = _END_PHASE.get(status, "failed")
        await self._emit(phase, detail=detail or f"{self.state.stories_passed} of "
                                                 f"{self.state.stories_total} stories pass")

    async def _loop(self, prd: PrdFile) -> None:
        while True:
            status: RalphStatus | None = None
            if prd.complete:
                status = "completed"
            elif self.state.iteration >= self.max_iterations:
                status = "max_iterations"
            ready = [] if status else ready_stories(prd.prd)
            if status is None and not ready:  # validation rules this out; say so if not
                raise RuntimeError("no story is ready, though not every story passes")
            if status is not None:
                self._set(status=status, current_story=None)
                await self._emit_end(status)
                return
            if self.parallel > 1 and len(ready) > 1:
                record = await self._stage_or_one(prd, ready[: self.parallel])
            else:
                record = await self._iteration(prd, ready[0])
            if self.after_iteration is not None and await self.after_iteration(record, self.state) is False:
                self._set(status="stopped", current_story=None)
                await self._emit_end("stopped", "stopped after iteration "
                                                f"{record.iteration} by the run's owner")
                return

    async def _iteration(self, prd: PrdFile, story: UserStory) -> RalphIteration:
        n = self.state.iteration + 1
        self._set(iteration=n, current_story=story.id)
        await self._emit("story", story.id, story.title)
        started = time.time()
        prompt = story_prompt(prd, story, read_progress(self.progress_path))
        set_story(story.id)
        try:
            outcome = await self.run_agent(prompt, self.workspace)
        except asyncio.CancelledError:
            record = RalphIteration(iteration=n, story_id=story.id, story_title=story.title, outcome="cancelled",
                                    started_at=started, finished_at=time.time())
            self._record(record)
            raise
        prd.save()  # the loop's prd.json back, whatever the agent did to it
        checks: list[CheckResult] = []
        failed: CheckResult | None = None
        if outcome.stop_reason in AGENT_FAILED:
            failed = CheckResult(name="agent", command="", status="failed", output=clip(outcome.text))
        else:
            failed = await self._checks(quality_commands(prd.prd) + step_commands(story), story.id, checks)
        passed = failed is None
        if passed:
            prd.mark_passed(story.id)
            prd.save()
        record = _record_of(n, story, outcome, started, checks, failed)
        self._record(record, stories_passed=prd.passed)
        if passed:
            await self._emit("passed", story.id, f"iteration {n}")
            if prd.prd.auto_commit:
                record = (await self._commit([record], f"ralph: {story.id} {story.title}",
                                             f"Story {story.id} of the PRD {self.prd_path.name} passes its "
                                             f"checks (iteration {n})."))[0]
        else:
            assert failed is not None
            await self._emit("failed", story.id, f"{failed.name} {failed.status}")
        return record

    # -- a stage: several stories at once, each in its worktree -------------------------

    async def _stage_or_one(self, prd: PrdFile, stories: list[UserStory]) -> RalphIteration:
        """A stage of ``stories`` when the main tree can take one, else the first story
        alone (the module docstring says when)."""
        if self._repo is False:
            self._repo = await find_repo(self.workspace, (self.prd_path, self.progress_path))
        if not isinstance(self._repo, Repo):
            return await self._iteration(prd, stories[0])  # not git: the loop as it always was
        ids = tuple(s.id for s in stories)
        n = self.state.iteration + 1
        trees = StageTrees(self._repo, self.worktree_dir or Path(tempfile.mkdtemp(prefix="codetether-ralph-")))
        sid = stage_id(self.prd_id, n)
        runs: list[StoryRun] = []
        try:
            why = await trees.dirty()
            if why is None:
                try:
                    base = await trees.head()
                    for story in stories:
                        runs.append(StoryRun(story, await trees.create(sid, story.id, base), time.time()))
                except (GitError, OSError) as exc:
                    why = f"its worktrees could not be made ({exc})"
            if why is None:
                return await self._stage(prd, runs, trees, sid, n)
        finally:
            # Also when cancelled: no worktree is left behind (kept branches stay).
            await asyncio.shield(self._cleanup(trees, sid))
        await self._emit("stage", detail=f"{len(ids)} stories ready ({', '.join(ids)}); one at a time: {why}",
                         stories=ids, iteration=n)
        return await self._iteration(prd, stories[0])

    async def _cleanup(self, trees: StageTrees, sid: str) -> None:
        try:
            await trees.cleanup(sid)  # merged or unchanged branches go; the others are kept
        except (GitError, OSError) as exc:
            log.warning("ralph %s: stage %s not cleaned up: %s", self.prd_id, sid, exc)
        if self.worktree_dir is None:
            shutil.rmtree(trees.base_dir, ignore_errors=True)

    async def _stage(self, prd: PrdFile, runs: list[StoryRun], trees: StageTrees, sid: str,
                     n: int) -> RalphIteration:
        ids = tuple(r.story.id for r in runs)
        self._set(iteration=n, current_story=", ".join(ids))
        await self._emit("stage", detail=f"{len(ids)} stories in parallel, each in its own worktree: "
                                         f"{', '.join(ids)}", stories=ids)
        for r in runs:
            await self._emit("story", r.story.id, r.story.title)
        progress = read_progress(self.progress_path)
        try:
            await run_agents(trees, runs, [story_prompt(prd, r.story, progress) for r in runs], self.run_agent,
                             AGENT_FAILED)
        except asyncio.CancelledError:
            for r in runs:
                self._record(RalphIteration(iteration=n, story_id=r.story.id, story_title=r.story.title,
                                            outcome="cancelled", stage=ids, started_at=r.started,
                                            finished_at=time.time()))
            raise
        prd.save()  # the loop's prd.json back (an agent may have found it outside the repository)
        ok = [r for r in runs if r.outcome is not None and r.outcome.stop_reason not in AGENT_FAILED]
        report = await trees.merge([(r.story.id, r.tree.branch) for r in ok], swarm_id=sid)
        merges = {o.subtask: o for o in report.outcomes}
        for r in ok:
            back = merges[r.story.id]
            files = f" in {', '.join(back.files)}" if back.files else ""
            shown = back.status if back.status in _MERGED else f"{back.status}{files}; branch kept: {back.branch}"
            await self._emit("merge", r.story.id, shown)
        merged = [r for r in ok if merges[r.story.id].status in _MERGED]
        quality: list[CheckResult] = []
        quality_failed = await self._checks(quality_commands(prd.prd), None, quality) if merged else None
        records: list[RalphIteration] = []
        for r in runs:
            outcome = r.outcome or AgentOutcome(text="", stop_reason="cancelled")
            m = merges.get(r.story.id)
            checks = list(quality)
            extra: dict[str, object] = {"stage": ids, "branch": r.tree.branch}
            failed: CheckResult | None
            if outcome.stop_reason in AGENT_FAILED:
                failed = CheckResult(name="agent", command="", status="failed", output=clip(outcome.text))
                checks = []
            elif m is None or m.status not in _MERGED:
                failed = CheckResult(name="merge", command="", status="failed",
                                     output=m.detail if m is not None else "not merged")
                checks = []
                if m is not None:
                    extra.update(merge=m.status, merge_files=m.files, merge_detail=m.detail)
            else:
                extra["merge"] = m.status
                failed = quality_failed or await self._checks(step_commands(r.story), r.story.id, checks)
            if failed is None:
                prd.mark_passed(r.story.id)
            if failed is not None and failed.name == "merge":
                extra["outcome"] = "not_merged"
            records.append(msgspec.structs.replace(_record_of(n, r.story, outcome, r.started, checks, failed),
                                                   **extra))
        prd.save()
        for record in records:
            self._record(record, stories_passed=prd.passed)
        for record in records:
            if record.outcome == "passed":
                await self._emit("passed", record.story_id, f"iteration {n}")
            else:
                last = record.checks[-1] if record.checks else None
                status = last.status if last is not None and last.name == record.failed_check else "failed"
                await self._emit("failed", record.story_id, f"{record.failed_check} {status}")
        passed = [rec for rec in records if rec.outcome == "passed"]
        if passed and prd.prd.auto_commit:
            names = ", ".join(rec.story_id for rec in passed) if len(passed) > 1 else \
                f"{passed[0].story_id} {passed[0].story_title}"
            body = "\n".join(f"Story {rec.story_id} ({rec.story_title}) of the PRD {self.prd_path.name} passes "
                             f"its checks (iteration {n}, run in parallel)." for rec in passed)
            done = {rec.story_id: rec for rec in await self._commit(passed, f"ralph: {names}", body)}
            records = [done.get(rec.story_id, rec) for rec in records]
        return records[-1]

    # -- checks, records, commits -------------------------------------------------------

    def _record(self, record: RalphIteration, **changes: object) -> None:
        """Append ``record`` to progress.txt and to the state (saved)."""
        append_progress(self.progress_path, progress_entry(record))
        self._set(iterations=(*self.state.iterations, record), **changes)

    async def _checks(self, commands: list[tuple[str, str | None, str]], story: str | None,
                      checks: list[CheckResult]) -> CheckResult | None:
        """Run ``commands`` in order in the workspace, appending to ``checks``; the first
        failure, or None."""
        for name, command, shown in commands:
            if command is None:
                result = CheckResult(name=name, command=shown, status="manual")
            else:
                result = await run_check(name, command, self.workspace, self.check_timeout)
            checks.append(result)
            exit_code = f" (exit {result.exit_code})" if result.status == "failed" else ""
            await self._emit("check", story, f"{name} {result.status}{exit_code}")
            if result.status in ("failed", "timeout"):
                return result
        return None

    async def _commit(self, records: list[RalphIteration], subject: str, body: str) -> list[RalphIteration]:
        """Commit the workspace for passing stories; their records with the commit or why not."""
        commit, error = await commit_all(self.workspace, subject, body)
        done = {(r.iteration, r.story_id): msgspec.structs.replace(r, commit=commit, commit_error=error)
                for r in records}
        self._set(iterations=tuple(done.get((r.iteration, r.story_id), r) for r in self.state.iterations))
        ids = tuple(r.story_id for r in records)
        if commit:
            await self._emit("committed", ids[0] if len(ids) == 1 else None, f"{commit[:12]} {subject}",
                             stories=ids if len(ids) > 1 else ())
        else:
            append_progress(self.progress_path, f"  commit: {error}\n\n")
        return list(done.values())


def _record_of(n: int, story: UserStory, outcome: AgentOutcome, started: float, checks: list[CheckResult],
               failed: CheckResult | None) -> RalphIteration:
    return RalphIteration(
        iteration=n, story_id=story.id, story_title=story.title,
        outcome="passed" if failed is None else "agent_error" if outcome.stop_reason in AGENT_FAILED else "failed",
        failed_check=None if failed is None else failed.name,
        failed_output="" if failed is None else failed.output, checks=tuple(checks),
        agent_stop_reason=outcome.stop_reason, agent_text=clip(outcome.text, 500, 1500),
        session_id=outcome.session_id, started_at=started, finished_at=time.time())
