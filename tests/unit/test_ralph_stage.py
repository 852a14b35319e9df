"""Ralph stages: ready stories run together, each in its own git worktree, merged back in
priority order (real git, real checks, agents as functions that know their story):
two stories in one iteration then their dependant; a conflict kept and re-run; the
loop's own files never block nor merge; a dirty tree, no git, and parallel=1 run one at
a time; cancelling a stage leaves no worktree."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from codetether.daemon.core.agents import AgentOutcome
from codetether.daemon.core.ralph import RalphLoop, current_story, widest_stage
from codetether.daemon.core.ralph import parse_prd as _parse
from codetether.daemon.wire.ralph import RalphIteration, RalphProgress, RalphState

from .conftest import git as _git


def _story(sid: str, *deps: str, priority: int = 1, check: str | None = None) -> dict[str, Any]:
    return {"id": sid, "title": sid.lower(), "priority": priority, "depends_on": list(deps),
            "verification_steps": [f"$ {check or f'grep -q {sid} {sid}.txt'}"]}


def _prd(repo: Path, *stories: dict[str, Any], commit: bool = True, **extra: Any) -> Path:
    path = repo / "prd.json"
    path.write_text(json.dumps({"project": "demo", "feature": "f", "quality_checks": {"lint": "true"},
                                "user_stories": list(stories), **extra}, indent=2))
    if commit:
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", "prd")
    return path


Seen = list[tuple[str, Path]]
Action = Callable[[str, Path, int], None]


def _agent(action: Action, seen: Seen, *, together: int = 0) -> Callable[[str, Path], Awaitable[AgentOutcome]]:
    """An agent that knows its story (current_story); with ``together`` the first that
    many agents wait for each other, so they provably run at the same time."""
    met: list[str] = []
    all_in = asyncio.Event()

    async def run(prompt: str, workspace: Path) -> AgentOutcome:
        story = current_story()
        assert story is not None and f"## Your story: {story}:" in prompt
        seen.append((story, workspace))
        if len(met) < together:
            met.append(story)
            if len(met) == together:
                all_in.set()
            async with asyncio.timeout(10):
                await all_in.wait()
        action(story, workspace, sum(1 for s, _ in seen if s == story))
        return AgentOutcome(text=f"did {story}", stop_reason="end_turn", steps=1, session_id=f"s-{story}")

    return run


def _write_own(story: str, ws: Path, _attempt: int) -> None:
    (ws / f"{story}.txt").write_text(f"{story}\n")


async def test_two_stories_in_one_iteration_then_their_dependant(repo: Path) -> None:
    path = _prd(repo, _story("A"), _story("B", priority=2), _story("C", "A", "B"), auto_commit=True)
    seen: Seen = []
    events: list[RalphProgress] = []
    hooked: list[RalphIteration] = []

    async def after(it: RalphIteration, _state: RalphState) -> None:
        hooked.append(it)

    loop = RalphLoop(path, repo, _agent(_write_own, seen, together=2), max_iterations=5, parallel=3,
                     progress=events.append, after_iteration=after)
    state = await loop.run()
    assert state.status == "completed" and state.iteration == 2 and state.stories_passed == 3
    a, b, c = state.iterations
    assert [(r.iteration, r.story_id, r.outcome) for r in (a, b, c)] == [(1, "A", "passed"), (1, "B", "passed"),
                                                                         (2, "C", "passed")]
    assert a.stage == b.stage == ("A", "B") and a.merge == b.merge == "merged" and c.stage == ()
    # A and B each in its own worktree (gone now), C in the workspace after the merges
    where = dict(seen)
    assert where["A"] != where["B"] and repo not in (where["A"], where["B"]) and where["C"] == repo
    assert not where["A"].exists() and not where["B"].exists()
    assert [(c.name, c.status) for c in a.checks] == [("lint", "passed"), ("verify[1]", "passed")]
    # one commit for the stage (after the merges, naming both), then C's
    subjects = _git(repo, "log", "--first-parent", "--format=%s").splitlines()
    assert [s for s in subjects if s.startswith("ralph:")] == ["ralph: C c", "ralph: A, B"]
    assert a.commit == b.commit and a.commit and c.commit != a.commit
    assert set(_git(repo, "show", "--name-only", "--format=", a.commit).split()) == {"prd.json", "progress.txt"}
    assert sum("merge subtask" in s for s in subjects) == 2
    assert _git(repo, "status", "--porcelain") == "" and "codetether/" not in _git(repo, "branch", "--list")
    assert len(_git(repo, "worktree", "list").splitlines()) == 1
    # progress.txt: one entry per story; the PRD saved with every story passing
    progress = (repo / "progress.txt").read_text()
    assert progress.count("## Iteration 1: ") == 2 and progress.count("## Iteration 2: ") == 1
    assert "## Iteration 1: B b: passed" in progress and "stage: A, B in parallel" in progress
    assert all(s["passes"] for s in json.loads(path.read_text())["user_stories"])
    # the events name every story of the stage; the hook ran once per iteration
    stage = [e for e in events if e.phase == "stage"]
    assert len(stage) == 1 and stage[0].stories == ("A", "B") and "A, B" in stage[0].detail
    assert [(e.story, e.detail) for e in events if e.phase == "merge"] == [("A", "merged"), ("B", "merged")]
    assert [e.story for e in events if e.phase == "story"] == ["A", "B", "C"]
    committed = [e for e in events if e.phase == "committed"]
    assert committed[0].stories == ("A", "B") and committed[1].story == "C"
    assert [h.iteration for h in hooked] == [1, 2]


async def test_a_conflict_is_kept_and_the_story_passes_later_from_the_new_head(repo: Path) -> None:
    path = _prd(repo, _story("A", check="grep -q A README"), _story("B", priority=2, check="grep -q B README"),
                auto_commit=True)
    seen: Seen = []
    read: list[str] = []

    def edit_readme(story: str, ws: Path, attempt: int) -> None:
        read.append((ws / "README").read_text())
        before = (ws / "README").read_text() if attempt > 1 else ""
        (ws / "README").write_text(f"{before}{story}\n")  # the same line from both: a conflict

    events: list[RalphProgress] = []
    state = await RalphLoop(path, repo, _agent(edit_readme, seen, together=2), max_iterations=3, parallel=2,
                            progress=events.append).run()
    assert state.status == "completed" and state.iteration == 2
    a, b1, b2 = state.iterations
    assert (a.story_id, a.outcome, a.merge) == ("A", "passed", "merged")
    assert (b1.story_id, b1.outcome, b1.merge, b1.merge_files) == ("B", "not_merged", "conflict", ("README",))
    assert b1.failed_check == "merge" and b1.checks == () and b1.branch
    # its branch is kept (named in progress.txt); the main tree is not left mid-merge
    assert b1.branch in _git(repo, "branch", "--list", "codetether/*")
    assert _git(repo, "rev-parse", b1.branch).strip() != _git(repo, "rev-parse", "HEAD").strip()
    assert not (repo / ".git" / "MERGE_HEAD").exists()
    progress = (repo / "progress.txt").read_text()
    assert "## Iteration 1: B b: not_merged" in progress and f"merge: conflict (README); branch kept: {b1.branch}" \
        in progress
    assert ("B", f"conflict in README; branch kept: {b1.branch}") in [(e.story, e.detail) for e in events
                                                                      if e.phase == "merge"]
    # iteration 2: B alone, in the workspace, from the new HEAD (A's README)
    assert (b2.iteration, b2.story_id, b2.outcome, b2.stage) == (2, "B", "passed", ())
    assert seen[-1] == ("B", repo) and read[-1] == "A\n"
    assert (repo / "README").read_text() == "A\nB\n" and _git(repo, "status", "--porcelain") == ""
    assert [s for s in _git(repo, "log", "--first-parent", "--format=%s").splitlines() if s.startswith("ralph:")] == [
        "ralph: B b", "ralph: A a"]


async def test_the_loops_own_files_neither_block_a_stage_nor_merge(repo: Path) -> None:
    # no auto_commit: prd.json and progress.txt stay changed between iterations (tracked)
    path = _prd(repo, _story("A"), _story("B"), _story("C", "A", "B"), _story("D", "A", "B"))

    def cheat(story: str, ws: Path, attempt: int) -> None:
        _write_own(story, ws, attempt)
        doc = json.loads((ws / "prd.json").read_text())
        for s in doc["user_stories"]:
            s["passes"] = True  # in its worktree: dropped before its branch is committed
        (ws / "prd.json").write_text(json.dumps(doc))
        (ws / "progress.txt").write_text("mine\n")

    seen: Seen = []
    state = await RalphLoop(path, repo, _agent(cheat, seen), max_iterations=2, parallel=2).run()
    assert state.status == "completed" and state.iteration == 2
    assert [(r.iteration, r.story_id, r.stage) for r in state.iterations] == [
        (1, "A", ("A", "B")), (1, "B", ("A", "B")), (2, "C", ("C", "D")), (2, "D", ("C", "D"))]
    assert all(ws != repo for _, ws in seen)
    merged = _git(repo, "diff", "--name-only", "HEAD~4", "HEAD").split()  # the four merges
    assert merged == ["A.txt", "B.txt", "C.txt", "D.txt"]
    assert sorted(_git(repo, "status", "--porcelain").split()) == ["??", "M", "prd.json", "progress.txt"]
    assert (repo / "progress.txt").read_text().count("## Iteration") == 4


async def test_a_dirty_main_tree_runs_the_stories_one_at_a_time(repo: Path) -> None:
    path = _prd(repo, _story("A"), _story("B"))
    (repo / "README").write_text("the user's edit\n")
    seen: Seen = []
    events: list[RalphProgress] = []
    state = await RalphLoop(path, repo, _agent(_write_own, seen), max_iterations=3, parallel=2,
                            progress=events.append).run()
    assert state.status == "completed" and state.iteration == 2
    assert [(r.iteration, r.story_id, r.stage, r.merge) for r in state.iterations] == [
        (1, "A", (), None), (2, "B", (), None)]
    assert seen == [("A", repo), ("B", repo)]
    notes = [e for e in events if e.phase == "stage"]
    assert [(n.iteration, n.stories) for n in notes] == [(1, ("A", "B"))]
    assert "one at a time: the main work tree has uncommitted changes (README)" in notes[0].detail
    assert (repo / "README").read_text() == "the user's edit\n"
    assert _git(repo, "log", "--format=%s", "-1").strip() == "prd"


async def test_no_git_or_parallel_1_is_the_loop_as_it_was(repo: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    for where, parallel in ((plain, 4), (repo, 1)):
        path = _prd(where, _story("A"), _story("B"), commit=False)
        seen: Seen = []
        events: list[RalphProgress] = []
        state = await RalphLoop(path, where, _agent(_write_own, seen), max_iterations=3, parallel=parallel,
                                progress=events.append).run()
        assert state.status == "completed" and state.iteration == 2 and state.parallel == parallel
        assert seen == [("A", where), ("B", where)] and "stage" not in [e.phase for e in events]
    assert _git(repo, "log", "--format=%s").strip() == "base"


async def test_cancelling_a_stage_cancels_every_agent_and_leaves_no_worktree(repo: Path) -> None:
    path = _prd(repo, _story("A"), _story("B"))
    running: list[Path] = []
    both = asyncio.Event()

    async def forever(prompt: str, workspace: Path) -> AgentOutcome:
        running.append(workspace)
        if len(running) == 2:
            both.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    loop = RalphLoop(path, repo, forever, max_iterations=3, parallel=2)
    task = asyncio.create_task(loop.run())
    async with asyncio.timeout(10):
        await both.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert loop.state.status == "cancelled"
    assert [(r.story_id, r.outcome) for r in loop.state.iterations] == [("A", "cancelled"), ("B", "cancelled")]
    assert not any(p.exists() for p in running) and "codetether/" not in _git(repo, "branch", "--list")
    assert len(_git(repo, "worktree", "list").splitlines()) == 1 and _git(repo, "status", "--porcelain") == \
        "?? progress.txt\n"


def test_widest_stage_and_independent_stories(tmp_path: Path) -> None:
    stories: list[dict[str, Any]] = [
        {"id": "A", "title": "a"}, {"id": "B", "title": "b"}, {"id": "C", "title": "c", "depends_on": ["A"]},
        {"id": "D", "title": "d", "depends_on": ["A"]}, {"id": "E", "title": "e", "depends_on": ["A"]}]
    doc = {"project": "p", "feature": "f", "user_stories": stories}
    assert widest_stage(_parse(json.dumps(doc))[1]) == 3
    stories[0]["passes"] = True  # A done: B, C, D, E are all ready
    assert widest_stage(_parse(json.dumps(doc))[1]) == 4
    path = tmp_path / "prd.json"
    path.write_text(json.dumps(doc))
    assert RalphLoop.independent_stories(path) == 4
    path.write_text("not json")
    assert RalphLoop.independent_stories(path) == 1


async def test_a_tree_dirtied_during_the_stage_refuses_its_merges(repo: Path) -> None:
    path = _prd(repo, _story("A"), _story("B"))

    def meddle(story: str, ws: Path, attempt: int) -> None:
        _write_own(story, ws, attempt)
        if story == "A" and attempt == 1:
            (repo / "README").write_text("the user edits meanwhile\n")  # the main tree, mid-stage

    seen: Seen = []
    state = await RalphLoop(path, repo, _agent(meddle, seen, together=2), max_iterations=3, parallel=2).run()
    first = state.iterations[:2]
    assert [(r.story_id, r.outcome, r.merge) for r in first] == [("A", "not_merged", "refused"),
                                                                ("B", "not_merged", "refused")]
    assert "uncommitted changes (README)" in first[0].merge_detail
    kept = _git(repo, "branch", "--list", "codetether/*")
    assert all(r.branch and r.branch in kept for r in first)
    # then one at a time in the (still dirty) workspace
    assert state.status == "completed" and [(r.iteration, r.story_id, r.stage) for r in state.iterations[2:]] == [
        (2, "A", ()), (3, "B", ())]
    assert (repo / "README").read_text() == "the user edits meanwhile\n"


async def test_an_agent_that_fails_is_not_merged_and_the_other_passes(repo: Path) -> None:
    path = _prd(repo, _story("A"), _story("B", priority=2))

    async def run(prompt: str, workspace: Path) -> AgentOutcome:
        story = current_story()
        assert story is not None
        (workspace / f"{story}.txt").write_text(f"{story}\n")
        if story == "A":
            return AgentOutcome(text="provider unavailable", stop_reason="error")
        return AgentOutcome(text="done", stop_reason="end_turn")

    state = await RalphLoop(path, repo, run, max_iterations=1, parallel=2).run()
    a, b = state.iterations
    assert (a.outcome, a.merge, a.failed_output, a.checks) == ("agent_error", None, "provider unavailable", ())
    assert (b.outcome, b.merge) == ("passed", "merged")
    assert not (repo / "A.txt").exists() and (repo / "B.txt").read_text() == "B\n"
    assert "codetether/" not in _git(repo, "branch", "--list")  # A's branch held nothing: gone
