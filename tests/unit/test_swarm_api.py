"""swarm/* through the daemon's API on the scripted model and a real git repository:
stages, worktrees merged back in order, a conflict reported, a failing subtask failing
only its dependants, cancel, and resume after a restart."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
from codetether.daemon.api import API, CallContext, build_api
from codetether.daemon.app import App
from codetether.daemon.errors import InvalidParams, NotFound
from codetether.daemon.wire.swarm import SwarmEventNote, SwarmState

from .conftest import git as _git

AUTO = '[permissions]\nmode = "auto"\n'


def _ctx() -> CallContext:
    return CallContext(transport="inproc", peer={"uid": os.getuid()}, principal=f"uid:{os.getuid()}")


def _plan(*subtasks: dict[str, Any]) -> dict[str, Any]:
    return {"text": "Here is the plan:\n```json\n" + json.dumps({"subtasks": list(subtasks)}) + "\n```"}


def _sub(name: str, *deps: str, worktree: bool = True, priority: int = 0) -> dict[str, Any]:
    return {"name": name, "instruction": f"do {name}", "specialty": "code", "dependencies": list(deps),
            "priority": priority, "needs_worktree": worktree}


def _write(path: str, content: str) -> dict[str, Any]:
    return {"tool": "write_file", "arguments": {"path": path, "content": content}}


async def _swarm(table: API, method: str, params: dict[str, Any],
                 on_event: Any = None) -> tuple[list[Any], SwarmState]:
    events: list[Any] = []
    final: SwarmState | None = None
    async for item in table.stream(method, params, _ctx()):
        if isinstance(item, SwarmEventNote):
            events.append(item.event)
            if on_event is not None:
                await on_event(item.event)
        else:
            final = item
    assert isinstance(final, SwarmState)
    return events, final


async def test_two_stages_in_worktrees_merge_back_and_synthesize(tmp_path: Path, repo: Path,
                                                                 scripted_app: Any) -> None:
    app: App = scripted_app(tmp_path / "home", [
        _plan(_sub("alpha"), _sub("beta"), _sub("gamma", "alpha", "beta", worktree=False)),
        _write("a.txt", "from alpha\n"), "alpha wrote a.txt",
        _write("b.txt", "from beta\n"), "beta wrote b.txt",
        _write("c.txt", "gamma may not write\n"), "gamma read both",
        "All three subtasks are done."], config=AUTO)
    try:
        table = build_api(app)
        events, state = await _swarm(table, "swarm/start", {
            "task": "make a and b, then check", "workspace": str(repo), "concurrency": 1})
        assert state.status == "completed" and state.answer == "All three subtasks are done."
        assert state.stages == (("alpha", "beta"), ("gamma",))
        assert {n: r.status for n, r in state.results.items()} == {"alpha": "done", "beta": "done", "gamma": "done"}
        # both branches merged into the main tree, in order, as commits; worktrees gone
        assert (repo / "a.txt").read_text() == "from alpha\n" and (repo / "b.txt").read_text() == "from beta\n"
        assert [o.status for o in state.merge.outcomes] == ["merged", "merged"]  # type: ignore[union-attr]
        assert _git(repo, "status", "--porcelain") == ""
        assert "merge subtask beta" in _git(repo, "log", "--format=%s", "-3")
        assert not list((app.paths.data_dir / "worktrees").glob(f"{state.id}/*"))
        # gamma ran read-only in the main tree: its write was refused
        assert not (repo / "c.txt").exists()
        alpha = state.results["alpha"]
        assert alpha.diff is not None and [f.path for f in alpha.diff.files] == ["a.txt"]
        assert alpha.branch and alpha.steps == 2 and alpha.tokens_in > 0
        phases = [e.phase for e in events]
        assert phases[:2] == ["planning", "planned"] and phases[-1] == "completed"
        assert phases.index("merging") < phases.index("merged") < phases.index("synthesizing")
        # one at a time (concurrency 1): each ends before the next starts
        assert [(e.phase, e.subtask) for e in events if e.phase in ("started", "done")] == [
            (p, n) for n in ("alpha", "beta", "gamma") for p in ("started", "done")]
        assert [e.subtask for e in events if e.phase == "agent"] == ["alpha", "beta", "gamma"]
        # status and list read what was saved
        saved = await table.call("swarm/status", {"swarm_id": state.id}, _ctx())
        assert saved == state
        assert [s.id for s in await table.call("swarm/list", {}, _ctx())] == [state.id]
    finally:
        await app.aclose()


async def test_a_conflict_is_reported_and_the_main_tree_left_clean(tmp_path: Path, repo: Path,
                                                                  scripted_app: Any) -> None:
    app: App = scripted_app(tmp_path / "home", [
        _plan(_sub("one"), _sub("two")),
        _write("README", "one's version\n"), "one done",
        _write("README", "two's version\n"), "two done",
        "one merged; two conflicted on README"], config=AUTO)
    try:
        table = build_api(app)
        events, state = await _swarm(table, "swarm/start", {
            "task": "edit README twice", "workspace": str(repo), "concurrency": 1})
        assert state.status == "completed"
        outcomes = {o.subtask: o for o in state.merge.outcomes}  # type: ignore[union-attr]
        assert outcomes["one"].status == "merged"
        assert outcomes["two"].status == "conflict" and outcomes["two"].files == ("README",)
        assert ("conflict", "two") in [(e.phase, e.subtask) for e in events]
        assert (repo / "README").read_text() == "one's version\n"
        assert _git(repo, "status", "--porcelain") == "" and not (repo / ".git" / "MERGE_HEAD").exists()
        assert outcomes["two"].branch in _git(repo, "branch", "--list", "codetether/*")  # kept to resolve
    finally:
        await app.aclose()


async def test_a_failing_subtask_fails_only_its_dependants(tmp_path: Path, repo: Path,
                                                          scripted_app: Any) -> None:
    app: App = scripted_app(tmp_path / "home", [
        _plan(_sub("broken", priority=1), _sub("fine"), _sub("after", "broken", worktree=False)),
        {"error": 400, "message": "the model refused"},  # broken's only turn
        "fine is fine",
        "broken failed, fine is done, after was skipped"], config=AUTO)
    try:
        table = build_api(app)
        _, state = await _swarm(table, "swarm/start", {
            "task": "three things", "workspace": str(repo), "concurrency": 1})
        statuses = {n: r.status for n, r in state.results.items()}
        assert statuses == {"broken": "failed", "fine": "done", "after": "skipped"}
        assert "the model refused" in (state.results["broken"].output or "")
        assert "broken" in (state.results["after"].error or "")
        assert state.status == "completed" and state.answer
    finally:
        await app.aclose()


async def test_cancel_then_resume_runs_only_what_did_not_finish(tmp_path: Path, repo: Path,
                                                               scripted_app: Any) -> None:
    home = tmp_path / "home"
    app: App = scripted_app(home, [
        _plan(_sub("first", priority=1), _sub("second")),
        _write("first.txt", "1\n"), "first done",
        {"tool": "bash", "arguments": {"command": "sleep 60"}}], config=AUTO)
    table = build_api(app)
    second_running = asyncio.Event()

    async def watch(event: Any) -> None:
        if event.phase == "agent" and event.subtask == "second" and event.detail == "bash":
            second_running.set()

    run = asyncio.create_task(_swarm(table, "swarm/start", {
        "task": "two things", "workspace": str(repo), "concurrency": 1}, on_event=watch))
    await second_running.wait()
    swarm_id = next(iter(app.jobs)).get_name().removeprefix("swarm:")
    assert (await table.call("swarm/cancel", {"swarm_id": swarm_id}, _ctx())).cancelled
    _, state = await run
    assert state.status == "cancelled" and state.results["first"].status == "done"
    assert state.results["second"].status == "cancelled"
    assert not (await table.call("swarm/cancel", {"swarm_id": swarm_id}, _ctx())).cancelled
    await app.aclose()

    # a new daemon on the same home: resume runs "second" only, then merges both
    again: App = scripted_app(home, [_write("second.txt", "2\n"), "second done", "both done"], config=AUTO)
    try:
        table = build_api(again)
        events, state = await _swarm(table, "swarm/resume", {"swarm_id": swarm_id})
        assert state.status == "completed" and state.answer == "both done"
        assert [e.subtask for e in events if e.phase == "started"] == ["second"]
        assert (repo / "first.txt").read_text() == "1\n" and (repo / "second.txt").read_text() == "2\n"
    finally:
        await again.aclose()


async def test_a_daemon_shutdown_saves_a_running_swarm_as_resumable(tmp_path: Path, repo: Path,
                                                                   scripted_app: Any) -> None:
    home = tmp_path / "home"
    app: App = scripted_app(home, [_plan(_sub("only")), {"tool": "bash", "arguments": {"command": "sleep 60"}}],
                            config=AUTO)
    table = build_api(app)
    running = asyncio.Event()

    async def watch(event: Any) -> None:
        if event.phase == "agent":
            running.set()

    run = asyncio.create_task(_swarm(table, "swarm/start", {"task": "t", "workspace": str(repo)},
                                     on_event=watch))
    await running.wait()
    app.stop_runs()
    await app.aclose()
    _, state = await run
    assert state.status == "cancelled"
    again: App = scripted_app(home, ["only done", "done"], config=AUTO)
    try:
        listed = await build_api(again).call("swarm/list", {}, _ctx())
        assert [(s.id, s.status) for s in listed] == [(state.id, "cancelled")]
    finally:
        await again.aclose()


async def test_outside_a_git_repository_subtasks_run_in_the_workspace(tmp_path: Path, scripted_app: Any) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    app: App = scripted_app(tmp_path / "home", [
        _plan(_sub("writer")), _write("w.txt", "w\n"), "wrote it", "done"], config=AUTO)
    try:
        _, state = await _swarm(build_api(app), "swarm/start", {"task": "t", "workspace": str(plain)})
        assert state.status == "completed" and state.merge is None and state.base_commit is None
        assert (plain / "w.txt").read_text() == "w\n"
    finally:
        await app.aclose()


async def test_bad_requests_are_refused_with_the_field(tmp_path: Path, scripted_app: Any) -> None:
    app: App = scripted_app(tmp_path / "home", [])
    try:
        table = build_api(app)
        with pytest.raises(InvalidParams, match="workspace"):
            await _swarm(table, "swarm/start", {"task": "t", "workspace": "relative/dir"})
        with pytest.raises(InvalidParams, match="NATS"):
            await _swarm(table, "swarm/start", {"task": "t", "workspace": str(tmp_path), "execution": "cluster"})
        with pytest.raises(InvalidParams):
            await _swarm(table, "swarm/start", {"task": "", "workspace": str(tmp_path)})
        with pytest.raises(NotFound):
            await table.call("swarm/status", {"swarm_id": "sw_nope"}, _ctx())
    finally:
        await app.aclose()


async def test_two_resumes_of_one_swarm_run_it_once(tmp_path: Path, repo: Path, scripted_app: Any) -> None:
    import time

    import msgspec
    from codetether.daemon.core.agents import SwarmStore
    from codetether.daemon.errors import Conflict
    from codetether.daemon.wire.swarm import Plan

    app: App = scripted_app(tmp_path / "home", [], fallback="ok", config=AUTO)
    try:
        table = build_api(app)
        now = time.time()
        plan = msgspec.convert({"subtasks": [{"name": "alpha", "instruction": "do", "needs_worktree": True}]}, Plan)
        SwarmStore(app.paths.data_dir / "swarms").save(SwarmState(
            id="swarmtest1", task="t", workspace=str(repo), approval_mode="auto", status="cancelled", plan=plan,
            stages=(("alpha",),), concurrency=1, created_at=now, updated_at=now))

        async def resume() -> Any:
            try:
                return (await _swarm(table, "swarm/resume", {"swarm_id": "swarmtest1"}))[1].status
            except Conflict as exc:
                return exc.message

        outcomes = await asyncio.gather(resume(), resume())
        assert sorted(outcomes) == ["completed", "swarm swarmtest1 is running"]
        ran = [m for m in app.sessions.list() if m.state.get("swarm")]
        assert len(ran) == 1  # alpha ran once
    finally:
        await app.aclose()
