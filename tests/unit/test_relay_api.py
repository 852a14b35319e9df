"""relay/* through the daemon's API on the scripted model: a relay of three specialists
with a tool, the baton on the bus, convergence and stalling, a restart mid-tool resumed
without running the tool again, status/list/cancel, auto-resume, bad input."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
from pathlib import Path
from typing import Any

import pytest
from codetether.daemon.api import API, CallContext, build_api
from codetether.daemon.api.relay import resume_unfinished
from codetether.daemon.app import App
from codetether.daemon.errors import InvalidParams, NotFound
from codetether.daemon.wire.relay import RelayCheckpoint, RelayEventNote, RelayProgress

AUTO = '[permissions]\nmode = "auto"\n'


def _ctx() -> CallContext:
    return CallContext(transport="inproc", peer={"uid": os.getuid()}, principal=f"uid:{os.getuid()}")


def _profiles(*names: str) -> str:
    return json.dumps({"profiles": [{"name": n, "instructions": f"you are the {n}"} for n in names]})


def _bash(command: str) -> dict[str, Any]:
    return {"tool": "bash", "arguments": {"command": command}}


async def _relay(table: API, method: str, params: dict[str, Any],
                 on_event: Any = None) -> tuple[list[RelayProgress], RelayCheckpoint]:
    events: list[RelayProgress] = []
    final: RelayCheckpoint | None = None
    async for item in table.stream(method, params, _ctx()):
        if isinstance(item, RelayEventNote):
            events.append(item.event)
            if on_event is not None:
                await on_event(item.event)
        else:
            final = item
    assert isinstance(final, RelayCheckpoint)
    return events, final


async def test_three_specialists_pass_the_baton_with_tools_and_converge(tmp_path: Path, scripted_app: Any) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    app: App = scripted_app(tmp_path / "home", [
        _profiles("planner", "implementer", "reviewer"),
        "plan: append one line to side.txt",
        _bash("echo implemented >> side.txt"), "appended the line; reviewer, check side.txt",
        _bash("cat side.txt"), "side.txt holds the line.\nAPPROVED",
    ], config=AUTO)
    try:
        await app.start()
        table = build_api(app)
        bus = await app.bus.subscribe("relay.>")
        events, cp = await _relay(table, "relay/start", {"task": "add a line", "workspace": str(ws),
                                                         "okr_run_id": "okr-run-7"})
        assert cp.status == "completed" and cp.stop_reason == "converged" and not cp.live
        assert cp.order == ("planner", "implementer", "reviewer")
        assert [(t.round, t.profile, t.tool_calls) for t in cp.turns] == [
            (1, "planner", 0), (1, "implementer", 1), (1, "reviewer", 1)]
        assert cp.baton == cp.turns[-1].text == "side.txt holds the line.\nAPPROVED"
        assert (ws / "side.txt").read_text() == "implemented\n"
        # each profile its own session, titled for the relay; the baton reached the next one
        assert set(cp.sessions) == set(cp.order) and len(set(cp.sessions.values())) == 3
        implementer = app.runtime(cp.sessions["implementer"])
        assert "Handoff from planner:\nplan: append one line" in implementer.messages[0].content
        assert implementer.meta.title == f"relay {cp.relay_id}: implementer"
        phases = [e.phase for e in events]
        assert phases[:2] == ["planning", "planned"] and phases[-1] == "completed"
        assert [e.profile for e in events if e.phase == "turn"] == ["planner", "implementer", "reviewer"]
        assert [e.detail for e in events if e.phase == "tool"] == ["bash", "bash"]
        # the batons on the bus, profile to profile
        batons = [await bus.get(timeout=5) for _ in range(3)]
        assert [b.sender_id.rsplit(":", 1)[1] for b in batons] == ["planner", "implementer", "reviewer"]
        assert [b.message.to.rsplit(":", 1)[1] for b in batons] == ["implementer", "reviewer", "end"]
        assert batons[1].message.parts[0].text == cp.turns[1].text
        assert {b.topic for b in batons} == {f"relay.{cp.relay_id}"}
        await bus.close()
        # audit: the start and every turn, with the relay and OKR run ids
        audited = app.recorder.audit.query(relay_id=cp.relay_id, limit=100)
        assert sorted(e.action for e in audited if e.category == "relay") == ["start", "turn", "turn", "turn"]
        assert {e.okr_run_id for e in audited} == {"okr-run-7"}
        # the specialists' own records (their tools, their runs' ends) carry the relay too
        assert {e.category for e in audited} >= {"relay", "session", "tool"}
        # status, list, and resume of a completed relay change nothing
        assert await table.call("relay/status", {"relay_id": cp.relay_id}, _ctx()) == cp
        assert [c.relay_id for c in await table.call("relay/list", {}, _ctx())] == [cp.relay_id]
        _, again = await _relay(table, "relay/resume", {"relay_id": cp.relay_id})
        assert again == cp
        assert (await table.call("relay/cancel", {"relay_id": cp.relay_id}, _ctx())).cancelled is False
    finally:
        await app.aclose()


async def test_default_profiles_and_a_stalled_baton_end_the_relay(tmp_path: Path, scripted_app: Any) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    app: App = scripted_app(tmp_path / "home", ["not a plan", "same a", "same b", "same  a", "same b"],
                            config=AUTO)
    try:
        table = build_api(app)
        events, cp = await _relay(table, "relay/start", {"task": "t", "workspace": str(ws), "agents": 2,
                                                         "max_rounds": 5})
        assert cp.order == ("implementer", "reviewer")  # the planner's reply was unusable
        assert "defaults" in next(e.detail for e in events if e.phase == "planned")
        assert cp.status == "completed" and cp.stop_reason == "stalled" and len(cp.turns) == 4
        assert [t.round for t in cp.turns] == [1, 1, 2, 2]
    finally:
        await app.aclose()


async def test_the_round_limit_ends_a_relay(tmp_path: Path, scripted_app: Any) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    app: App = scripted_app(tmp_path / "home", [_profiles("solo"), "one", "two"], config=AUTO)
    try:
        _, cp = await _relay(build_api(app), "relay/start",
                             {"task": "t", "workspace": str(ws), "agents": 1, "max_rounds": 2})
        assert cp.stop_reason == "max_rounds" and [t.text for t in cp.turns] == ["one", "two"]
        assert len(app.runtime(cp.sessions["solo"]).messages) == 4  # one session across rounds
    finally:
        await app.aclose()


@pytest.mark.parametrize("auto", [False, True])
async def test_a_restart_mid_tool_resumes_the_turn_without_running_the_tool_again(
        tmp_path: Path, scripted_app: Any, monkeypatch: pytest.MonkeyPatch, auto: bool) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    fifo, gate = tmp_path / "ready.fifo", tmp_path / "gate.lock"
    os.mkfifo(fifo)
    held = os.open(gate, os.O_RDWR | os.O_CREAT)
    fcntl.flock(held, fcntl.LOCK_EX)  # the tool blocks on it after its side effect
    command = f"echo once >> side.txt; echo ready > {fifo}; flock {gate} true"
    home = tmp_path / "home"
    app: App = scripted_app(home, [_profiles("doer", "checker"), _bash(command), "did it"], config=AUTO)
    ready = asyncio.ensure_future(asyncio.to_thread(lambda: fifo.read_text()))
    table = build_api(app)
    started = asyncio.ensure_future(_relay(table, "relay/start", {"task": "t", "workspace": str(ws), "agents": 2}))
    try:
        assert (await asyncio.wait_for(ready, 30)).strip() == "ready"  # the side effect happened
        cp = next(c for c in await table.call("relay/list", {}, _ctx()))
        assert cp.live and cp.step == "prompt_sent" and cp.tool_step == (1, 0)
        app.stop_runs()  # a daemon restart: the relay is left running, the call open
        await app.aclose()
        _, stopped = await started
        assert stopped.status == "running"
    finally:
        os.close(held)
    app = scripted_app(home, ["did it", "checked\nAPPROVED"], config=AUTO)
    try:
        table = build_api(app)
        if auto:  # [relay] auto_resume = true: the daemon goes on by itself; resume attaches
            monkeypatch.setattr("codetether.daemon.api.relay.auto_resume_enabled", lambda _app: True)
            assert resume_unfinished(app) == [stopped.relay_id]
            assert resume_unfinished(app) == []  # already running
        events, cp = await _relay(table, "relay/resume", {"relay_id": stopped.relay_id})
        assert cp.status == "completed" and cp.stop_reason == "converged"
        assert [(t.profile, t.text, t.resumed) for t in cp.turns] == [
            ("doer", "did it", True), ("checker", "checked\nAPPROVED", False)]
        assert (ws / "side.txt").read_text() == "once\n"  # not run again
        doer = app.runtime(cp.sessions["doer"]).messages
        assert [m.role for m in doer] == ["user", "assistant", "tool", "assistant"]
        assert "interrupted by a daemon restart" in doer[2].content
        if not auto:
            assert events[0].phase == "resumed" and "mid-turn" in events[0].detail
    finally:
        await app.aclose()


async def test_cancel_then_resume_and_auto_resume(tmp_path: Path, scripted_app: Any) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    fifo, gate = tmp_path / "ready.fifo", tmp_path / "gate.lock"
    os.mkfifo(fifo)
    held = os.open(gate, os.O_RDWR | os.O_CREAT)
    fcntl.flock(held, fcntl.LOCK_EX)
    command = f"echo ready > {fifo}; flock {gate} true"
    home = tmp_path / "home"
    app: App = scripted_app(home, [_profiles("a", "b"), _bash(command), "a done", "b says\nDONE"], config=AUTO)
    try:
        table = build_api(app)
        ready = asyncio.ensure_future(asyncio.to_thread(lambda: fifo.read_text()))
        started = asyncio.ensure_future(_relay(table, "relay/start", {"task": "t", "workspace": str(ws),
                                                                      "agents": 2}))
        await asyncio.wait_for(ready, 30)
        relay_id = (await table.call("relay/list", {}, _ctx()))[0].relay_id
        assert (await table.call("relay/cancel", {"relay_id": relay_id}, _ctx())).cancelled
        _, cp = await started
        assert cp.status == "cancelled" and not cp.live
        # auto-resume is off by default, and never picks a cancelled relay
        assert resume_unfinished(app) == []
    finally:
        os.close(held)
        await app.aclose()
    app = scripted_app(home, ["a done", "b says\nDONE"], config=AUTO)
    try:
        _, cp = await _relay(build_api(app), "relay/resume", {"relay_id": relay_id})
        assert [t.text for t in cp.turns] == ["a done", "b says\nDONE"] and cp.stop_reason == "converged"
    finally:
        await app.aclose()


async def test_bad_input_is_refused(tmp_path: Path, scripted_app: Any) -> None:
    app: App = scripted_app(tmp_path / "home", [])
    try:
        table = build_api(app)
        with pytest.raises(InvalidParams):
            await _relay(table, "relay/start", {"task": "t", "workspace": "relative/dir"})
        with pytest.raises(InvalidParams):
            await _relay(table, "relay/start", {"task": "t", "workspace": str(tmp_path), "agents": 0})
        with pytest.raises(NotFound):
            await table.call("relay/status", {"relay_id": "r20260101-000000-abcdef"}, _ctx())
        with pytest.raises(NotFound):
            await table.call("relay/cancel", {"relay_id": "../../x"}, _ctx())
        assert await table.call("relay/list", {}, _ctx()) == []
    finally:
        await app.aclose()
