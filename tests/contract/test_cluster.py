"""Worker and ClusterDispatcher on a real nats-server -js (port 0): claim and result,
redelivery after a consumer died without acknowledging, release on shutdown, a failed
run as a result, a worker's card expiring after its TTL, an item nobody takes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import pytest
from codetether.daemon.core.bus import NatsBus
from codetether.daemon.core.cluster import (
    CONSUMER,
    WORK_STREAM,
    WORK_SUBJECT,
    ClusterDispatcher,
    ClusterLink,
    Progress,
    Worker,
)
from codetether.daemon.testing.nats import NatsServer
from codetether.daemon.wire.bus import SwarmEvent, TaskUpdate
from codetether.daemon.wire.cluster import WorkItem, WorkResult
from nats.js.api import AckPolicy, ConsumerConfig


@dataclass
class Cluster:
    url: str
    ttl: float = 15.0
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def link(self) -> ClusterLink:
        link = ClusterLink(self.url, worker_ttl=self.ttl)
        await link.start()
        self.closers.append(link.close)
        return link

    async def bus(self) -> NatsBus:
        bus = NatsBus(self.url)
        await bus.start()
        self.closers.append(bus.close)
        return bus

    async def dispatcher(self, **kw: Any) -> ClusterDispatcher:
        return ClusterDispatcher(await self.link(), await self.bus(), **kw)

    async def worker(self, name: str, execute: Any, **kw: Any) -> Worker:
        worker = Worker(await self.link(), await self.bus(), execute, name=name, **kw)
        await worker.start()
        self.closers.append(worker.stop)
        return worker


@pytest.fixture
async def cluster(short_dir: Path) -> AsyncIterator[Cluster]:
    async with NatsServer(short_dir / "nats") as server:
        made = Cluster(server.url)
        try:
            yield made
        finally:
            for close in reversed(made.closers):
                await close()


def answer(text: str) -> Any:
    async def execute(item: WorkItem, progress: Progress) -> WorkResult:
        await progress("agent", "bash")
        return WorkResult(id=item.id, status="completed", text=f"{text}: {item.prompt}", stop_reason="end_turn",
                          steps=2, patch="From 0000 Mon Sep 17 00:00:00 2001\n")

    return execute


def blocking(started: asyncio.Event, runs: list[str]) -> Any:
    async def execute(item: WorkItem, progress: Progress) -> WorkResult:
        runs.append(item.id)
        started.set()
        await asyncio.Event().wait()  # until cancelled
        raise AssertionError("not reached")

    return execute


async def queued(link: ClusterLink) -> int:
    return int((await link.js.stream_info(WORK_STREAM)).state.messages)


async def drained(link: ClusterLink, timeout: float = 10.0) -> bool:
    """The work queue is empty (the worker acknowledges just after it sent the result)."""
    deadline = time.monotonic() + timeout
    while await queued(link):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)  # polling a condition with a deadline
    return True


async def test_a_worker_claims_runs_and_answers_with_progress(cluster: Cluster) -> None:
    worker = await cluster.worker("alpha", answer("done by alpha"))
    assert worker.ready.is_set()
    dispatcher = await cluster.dispatcher()
    seen: list[Any] = []

    async def on_progress(message: Any, envelope: Any) -> None:
        seen.append(message)

    result = await dispatcher.run(WorkItem(id="t1", swarm_id="sw1", subtask="docs", prompt="write",
                                           timeout=30), on_progress)
    assert (result.status, result.text, result.worker, result.steps) == ("completed", "done by alpha: write",
                                                                         "alpha", 2)
    assert result.patch.startswith("From ")
    claims = [m for m in seen if isinstance(m, TaskUpdate)]
    assert claims and claims[0].state == "TASK_STATE_WORKING" and claims[0].metadata["worker"] == "alpha"
    steps = [m for m in seen if isinstance(m, SwarmEvent)]
    assert [(s.phase, s.subtask, s.detail) for s in steps] == [("agent", "docs", "bash")]
    assert await drained(dispatcher.link)  # acknowledged: gone from the work queue
    assert worker.done == 1


async def test_redelivered_item_reaches_the_next_worker_and_finishes(cluster: Cluster) -> None:
    dispatcher = await cluster.dispatcher()
    nc = await nats.connect(cluster.url)
    js = nc.jetstream()
    psub = await js.pull_subscribe(WORK_SUBJECT, durable=CONSUMER, stream=WORK_STREAM,
                                   config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=1.0,
                                                         max_deliver=5, max_ack_pending=-1))
    attempts: list[tuple[str, int]] = []

    async def on_progress(message: Any, envelope: Any) -> None:
        if isinstance(message, TaskUpdate) and message.state == "TASK_STATE_WORKING":
            attempts.append((message.metadata["worker"], message.metadata["attempt"]))

    run = asyncio.create_task(dispatcher.run(WorkItem(id="t3", prompt="p", timeout=30), on_progress))
    [taken] = await psub.fetch(1, timeout=10)
    assert taken.metadata.num_delivered == 1
    await nc.close()  # dies holding the claim, never acknowledging
    died = time.monotonic()
    await cluster.worker("gamma", answer("gamma"), ack_wait=1.0)
    result = await asyncio.wait_for(run, 30)
    waited = time.monotonic() - died
    assert (result.status, result.worker) == ("completed", "gamma")
    assert attempts == [("gamma", 2)]
    assert 0.5 <= waited < 10, waited
    assert await drained(dispatcher.link)


async def test_a_stopping_worker_gives_its_items_back_at_once(cluster: Cluster) -> None:
    started, runs = asyncio.Event(), []
    first = await cluster.worker("first", blocking(started, runs), ack_wait=30.0)
    dispatcher = await cluster.dispatcher()
    workers: list[str] = []

    async def on_progress(message: Any, envelope: Any) -> None:
        if isinstance(message, TaskUpdate) and message.state == "TASK_STATE_WORKING":
            workers.append(message.metadata["worker"])

    run = asyncio.create_task(dispatcher.run(WorkItem(id="t4", prompt="p", timeout=30), on_progress))
    await asyncio.wait_for(started.wait(), 10)
    assert [c.name for c in await dispatcher.workers()] == ["first"]
    assert (await dispatcher.workers())[0].max_concurrent == 1
    await first.stop()
    assert runs == ["t4"] and not first.running
    assert await dispatcher.workers() == []  # deregistered
    released = time.monotonic()
    await cluster.worker("second", answer("second"), ack_wait=30.0)
    result = await asyncio.wait_for(run, 20)
    assert (result.status, result.worker) == ("completed", "second")
    assert workers == ["first", "second"]
    assert time.monotonic() - released < 10  # the nak, not the 30 s claim expiry


async def test_a_failing_run_is_a_failed_result_not_a_retry(cluster: Cluster) -> None:
    calls: list[str] = []

    async def execute(item: WorkItem, progress: Progress) -> WorkResult:
        calls.append(item.id)
        raise RuntimeError("base commit abc is not in this workspace")

    await cluster.worker("delta", execute)
    dispatcher = await cluster.dispatcher()
    result = await dispatcher.run(WorkItem(id="t5", prompt="p", timeout=30))
    assert (result.status, result.worker) == ("failed", "delta")
    assert "base commit abc" in result.error
    assert calls == ["t5"] and await drained(dispatcher.link)


async def test_an_item_nobody_takes_times_out_and_leaves_the_queue(cluster: Cluster) -> None:
    dispatcher = await cluster.dispatcher()
    result = await dispatcher.run(WorkItem(id="t6", prompt="p", timeout=30), queue_timeout=0.3)
    assert result.status == "timeout" and "no worker" in result.error
    assert await drained(dispatcher.link)


async def test_a_dead_workers_card_expires_after_its_ttl_a_live_one_stays(cluster: Cluster) -> None:
    cluster.ttl = 1.0
    live = await cluster.worker("live", answer("x"), heartbeat=0.2)
    dead = await cluster.worker("dead", answer("x"), heartbeat=60.0)
    dispatcher = await cluster.dispatcher()
    assert [c.name for c in await dispatcher.workers()] == ["dead", "live"]
    card = next(c for c in await dispatcher.workers() if c.name == "live")
    assert card.id == live.id and card.host and card.started_at > 0 and card.active == ()
    await dead.link.close()  # gone without deregistering, and no more heartbeats
    gone = time.monotonic()
    deadline = gone + 10
    while "dead" in [c.name for c in await dispatcher.workers()]:
        assert time.monotonic() < deadline, "the dead worker's card never expired"
        await asyncio.sleep(0.1)  # polling a condition with a deadline
    assert [c.name for c in await dispatcher.workers()] == ["live"]  # its heartbeats kept it
    assert time.monotonic() - gone < 5
