"""The Ralph loop with a scripted agent (a function), real shell checks and real git: a
failing quality check then a passing one, the PRD saved, progress.txt and the commit;
max_iterations, cancel, the after-iteration hook, an agent error, a check's timeout."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from codetether.daemon.core.agents import AgentOutcome
from codetether.daemon.core.ralph import PrdError, RalphLoop, RalphStore, run_check
from codetether.daemon.wire.ralph import RalphIteration, RalphProgress, RalphState

from .conftest import git as _git


def _write_prd(where: Path, stories: list[dict[str, Any]], **extra: Any) -> Path:
    doc = {"project": "demo", "feature": "greeting", "quality_checks": {"typecheck": None, "lint": "true",
                                                                        "test": "test -f hello.txt"},
           "user_stories": stories, "note": "kept", **extra}
    path = where / "prd.json"
    path.write_text(json.dumps(doc, indent=2))
    return path


Agent = Callable[[str, Path], Awaitable[AgentOutcome]]


def _agent(*actions: Callable[[Path], None] | None, prompts: list[str] | None = None) -> Agent:
    """One action per iteration (None: the agent does nothing), then nothing."""
    queue = list(actions)

    async def run(prompt: str, workspace: Path) -> AgentOutcome:
        if prompts is not None:
            prompts.append(prompt)
        action = queue.pop(0) if queue else None
        if action is not None:
            action(workspace)
        return AgentOutcome(text="did my part", stop_reason="end_turn", steps=1, session_id=f"s{len(queue)}")

    return run


def _hello(ws: Path) -> None:
    (ws / "hello.txt").write_text("hello\n")


async def test_a_failing_check_then_a_passing_one_marks_saves_logs_and_commits(repo: Path, tmp_path: Path) -> None:
    path = _write_prd(repo, [{"id": "US-1", "title": "Say hello", "description": "write hello.txt",
                              "verification_steps": ["$ grep -q hello hello.txt", "A person reads it and smiles"],
                              "passes": False}], auto_commit=True)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "prd")
    events: list[RalphProgress] = []
    hooked: list[tuple[RalphIteration, RalphState]] = []
    prompts: list[str] = []

    async def after(it: RalphIteration, state: RalphState) -> None:
        hooked.append((it, state))

    store = RalphStore(tmp_path / "state")
    loop = RalphLoop(path, repo, _agent(None, _hello, prompts=prompts), max_iterations=5,
                     progress=events.append, after_iteration=after, store=store)
    state = await loop.run()
    assert state.status == "completed" and state.iteration == 2 and state.stories_passed == 1
    first, second = state.iterations
    assert first.outcome == "failed" and first.failed_check == "test" and first.failed_output == ""
    assert [(c.name, c.status) for c in first.checks] == [("lint", "passed"), ("test", "failed")]
    assert second.outcome == "passed" and [(c.name, c.status) for c in second.checks] == [
        ("lint", "passed"), ("test", "passed"), ("verify[1]", "passed"), ("verify[2]", "manual")]
    # the PRD saved with the story passing, its unknown field kept
    saved = json.loads(path.read_text())
    assert saved["user_stories"][0]["passes"] is True and saved["note"] == "kept"
    # progress.txt holds both iterations, and the second agent was shown the first
    progress = (repo / "progress.txt").read_text()
    assert "Iteration 1: US-1 Say hello: failed" in progress and "failing check: test" in progress
    assert "Iteration 2: US-1 Say hello: passed" in progress and "manual step (for a person)" in progress
    assert "Iteration 1: US-1 Say hello: failed" in prompts[1] and "Say hello" in prompts[0]
    assert "test -f hello.txt" in prompts[0] and "$ grep -q hello hello.txt" in prompts[0]
    # one commit naming the story, holding the work, the PRD and the progress log
    assert _git(repo, "log", "--format=%s", "-1").strip() == "ralph: US-1 Say hello"
    assert set(_git(repo, "show", "--name-only", "--format=", "HEAD").split()) == {
        "hello.txt", "prd.json", "progress.txt"}
    assert second.commit == _git(repo, "rev-parse", "HEAD").strip() and first.commit is None
    assert _git(repo, "status", "--porcelain") == ""
    # events, the hook after each iteration, the saved state
    phases = [e.phase for e in events]
    assert phases[0] == "started" and phases[-1] == "completed"
    assert phases.count("story") == 2 and "failed" in phases and "committed" in phases
    assert [h[0].iteration for h in hooked] == [1, 2] and hooked[1][0].commit == second.commit
    assert store.get(loop.prd_id) == state


async def test_max_iterations_is_respected_and_a_rerun_continues(repo: Path) -> None:
    path = _write_prd(repo, [{"id": "A", "title": "a"}, {"id": "B", "title": "b", "depends_on": ["A"]}])
    state = await RalphLoop(path, repo, _agent(), max_iterations=2).run()
    assert state.status == "max_iterations" and state.iteration == 2
    assert [i.story_id for i in state.iterations] == ["A", "A"]
    assert "## Iteration 2: A a: failed" in (repo / "progress.txt").read_text()
    # the agent writes the file: A passes, then B (no commit: auto_commit is off)
    state = await RalphLoop(path, repo, _agent(_hello), max_iterations=5).run()
    assert state.status == "completed" and [i.story_id for i in state.iterations] == ["A", "B"]
    assert _git(repo, "log", "--format=%s").strip() == "base"
    # all pass already: a run does nothing
    state = await RalphLoop(path, repo, _agent(), max_iterations=1).run()
    assert state.status == "completed" and state.iteration == 0


async def test_cancel_saves_the_state_and_logs_the_iteration(repo: Path, tmp_path: Path) -> None:
    path = _write_prd(repo, [{"id": "A", "title": "a"}])
    started = asyncio.Event()

    async def forever(prompt: str, workspace: Path) -> AgentOutcome:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    events: list[RalphProgress] = []
    store = RalphStore(tmp_path / "state")
    loop = RalphLoop(path, repo, forever, max_iterations=3, progress=events.append, store=store)
    task = asyncio.create_task(loop.run())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert loop.state.status == "cancelled" and store.get(loop.prd_id) == loop.state
    assert loop.state.iterations[0].outcome == "cancelled" and events[-1].phase == "cancelled"
    assert "Iteration 1: A a: cancelled" in (repo / "progress.txt").read_text()


async def test_the_hook_can_stop_and_an_agent_error_runs_no_checks(repo: Path) -> None:
    path = _write_prd(repo, [{"id": "A", "title": "a"}])

    async def broken(prompt: str, workspace: Path) -> AgentOutcome:
        (workspace / "hello.txt").write_text("hi")  # would pass the check: it is not run
        return AgentOutcome(text="provider unavailable", stop_reason="error")

    async def stop(it: RalphIteration, state: RalphState) -> bool:
        return False

    state = await RalphLoop(path, repo, broken, max_iterations=5, after_iteration=stop).run()
    assert state.status == "stopped" and state.iteration == 1
    it = state.iterations[0]
    assert it.outcome == "agent_error" and it.checks == () and it.failed_output == "provider unavailable"
    assert "passes" not in json.loads(path.read_text())["user_stories"][0]


async def test_the_agent_cannot_mark_its_own_story(repo: Path) -> None:
    path = _write_prd(repo, [{"id": "A", "title": "a"}], quality_checks={"test": "false"})

    def cheat(ws: Path) -> None:
        doc = json.loads(path.read_text())
        doc["user_stories"][0]["passes"] = True
        path.write_text(json.dumps(doc))

    state = await RalphLoop(path, repo, _agent(cheat), max_iterations=1).run()
    assert state.status == "max_iterations"
    assert "passes" not in json.loads(path.read_text())["user_stories"][0]


async def test_a_bad_prd_fails_before_anything_runs(repo: Path) -> None:
    (repo / "prd.json").write_text('{"project": "p", "feature": "f", "user_stories": [{"id": "A", "title": "a", '
                                   '"depends_on": ["B"]}]}')
    with pytest.raises(PrdError, match="story 'A' depends on 'B'"):
        await RalphLoop(repo / "prd.json", repo, _agent(), max_iterations=1).run()
    assert not (repo / "progress.txt").exists()


async def test_a_check_over_its_time_is_killed_with_its_children(tmp_path: Path) -> None:
    marker = tmp_path / "late"
    result = await run_check("test", f"echo started; (sleep 30; touch {marker}) & sleep 30", tmp_path, 0.5)
    assert result.status == "timeout" and result.exit_code is None
    assert result.output.startswith("started") and "over the 0.5s limit" in result.output
    big = await run_check("build", "seq 1 100000; exit 3", tmp_path, 30)
    assert big.status == "failed" and big.exit_code == 3 and len(big.output) < 5000
    assert big.output.startswith("1\n2\n") and big.output.rstrip().endswith("100000") and "dropped" in big.output
