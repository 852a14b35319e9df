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


async def _subscribed(app: App, count: int) -> None:
    """Wait until the bus has ``count`` subscriptions (a tail's subscribe is its first step)."""
    async with asyncio.timeout(10):
        while sum(len(g) for g in app.bus._exact.values()) + len(app.bus._wild) < count:  # type: ignore[attr-defined]
            await asyncio.sleep(0)


async def test_a_tail_sees_what_is_published_on_its_topics_only(tmp_path: Path, scripted_app: Any) -> None:
    app: App = scripted_app(tmp_path / "home", [])
    await app.start()
    try:
        table = build_api(app)
        tail = Tail(table, "agent.*.events, broadcast")
        await _subscribed(app, 2)
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
        tail = Tail(table, "agent.>")
        await _subscribed(app, 1)
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
        tail = Tail(table, "swarm.>")
        await _subscribed(app, 1)
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
