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

The run stops when every story passes (``completed``), after ``max_iterations``, when the
hook says so (``stopped``) or when its task is cancelled (``cancelled``, re-raised). Its
state is saved (:class:`RalphStore`) at every step; progress events go to ``progress``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec

from ...wire.ralph import (
    CHECK_ORDER,
    CheckResult,
    RalphIteration,
    RalphPhase,
    RalphProgress,
    RalphState,
    RalphStatus,
    UserStory,
)
from ..agents import AgentOutcome
from ._checks import clip, run_check, step_command
from ._prd import PrdFile, next_story, prd_id
from ._store import RalphStore

__all__ = ["AfterIteration", "Progress", "RalphLoop", "RunStoryAgent", "story_prompt"]

log = logging.getLogger("codetether.ralph")

#: run_agent(prompt, workspace): one fresh agent, run to its end.
RunStoryAgent = Callable[[str, Path], Awaitable[AgentOutcome]]
#: Called with every progress event (it may be a coroutine function).
Progress = Callable[[RalphProgress], Awaitable[None] | None]
#: after_iteration(iteration, state), awaited after each iteration; False stops the run.
AfterIteration = Callable[[RalphIteration, RalphState], Awaitable[bool | None]]

#: Stop reasons of an agent run after which its work is not checked.
AGENT_FAILED = frozenset({"error", "cancelled", "timeout"})
#: The progress phase that ends a run with each status.
_END_PHASE: dict[str, RalphPhase] = {"completed": "completed", "max_iterations": "max_iterations",
                                     "stopped": "stopped", "cancelled": "cancelled"}
#: Characters of progress.txt an agent is shown (its end: the latest iterations).
PROGRESS_CHARS = 12000


def story_prompt(prd: PrdFile, story: UserStory, progress: str) -> str:
    """What an iteration's agent is told: the PRD, its story, and progress.txt."""
    p = prd.prd
    checks = [f"- {name}: `{getattr(p.quality_checks, name)}`" for name in CHECK_ORDER
              if getattr(p.quality_checks, name)]
    steps = [f"- {s if isinstance(s, str) else json.dumps(s)}" for s in story.verification_steps]
    lines = [
        f"You are one iteration of a PRD-driven loop on project {p.project!r}, feature {p.feature!r}.",
        "You are a fresh agent: what earlier iterations did is in the code, git history and the progress "
        "log below. Implement ONLY the story below, completely, in this workspace.",
        "Do not edit prd.json: the loop marks the story as passing when the checks below pass.",
        "", "## The PRD", json.dumps(prd.raw, indent=2, ensure_ascii=False)[:20000],
        "", f"## Your story: {story.id}: {story.title}", story.description or "(no description)",
    ]
    if story.acceptance_criteria:
        lines += ["", "Acceptance criteria:", *[f"- {c}" for c in story.acceptance_criteria]]
    if steps:
        lines += ["", "Verification steps (commands are run after you; prose is for a person):", *steps]
    if checks:
        lines += ["", "Quality checks run after you, in order (all must pass):", *checks]
    text = progress[-PROGRESS_CHARS:] if progress else "(empty: this is the first iteration)"
    lines += ["", "## progress.txt (earlier iterations)", text]
    return "\n".join(lines)


