"""The daemon's bus, seen from outside: ``bus/tail`` over the API, what sub-agents and
swarms report on it, and bad patterns refused with the field named."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
from codetether.daemon.api import API, CallContext, build_api
from codetether.daemon.app import App
from codetether.daemon.errors import InvalidParams
from codetether.daemon.wire import api
from codetether.daemon.wire.bus import AgentReady, AgentShutdown, Heartbeat

AUTO = '[permissions]\nmode = "auto"\n'


def _ctx() -> CallContext:
    return CallContext(transport="inproc", peer={"uid": os.getuid()}, principal=f"uid:{os.getuid()}")


class Tail:
    """A ``bus/tail`` running in the background, its notes collected as they come."""

    def __init__(self, table: API, topics: str, **more: Any) -> None:
        self.notes: list[api.BusEventNote] = []
        self.changed = asyncio.Event()
        self.ready = asyncio.Event()
        self._task = asyncio.create_task(self._run(table, {"topics": topics, **more}))

    async def _run(self, table: API, params: dict[str, Any]) -> None:
        stream = table.stream("bus/tail", params, _ctx())
        self.ready.set()  # the generator subscribes on its first step, below
        async for item in stream:
            if isinstance(item, api.BusEventNote):
                self.notes.append(item)
                self.changed.set()

    async def until(self, predicate: Any) -> None:
        async with asyncio.timeout(10):
            while not predicate(self.notes):
                self.changed.clear()
                await self.changed.wait()

    async def stop(self) -> None:
        self._task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self._task


def _subs(app: App) -> int:
    return sum(len(g) for g in app.bus._exact.values()) + len(app.bus._wild)  # type: ignore[attr-defined]


async def _tail(app: App, table: API, topics: str, patterns: int, **more: Any) -> Tail:
    """A tail, once its ``patterns`` subscriptions are on the bus (its first step)."""
    before = _subs(app)
    tail = Tail(table, topics, **more)
    async with asyncio.timeout(10):
        while _subs(app) < before + patterns:
            await asyncio.sleep(0)
    return tail


async def test_a_tail_sees_what_is_published_on_its_topics_only(tmp_path: Path, scripted_app: Any) -> None:
    app: App = scripted_app(tmp_path / "home", [])
    await app.start()
    try:
        table = build_api(app)
        tail = await _tail(app, table, "agent.*.events, broadcast", 2)
        await app.publish("agent.a1.events", AgentReady(agent_id="a1", name="one"), sender_id="a1")
        await app.publish("agent.a1", AgentReady(agent_id="a1"), sender_id="a1")  # not watched
        await app.publish("broadcast", Heartbeat(agent_id="a1", active_tasks=2), sender_id="a1")
        await tail.until(lambda notes: len(notes) == 2)
        assert [n.envelope.topic for n in tail.notes] == ["agent.a1.events", "broadcast"]
        assert tail.notes[1].envelope.message == Heartbeat(agent_id="a1", active_tasks=2)
        await tail.stop()
    finally:
        await app.aclose()


async def test_replay_shows_what_the_bus_kept_across_a_restart(tmp_path: Path, scripted_app: Any) -> None:
    home = tmp_path / "home"
    app: App = scripted_app(home, [])
    await app.start()
    await app.publish("agent.a1.events", AgentReady(agent_id="a1", name="kept"), sender_id="a1")
    await app.aclose()
    again: App = scripted_app(home, [])
    await again.start()
    try:
        tail = Tail(build_api(again), "agent.>", replay=True)
        await tail.until(lambda notes: len(notes) >= 1)
        assert tail.notes[0].replayed and tail.notes[0].envelope.message == AgentReady(agent_id="a1", name="kept")
        await tail.stop()
    finally:
        await again.aclose()


async def test_bad_patterns_are_refused_naming_the_field(tmp_path: Path, scripted_app: Any) -> None:
    app: App = scripted_app(tmp_path / "home", [])
    await app.start()
    try:
        table = build_api(app)
        for topics in ("a.>.b", "a..b", ",".join(f"t{i}" for i in range(17))):
            with pytest.raises(InvalidParams) as err:
                async for _ in table.stream("bus/tail", {"topics": topics}, _ctx()):
                    pass
            assert err.value.data == {"field": "topics"}
    finally:
        await app.aclose()


async def test_sub_agents_report_to_their_parent_on_the_bus(tmp_path: Path, scripted_app: Any) -> None:
    app: App = scripted_app(tmp_path / "home", [
        {"tool": "task", "arguments": {"name": "helper", "prompt": "say hi"}}, "hi from the child", "done"],
        config=AUTO)
    await app.start()
    try:
        table = build_api(app)
        tail = await _tail(app, table, "agent.>", 1)
        info = await table.call("session/create", {"workspace": str(tmp_path)}, _ctx())
        async for _ in table.stream("session/prompt", {"session_id": info.id, "text": "go"}, _ctx()):
            pass
        await tail.until(lambda notes: any(isinstance(n.envelope.message, AgentShutdown) for n in notes))
        kinds = [(n.envelope.topic.split(".")[-1], type(n.envelope.message).__name__) for n in tail.notes]
        ready = tail.notes[0].envelope.message
        assert isinstance(ready, AgentReady) and ready.role == "subagent" and ready.parent_id == info.id
        assert ready.url == "bus://local/helper" and "question" not in ready.capabilities
        child = ready.agent_id
        assert kinds == [("events", "AgentReady"), (info.id, "AgentMessage"), ("events", "TaskUpdate"),
                         ("events", "AgentShutdown")]
        answer = tail.notes[1].envelope
        assert answer.sender_id == child and answer.message.parts[0].text == "hi from the child"  # type: ignore[union-attr]
        assert tail.notes[2].envelope.message.state == "TASK_STATE_COMPLETED"  # type: ignore[union-attr]
        await tail.stop()
    finally:
        await app.aclose()


async def test_a_swarm_reports_its_progress_on_its_topic(tmp_path: Path, scripted_app: Any) -> None:
    plan = {"text": json.dumps({"subtasks": [{"name": "only", "instruction": "x"}]})}
    app: App = scripted_app(tmp_path / "home", [plan, "did it", "answer"], config=AUTO)
    await app.start()
    try:
        table = build_api(app)
        tail = await _tail(app, table, "swarm.>", 1)
        final = None
        async for item in table.stream("swarm/start", {"task": "t", "workspace": str(tmp_path)}, _ctx()):
            final = item
        assert final is not None
        await tail.until(lambda notes: any(n.envelope.message.phase == "completed" for n in notes))  # type: ignore[union-attr]
        assert {n.envelope.topic for n in tail.notes} == {f"swarm.{final.id}"}  # type: ignore[union-attr]
        phases = [n.envelope.message.phase for n in tail.notes]  # type: ignore[union-attr]
        assert phases[0] == "planning" and "started" in phases and phases[-1] == "completed"
        await tail.stop()
    finally:
        await app.aclose()


def _env(message: Any, topic: str = "agent.x.events", ts: float = 100.0) -> Any:
    from codetether.daemon.wire.bus import BusEnvelope

    return BusEnvelope(id="e", topic=topic, sender_id="x", timestamp=ts, message=message)


def test_the_registry_learns_cards_shutdowns_and_heartbeats() -> None:
    from codetether.daemon.core.bus import AgentRegistry

    now = [1000.0]
    reg = AgentRegistry(heartbeat_ttl=15, keep_gone=60, clock=lambda: now[0])
    reg.observe(_env(AgentReady(agent_id="s1", name="helper", role="subagent", url="bus://local/helper",
                                parent_id="p1", capabilities=["read_file"])))
    reg.observe(_env(Heartbeat(agent_id="w1", active_tasks=2, load=0.5)))  # a worker seen mid-life
    reg.observe(_env(AgentShutdown(agent_id="nobody")))  # unknown: nothing to do
    cards = {c.id: c for c in reg.list()}
    assert set(cards) == {"s1", "w1"}
    assert (cards["s1"].role, cards["s1"].parent_id, cards["s1"].status) == ("subagent", "p1", "ready")
    assert (cards["w1"].role, cards["w1"].active_tasks, cards["w1"].load) == ("worker", 2, 0.5)
    now[0] += 16  # no heartbeat for longer than the TTL: stale; a heartbeat brings it back
    assert {c.id: c.status for c in reg.list()} == {"s1": "ready", "w1": "stale"}
    reg.observe(_env(Heartbeat(agent_id="w1")))
    assert {c.id: c.status for c in reg.list()}["w1"] == "ready"
    reg.observe(_env(AgentShutdown(agent_id="s1", reason="end_turn")))
    assert {c.id: (c.status, c.detail) for c in reg.list()}["s1"] == ("gone", "end_turn")
    now[0] += 61  # a gone agent is forgotten after keep_gone
    assert "s1" not in {c.id for c in reg.list()}


async def test_agents_list_names_the_daemon_and_its_sub_agents(tmp_path: Path, scripted_app: Any) -> None:
    app: App = scripted_app(tmp_path / "home", [
        {"tool": "task", "arguments": {"name": "helper", "prompt": "say hi"}}, "hi", "done"], config=AUTO)
    await app.start()
    try:
        table = build_api(app)
        info = await table.call("session/create", {"workspace": str(tmp_path)}, _ctx())
        async for _ in table.stream("session/prompt", {"session_id": info.id, "text": "go"}, _ctx()):
            pass
        async with asyncio.timeout(10):  # the registry reads the bus in its own task
            while not any(c.role == "subagent" and c.status == "gone" for c in app.registry.list()):
                await asyncio.sleep(0)
        listed = await table.call("agents/list", {"include_gone": True}, _ctx())
        assert listed[0].role == "local" and "task" in listed[0].capabilities
        child = next(c for c in listed if c.role == "subagent")
        assert (child.name, child.parent_id, child.url, child.status) == ("helper", info.id, "bus://local/helper",
                                                                         "gone")
        assert [c.role for c in await table.call("agents/list", {}, _ctx())] == ["local"]
        assert await table.call("agents/list", {"role": "worker"}, _ctx()) == []
        with pytest.raises(InvalidParams):
            await table.call("agents/list", {"role": "boss"}, _ctx())
    finally:
        await app.aclose()


def test_a_work_items_folder_cannot_lead_out_of_the_worktree(tmp_path: Path) -> None:
    from codetether.daemon.worker import GitFailed, _inside

    tree = tmp_path / "tree"
    (tree / "pkg").mkdir(parents=True)
    (tree / "out").symlink_to(tmp_path)
    assert _inside(tree, "") == tree and _inside(tree, "pkg") == (tree / "pkg").resolve()
    for bad in ("/", "/etc", "..", "pkg/../..", "out"):
        with pytest.raises(GitFailed, match="outside the worktree"):
            _inside(tree, bad)


async def test_sub_agents_from_before_a_restart_are_stale_not_ready(tmp_path: Path, scripted_app: Any) -> None:
    home = tmp_path / "home"
    app: App = scripted_app(home, [])
    await app.start()
    await app.publish("agent.child1.events", AgentReady(agent_id="child1", name="c", role="subagent"),
                      sender_id="child1")
    await app.aclose()  # the daemon died mid-run: child1 never said goodbye
    again: App = scripted_app(home, [])
    await again.start()
    try:
        cards = {c.id: c for c in again.registry.list()}
        assert cards["child1"].status == "stale" and "before this daemon started" in cards["child1"].detail
    finally:
        await again.aclose()
