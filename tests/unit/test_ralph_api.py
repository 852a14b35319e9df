"""ralph/* through the daemon's API on the scripted model, real commands and real git: a
run whose test check fails until the agent wrote a file, then passes (PRD saved,
progress.txt, commit, bus events on ralph.{prd_id}); status; cancel by another caller;
the caller going away; create_prd with a valid, an invalid-then-repaired and an
unusable reply."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
from codetether.daemon.api import API, CallContext, build_api
from codetether.daemon.app import App
from codetether.daemon.errors import Conflict, InvalidParams, ProviderError
from codetether.daemon.wire.ralph import RalphEventNote, RalphPrdResult, RalphState, RalphStatusResult

from .conftest import git as _git

AUTO = '[permissions]\nmode = "auto"\n'


def _ctx() -> CallContext:
    return CallContext(transport="inproc", peer={"uid": os.getuid()}, principal=f"uid:{os.getuid()}")


def _prd(where: Path, **extra: Any) -> Path:
    path = where / "prd.json"
    path.write_text(json.dumps({
        "project": "demo", "feature": "hello", "auto_commit": True,
        "quality_checks": {"typecheck": None, "lint": None, "test": "test -f hello.txt", "build": None},
        "user_stories": [{"id": "US-001", "title": "Write hello", "description": "create hello.txt",
                          "acceptance_criteria": ["hello.txt exists"], "verification_steps": ["$ grep -q hi hello.txt"],
                          "priority": 1, "depends_on": [], "passes": False, "complexity": 1}], **extra}, indent=2))
    return path


async def _run(table: API, params: dict[str, Any], ctx: CallContext | None = None,
               ) -> tuple[list[Any], RalphState]:
    events: list[Any] = []
    final: RalphState | None = None
    async for item in table.stream("ralph/run", params, ctx or _ctx()):
        if isinstance(item, RalphEventNote):
            events.append(item.event)
        else:
            final = item
    assert isinstance(final, RalphState)
    return events, final


async def test_a_failing_check_then_a_passing_one(tmp_path: Path, repo: Path, scripted_app: Any) -> None:
    path = _prd(repo)
    app: App = scripted_app(tmp_path / "home", [
        "I looked around; nothing to do yet.",
        {"tool": "write_file", "arguments": {"path": "hello.txt", "content": "hi\n"}}, "wrote hello.txt"],
        config=AUTO)
    await app.start()
    try:
        table = build_api(app)
        events, state = await _run(table, {"prd": str(path), "max_iterations": 3})
        assert state.status == "completed" and state.iteration == 2
        first, second = state.iterations
        assert first.outcome == "failed" and first.failed_check == "test"
        assert second.outcome == "passed" and second.commit and second.session_id
        assert json.loads(path.read_text())["user_stories"][0]["passes"] is True
        progress = (repo / "progress.txt").read_text()
        assert "Iteration 1: US-001 Write hello: failed" in progress and "Iteration 2: US-001 Write hello: passed" in progress
        assert _git(repo, "log", "--format=%s", "-1").strip() == "ralph: US-001 Write hello"
        phases = [e.phase for e in events]
        assert phases[0] == "started" and phases[-1] == "completed" and "agent" in phases
        assert [e.detail for e in events if e.phase == "agent"] == ["write_file"]
        # each iteration was a fresh session, told about the story
        s1 = app.sessions.get(first.session_id)
        assert s1.title == f"ralph {state.prd_id}: US-001" and first.session_id != second.session_id
        # the bus carried the run on ralph.{prd_id}
        seen = [env async for env in app.bus.replay(f"ralph.{state.prd_id}")]
        assert seen and seen[-1].message.state == "TASK_STATE_COMPLETED"
        assert all(env.message.task_id == f"ralph:{state.prd_id}" for env in seen)
        # status: the stories now, and the run
        status = await table.call("ralph/status", {"prd": str(path)}, _ctx())
        assert isinstance(status, RalphStatusResult)
        assert status.passed == status.total == 1 and status.next_story is None and status.run == state
        by_id = await table.call("ralph/status", {"prd": state.prd_id}, _ctx())
        assert by_id.prd_path == str(path)
        audit = app.recorder.audit.query(category="ralph")
        assert audit and audit[0].outcome == "success" and audit[0].detail["status"] == "completed"
    finally:
        await app.aclose()


async def test_cancel_from_another_caller_and_a_rerun_continues(tmp_path: Path, repo: Path,
                                                               scripted_app: Any) -> None:
    path = _prd(repo, quality_checks={"test": "test -f hello.txt"})
    # the first iteration's agent waits for an approval nobody gives: the run is busy
    app: App = scripted_app(tmp_path / "home", [
        {"tool": "bash", "arguments": {"command": "echo hi > hello.txt"}},  # cancelled while it waits
        {"tool": "write_file", "arguments": {"path": "hello.txt", "content": "hi\n"}}, "wrote it"])
    try:
        table = build_api(app)
        events: list[Any] = []
        waiting = asyncio.Event()

        async def consume() -> RalphState:
            final = None
            async for item in table.stream("ralph/run", {"prd": str(path)}, _ctx()):
                if isinstance(item, RalphEventNote):
                    events.append(item.event)
                    if item.event.phase == "approval":
                        waiting.set()
                else:
                    final = item
            assert isinstance(final, RalphState)
            return final

        run = asyncio.create_task(consume())
        await asyncio.wait_for(waiting.wait(), 30)
        with pytest.raises(Conflict, match="is running"):
            await _run(table, {"prd": str(path)})
        out = await table.call("ralph/cancel", {"prd": str(path)}, _ctx())
        assert out.cancelled is True
        state = await asyncio.wait_for(run, 30)
        assert state.status == "cancelled" and events[-1].phase == "cancelled"
        assert "Iteration 1: US-001 Write hello: cancelled" in (repo / "progress.txt").read_text()
        assert (await table.call("ralph/cancel", {"prd": str(path)}, _ctx())).cancelled is False
        status = await table.call("ralph/status", {"prd": str(path)}, _ctx())
        assert status.run.status == "cancelled" and status.next_story == "US-001"
        # running it again (auto mode this time) goes on
        _, state = await _run(table, {"prd": str(path), "approval_mode": "auto"})
        assert state.status == "completed" and state.iteration == 1
    finally:
        await app.aclose()


async def test_the_caller_going_away_cancels_the_run(tmp_path: Path, repo: Path, scripted_app: Any) -> None:
    path = _prd(repo)
    app: App = scripted_app(tmp_path / "home", [{"tool": "bash", "arguments": {"command": "true"}}])
    try:
        table = build_api(app)
        stream = table.stream("ralph/run", {"prd": str(path)}, _ctx())
        async for item in stream:
            if isinstance(item, RalphEventNote) and item.event.phase == "approval":
                break
        await stream.aclose()
        status = await table.call("ralph/status", {"prd": str(path)}, _ctx())
        assert status.run.status == "cancelled"
        assert not table.method("ralph/run").handler.__self__.running
    finally:
        await app.aclose()


async def test_bad_input_is_refused_with_the_field(tmp_path: Path, repo: Path, scripted_app: Any) -> None:
    app: App = scripted_app(tmp_path / "home", [])
    try:
        table = build_api(app)
        with pytest.raises(InvalidParams, match="absolute"):
            await _run(table, {"prd": "prd.json"})
        with pytest.raises(InvalidParams, match="does not exist"):
            await _run(table, {"prd": str(repo / "prd.json")})
        (repo / "prd.json").write_text('{"project": "p", "feature": "f", "user_stories": '
                                       '[{"id": "A", "title": "a"}, {"id": "A", "title": "b"}]}')
        with pytest.raises(InvalidParams, match="'A' is used twice"):
            await _run(table, {"prd": str(repo / "prd.json")})
        with pytest.raises(InvalidParams):
            await _run(table, {"prd": str(repo / "prd.json"), "max_iterations": 0})
        assert not (repo / "progress.txt").exists()
    finally:
        await app.aclose()


_GOOD: dict[str, Any] = {"project": "shop", "feature": "cart", "branch_name": "ralph/cart", "description": "a cart",
         "quality_checks": {"typecheck": None, "lint": None, "test": "pytest -q", "build": None},
         "user_stories": [{"id": "US-001", "title": "Cart model", "description": "d", "acceptance_criteria": ["a"],
                           "verification_steps": ["$ pytest -q"], "priority": 1, "depends_on": [],
                           "passes": True, "complexity": 2},
                          {"id": "US-002", "title": "Cart API", "description": "d", "acceptance_criteria": ["b"],
                           "verification_steps": ["A person adds an item"], "priority": 2,
                           "depends_on": ["US-001"], "passes": False, "complexity": 3}]}


async def test_create_prd_valid_repaired_and_unusable(tmp_path: Path, scripted_app: Any) -> None:
    bad = {**_GOOD, "user_stories": [{**_GOOD["user_stories"][1], "depends_on": ["US-404"]}]}
    app: App = scripted_app(tmp_path / "home", [
        "Here you go:\n```json\n" + json.dumps(_GOOD) + "\n```",
        json.dumps(bad), json.dumps(_GOOD),
        "I cannot write JSON today.", "Still no."])
    out = tmp_path / "prd.json"
    try:
        table = build_api(app)
        result = await table.call("ralph/create_prd", {"feature": "cart", "project_name": "my-shop",
                                                       "out": str(out)}, _ctx())
        assert isinstance(result, RalphPrdResult) and result.repaired is False and result.path == str(out)
        written = json.loads(out.read_text())
        # the project asked for wins; a fresh PRD has no passing story
        assert written["project"] == "my-shop" and [s["passes"] for s in written["user_stories"]] == [False, False]
        assert written["user_stories"][1]["depends_on"] == ["US-001"]
        with pytest.raises(Conflict, match="exists"):
            await table.call("ralph/create_prd", {"feature": "cart", "out": str(out)}, _ctx())
        result = await table.call("ralph/create_prd", {"feature": "cart", "out": str(out), "overwrite": True},
                                  _ctx())
        assert result.repaired is True and result.prd.project == "shop"
        other = tmp_path / "other.json"
        with pytest.raises(ProviderError, match="did not draft a valid PRD"):
            await table.call("ralph/create_prd", {"feature": "cart", "out": str(other)}, _ctx())
        assert not other.exists()
        with pytest.raises(InvalidParams, match="absolute"):
            await table.call("ralph/create_prd", {"feature": "cart", "out": "prd.json"}, _ctx())
    finally:
        await app.aclose()


async def test_a_run_cut_short_by_a_restart_shows_as_interrupted_and_goes_on(tmp_path: Path, repo: Path,
                                                                            scripted_app: Any) -> None:
    from codetether.daemon.core.ralph import RalphStore, prd_id

    path = _prd(repo)
    app: App = scripted_app(tmp_path / "home", [
        {"tool": "write_file", "arguments": {"path": "hello.txt", "content": "hi\n"}}, "wrote it"], config=AUTO)
    try:
        table = build_api(app)
        status = await table.call("ralph/status", {"prd": str(path)}, _ctx())
        assert status.run is None and status.next_story == "US-001" and status.stories[0].status == "ready"
        # what a daemon killed mid-iteration leaves behind
        RalphStore(app.paths.data_dir / "ralph").save(RalphState(
            prd_id=prd_id(path), prd_path=str(path), workspace=str(repo), status="running", iteration=1,
            current_story="US-001"))
        status = await table.call("ralph/status", {"prd": str(path)}, _ctx())
        assert status.run.status == "interrupted" and status.run.current_story is None
        _, state = await _run(table, {"prd": str(path)})
        assert state.status == "completed" and state.iteration == 1
        # the PRD broken afterwards: status still shows the run, and says why
        path.write_text("{")
        status = await table.call("ralph/status", {"prd": str(path)}, _ctx())
        assert status.run.status == "completed" and "is not JSON" in status.prd_error
    finally:
        await app.aclose()


async def test_parallel_runs_two_ready_stories_as_one_stage(tmp_path: Path, repo: Path, scripted_app: Any) -> None:
    # The scripted model plays its turns in order across both agents, whichever asks
    # first: the two writes are interchangeable (the checks run after both merged).
    stories = [{"id": sid, "title": f"write {sid}", "priority": i, "verification_steps": [f"$ test -f {sid}.txt"]}
               for i, sid in enumerate(("A", "B"), 1)]
    path = repo / "prd.json"
    path.write_text(json.dumps({"project": "demo", "feature": "two", "auto_commit": True, "user_stories": stories}))
    app: App = scripted_app(tmp_path / "home", [
        {"tool": "write_file", "arguments": {"path": "A.txt", "content": "a\n"}},
        {"tool": "write_file", "arguments": {"path": "B.txt", "content": "b\n"}}], fallback="done", config=AUTO)
    await app.start()
    try:
        table = build_api(app)
        events, state = await _run(table, {"prd": str(path), "max_iterations": 1, "parallel": 2})
        assert state.status == "completed" and state.iteration == 1 and state.parallel == 2
        assert [(r.story_id, r.outcome, r.stage) for r in state.iterations] == [
            ("A", "passed", ("A", "B")), ("B", "passed", ("A", "B"))]
        assert (repo / "A.txt").read_text() == "a\n" and (repo / "B.txt").read_text() == "b\n"
        # each agent's session knew its own story
        titles = {app.sessions.get(r.session_id).title for r in state.iterations}
        assert titles == {f"ralph {state.prd_id}: A", f"ralph {state.prd_id}: B"}
        stage = [e for e in events if e.phase == "stage"]
        assert len(stage) == 1 and stage[0].stories == ("A", "B")
        assert _git(repo, "log", "--first-parent", "--format=%s", "-1").strip() == "ralph: A, B"
        assert _git(repo, "status", "--porcelain") == "" and not list((app.paths.data_dir / "worktrees").glob("*/*"))
        # the bus event of the stage names both stories
        seen = [env.message.metadata async for env in app.bus.replay(f"ralph.{state.prd_id}")]
        assert any(m.get("phase") == "stage" and m.get("stories") == ["A", "B"] for m in seen)
    finally:
        await app.aclose()