class RalphLoop:
    """One run of a PRD (see the module docstring). :attr:`state` is its live state.
    Not reentrant: one :meth:`run` per instance."""

    def __init__(self, prd_path: Path, workspace: Path, run_agent: RunStoryAgent, *, max_iterations: int,
                 progress: Progress | None = None, after_iteration: AfterIteration | None = None,
                 store: RalphStore | None = None, check_timeout: float = 600.0, model: str | None = None,
                 approval_mode: str = "ask") -> None:
        if max_iterations < 1:
            raise ValueError("max_iterations must be at least 1")
        self.prd_path = prd_path.resolve()
        self.workspace = workspace.resolve()
        self.progress_path = self.prd_path.parent / "progress.txt"
        self.run_agent = run_agent
        self.max_iterations = max_iterations
        self.progress = progress
        self.after_iteration = after_iteration
        self.store = store
        self.check_timeout = check_timeout
        now = time.time()
        self.state = RalphState(prd_id=prd_id(self.prd_path), prd_path=str(self.prd_path),
                                workspace=str(self.workspace), max_iterations=max_iterations, model=model,
                                approval_mode=approval_mode, created_at=now, updated_at=now)

    @property
    def prd_id(self) -> str:
        return self.state.prd_id

    def _set(self, **changes: object) -> None:
        self.state = msgspec.structs.replace(self.state, updated_at=time.time(), **changes)
        if self.store is not None:
            self.store.save(self.state)

    async def _emit(self, phase: RalphPhase, story: str | None = None, detail: str = "") -> None:
        if self.progress is None:
            return
        out = self.progress(RalphProgress(prd_id=self.prd_id, phase=phase, story=story,
                                          iteration=self.state.iteration, detail=detail, ts=time.time()))
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
            story = None if status else next_story(prd.prd)
            if status is None and story is None:  # validation rules this out; say so if not
                raise RuntimeError("no story is ready, though not every story passes")
            if status is not None or story is None:
                self._set(status=status, current_story=None)
                await self._emit_end(status or "failed")
                return
            record = await self._iteration(prd, story)
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
        prompt = story_prompt(prd, story, _read(self.progress_path))
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
            failed = await self._checks(prd, story, checks)
        passed = failed is None
        if passed:
            prd.mark_passed(story.id)
            prd.save()
        record = RalphIteration(
            iteration=n, story_id=story.id, story_title=story.title,
            outcome="passed" if passed else "agent_error" if outcome.stop_reason in AGENT_FAILED else "failed",
            failed_check=None if failed is None else failed.name,
            failed_output="" if failed is None else failed.output, checks=tuple(checks),
            agent_stop_reason=outcome.stop_reason, agent_text=clip(outcome.text, 500, 1500),
            session_id=outcome.session_id, started_at=started, finished_at=time.time())
        self._record(record, stories_passed=prd.passed)
        if passed:
            await self._emit("passed", story.id, f"iteration {n}")
            if prd.prd.auto_commit:
                record = await self._commit(record, story)
        else:
            assert failed is not None
            await self._emit("failed", story.id, f"{failed.name} {failed.status}")
        return record

    def _record(self, record: RalphIteration, **changes: object) -> None:
        """Append ``record`` to progress.txt and to the state (saved)."""
        _append(self.progress_path, _progress_entry(record))
        self._set(iterations=(*self.state.iterations, record), **changes)

    async def _checks(self, prd: PrdFile, story: UserStory, checks: list[CheckResult]) -> CheckResult | None:
        """The quality checks, then the verification steps; the first failure, or None."""
        commands: list[tuple[str, str | None, str]] = []
        for name in CHECK_ORDER:
            command = getattr(prd.prd.quality_checks, name)
            if command and command.strip():
                commands.append((name, command, command))
        for i, step in enumerate(story.verification_steps, 1):
            shown = step if isinstance(step, str) else json.dumps(step)
            commands.append((f"verify[{i}]", step_command(step), shown))
        for name, command, shown in commands:
            if command is None:
                result = CheckResult(name=name, command=shown, status="manual")
            else:
                result = await run_check(name, command, self.workspace, self.check_timeout)
            checks.append(result)
            exit_code = f" (exit {result.exit_code})" if result.status == "failed" else ""
            await self._emit("check", story.id, f"{name} {result.status}{exit_code}")
            if result.status in ("failed", "timeout"):
                return result
        return None

    async def _commit(self, record: RalphIteration, story: UserStory) -> RalphIteration:
        """Commit the workspace for a passing story; the record with the commit or why not."""
        ws = str(self.workspace)
        code, out = await _git(ws, "rev-parse", "--is-inside-work-tree")
        commit: str | None = None
        error: str | None = None
        if code != 0 or out.strip() != "true":
            error = "not a git work tree: nothing committed"
        else:
            code, out = await _git(ws, "add", "-A", "--", ".")
            if code == 0:
                code, out = await _git(ws, "diff", "--cached", "--quiet")
                if code == 0:
                    error = "nothing to commit"
                else:
                    code, out = await _git(ws, "commit", "-q", "-m", f"ralph: {story.id} {story.title}",
                                           "-m", f"Story {story.id} of the PRD {self.prd_path.name} passes its "
                                                 f"checks (iteration {record.iteration}).")
                    if code == 0:
                        code, out = await _git(ws, "rev-parse", "HEAD")
                        commit = out.strip() if code == 0 else None
            if commit is None and error is None:
                error = f"git failed: {clip(out.strip(), 300, 300)}"
        record = msgspec.structs.replace(record, commit=commit, commit_error=error)
        self._set(iterations=(*self.state.iterations[:-1], record))
        if commit:
            await self._emit("committed", story.id, f"{commit[:12]} ralph: {story.id} {story.title}")
        else:
            _append(self.progress_path, f"  commit: {error}\n\n")
        return record


async def _git(cwd: str, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "git", "-C", cwd, *args, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace")


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _append(path: Path, text: str) -> None:
    # One write of the whole entry: a reader never sees half an iteration.
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text)


def _progress_entry(r: RalphIteration) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.finished_at or time.time()))
    lines = [f"## Iteration {r.iteration}: {r.story_id} {r.story_title}: {r.outcome} ({when})"]
    if r.agent_stop_reason:
        lines.append(f"  agent: {r.agent_stop_reason}" + (f" (session {r.session_id})" if r.session_id else ""))
    if r.checks:
        lines.append("  checks: " + ", ".join(f"{c.name} {c.status}" for c in r.checks))
    for c in r.checks:
        if c.status == "manual":
            lines.append(f"  manual step (for a person): {c.command}")
    if r.failed_check:
        lines.append(f"  failing check: {r.failed_check}")
        lines += [f"    | {line}" for line in r.failed_output.splitlines()[-60:]]
    if r.agent_text and r.outcome != "agent_error":
        lines.append("  agent said: " + r.agent_text.strip().replace("\n", " ")[:400])
    return "\n".join(lines) + "\n\n"
