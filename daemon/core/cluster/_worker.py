"""The pulling side: a :class:`Worker` takes work items from the queue and runs them.

Claim and delivery (JetStream's explicit acks, one shared durable pull consumer):

* A worker fetches at most as many items as it has free slots (``max_concurrent``).
  A fetched item is *claimed*: JetStream gives it to nobody else while the claim
  lasts. The claim lasts ``ack_wait`` seconds and the worker renews it every third of
  that (``in_progress()``) while the item runs, so a long run keeps it.
* The item is acknowledged only at the very end, after its result went out on
  ``task.{id}``. A worker killed mid-run (SIGKILL, a lost host) renews nothing: its
  claim expires after ``ack_wait`` and JetStream hands the item to another worker.
  An item is therefore never run by two workers at once (as long as a live worker's
  event loop is not stalled longer than ``ack_wait``), and at least once; a worker
  that dies after sending the result but before the ack makes it run again, and the
  dispatcher keeps the first result.
* A failure of the run itself (an error, the time limit, a base commit the worker does
  not have) is a *result*, sent and acknowledged: trying the same item elsewhere would
  fail the same way. An item that does not decode is terminated (``term``).
* Release: on :meth:`Worker.stop` the worker stops fetching, cancels what it runs and
  gives each item back at once (``nak`` with no delay), so another worker takes it
  without waiting for the claim to expire. Items are redelivered at most
  ``max_deliver`` times.
* A ``task_update`` with state ``TASK_STATE_CANCELED`` on ``task.{id}`` from someone
  else (the dispatcher gave up) cancels that item's run; it is acknowledged.

The card goes into the workers' bucket at start, at every heartbeat (``heartbeat``
seconds, with a :class:`Heartbeat` on ``agent.{id}.events``) and is deleted at stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import re
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec

from ...wire.a2a import TaskState
from ...wire.bus import AgentReady, AgentShutdown, Heartbeat, SwarmEvent, TaskUpdate
from ...wire.cluster import WorkerCard, WorkItem, WorkResult
from ..bus import Bus, BusClosed, agent_events_topic, task_topic
from ._link import CONSUMER, WORK_STREAM, WORK_SUBJECT, ClusterLink

if TYPE_CHECKING:
    from nats.aio.msg import Msg
    from nats.js import JetStreamContext

__all__ = ["Execute", "Progress", "Worker", "WorkerState", "result_message"]

log = logging.getLogger("codetether.cluster")

#: progress(phase, detail): a step of the run, e.g. ("agent", "bash"), sent as a SwarmEvent.
Progress = Callable[[str, str], Awaitable[None]]
#: execute(item, progress): run one item to its end.
Execute = Callable[[WorkItem, Progress], Awaitable[WorkResult]]

_item_decoder = msgspec.json.Decoder(WorkItem)
_encoder = msgspec.json.Encoder()


class WorkerState(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    STOPPED = "stopped"


def result_message(result: WorkResult) -> TaskUpdate:
    """The final ``task_update`` carrying ``result`` (durable: the dispatcher may replay it)."""
    state: TaskState = "TASK_STATE_FAILED"
    if result.status == "completed":
        state = "TASK_STATE_COMPLETED"
    elif result.status == "cancelled":
        state = "TASK_STATE_CANCELED"
    return TaskUpdate(task_id=result.id, state=state, message=result.error or result.status,
                      metadata={"result": msgspec.to_builtins(result)})


def _worker_id(name: str) -> str:
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:40] or "worker"
    return f"{base}-{os.urandom(3).hex()}"


class Worker:
    """Pulls work items and runs them with ``execute`` (see the module doc).

    ``running`` maps each claimed item's id to the task running it (at most
    ``max_concurrent``); ``_slot`` is set when one ends, waking the pull loop; ``_stop``
    is the only signal to stop fetching. ``ready`` is set once the card is registered
    and the consumer bound. All touched from the event loop's thread only.
    """

    def __init__(self, link: ClusterLink, bus: Bus, execute: Execute, *, name: str, workspace: str = "",
                 max_concurrent: int = 1, heartbeat: float = 3.0, ack_wait: float = 30.0,
                 fetch_wait: float = 1.0, max_deliver: int = 5, version: str = "") -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self.link = link
        self.bus = bus
        self.execute = execute
        self.name = name
        self.id = _worker_id(name)
        self.workspace = workspace
        self.max_concurrent = max_concurrent
        self.heartbeat = heartbeat
        self.ack_wait = ack_wait
        self.fetch_wait = fetch_wait
        self.max_deliver = max_deliver
        self.version = version
        self.host = socket.gethostname()
        self.started_at = 0.0
        self.state = WorkerState.NEW
        self.ready = asyncio.Event()
        self.running: dict[str, asyncio.Task[None]] = {}
        self.items: dict[str, WorkItem] = {}
        self.done = 0
        self._slot = asyncio.Event()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def card(self) -> WorkerCard:
        return WorkerCard(id=self.id, name=self.name, host=self.host, workspace=self.workspace,
                          max_concurrent=self.max_concurrent, active=tuple(sorted(self.items)),
                          load=len(self.running) / self.max_concurrent, started_at=self.started_at,
                          updated_at=time.time(), version=self.version)

    async def start(self) -> None:
        from nats.js.api import AckPolicy, ConsumerConfig

        if self.state is not WorkerState.NEW:
            raise RuntimeError(f"worker already {self.state.value}")
        self.state = WorkerState.RUNNING
        self.started_at = time.time()
        js = self.link.js
        config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=self.ack_wait,
                                max_deliver=self.max_deliver, max_ack_pending=-1)
        psub = await js.pull_subscribe(WORK_SUBJECT, durable=CONSUMER, stream=WORK_STREAM, config=config)
        with contextlib.suppress(BusClosed):  # its card for every daemon's registry (`codetether agents`)
            await self.bus.publish(agent_events_topic(self.id), AgentReady(
                agent_id=self.id, name=self.name, role="worker", url=f"nats-worker://{self.host}/{self.name}",
                capabilities=["swarm-subtask"], description=f"worker on {self.host}, workspace {self.workspace}"),
                sender_id=self.id)
        await self._beat()
        self._tasks = [asyncio.create_task(self._pull(js, psub), name=f"worker:{self.name}:pull"),
                       asyncio.create_task(self._heartbeats(), name=f"worker:{self.name}:heartbeat")]
        self.ready.set()

    async def stop(self) -> None:
        """Stop fetching, give back every item in flight (nak), deregister. Idempotent."""
        if self.state is not WorkerState.RUNNING:
            self.state = WorkerState.STOPPED
            return
        self.state = WorkerState.STOPPED
        self._stop.set()
        self._slot.set()
        pull, beat = self._tasks
        beat.cancel()
        # The pull loop ends after its fetch in flight (at most fetch_wait): cancelling it
        # mid-fetch could leave a pull request open on the server for a message we would
        # then never see (until its claim expired).
        await asyncio.gather(pull, beat, return_exceptions=True)
        runs = list(self.running.values())
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.link.kv.delete(self.id)
        with contextlib.suppress(Exception):
            await self.bus.publish(agent_events_topic(self.id), AgentShutdown(agent_id=self.id, reason="stopped"),
                                   sender_id=self.id)

    async def _beat(self) -> None:
        card = self.card()
        await self.link.kv.put(self.id, _encoder.encode(card))
        with contextlib.suppress(BusClosed):
            await self.bus.publish(agent_events_topic(self.id), Heartbeat(
                agent_id=self.id, active_tasks=len(card.active), load=card.load), sender_id=self.id)

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)  # the heartbeat's period, not a readiness wait
            try:
                await self._beat()
            except Exception as exc:  # noqa: BLE001 - NATS away for a moment: the next beat retries
                log.warning("worker %s: heartbeat failed: %s", self.name, exc)

    async def _pull(self, js: JetStreamContext, psub: Any) -> None:
        import nats.errors

        try:
            while not self._stop.is_set():
                free = self.max_concurrent - len(self.running)
                if free <= 0:
                    self._slot.clear()
                    await self._slot.wait()
                    continue
                try:
                    msgs = await psub.fetch(free, timeout=self.fetch_wait)
                except nats.errors.TimeoutError:
                    continue
                except Exception as exc:  # noqa: BLE001 - a reconnect in progress: try again
                    log.warning("worker %s: fetch failed: %s", self.name, exc)
                    await asyncio.sleep(self.fetch_wait)
                    continue
                for msg in msgs:
                    if self._stop.is_set():
                        await msg.nak()
                    else:
                        self._claim(msg)
        finally:
            with contextlib.suppress(Exception):
                await psub.unsubscribe()

    def _claim(self, msg: Msg) -> None:
        try:
            item = _item_decoder.decode(msg.data)
            task_topic(item.id)
        except (msgspec.DecodeError, ValueError) as exc:
            log.warning("worker %s: a work item that does not decode is dropped: %s", self.name, exc)
            asyncio.get_running_loop().create_task(msg.term(), name=f"worker:{self.name}:term")
            return
        if item.id in self.running:  # redelivered to us while we still run it: keep the one claim
            return
        self.items[item.id] = item
        run = asyncio.create_task(self._run(item, msg), name=f"worker:{self.name}:item:{item.id}")
        self.running[item.id] = run

        def ended(_: object) -> None:
            self.running.pop(item.id, None)
            self.items.pop(item.id, None)
            self._slot.set()

        run.add_done_callback(ended)

    async def _run(self, item: WorkItem, msg: Msg) -> None:
        topic = task_topic(item.id)
        attempt = msg.metadata.num_delivered or 1
        keep = asyncio.create_task(self._keep_claim(msg), name=f"worker:{self.name}:claim:{item.id}")
        watch = await self.bus.subscribe(topic)
        run = asyncio.current_task()
        assert run is not None
        cancelled_by_peer = False

        async def progress(phase: str, detail: str) -> None:
            await self.bus.publish(topic, SwarmEvent(swarm_id=item.swarm_id or item.id, phase=phase,
                                                     subtask=item.subtask, detail=detail,
                                                     data={"worker": self.name}), sender_id=self.id)

        async def watch_cancel() -> None:
            nonlocal cancelled_by_peer
            async for envelope in watch:
                message = envelope.message
                if (envelope.sender_id != self.id and isinstance(message, TaskUpdate)
                        and message.state == "TASK_STATE_CANCELED"):
                    cancelled_by_peer = True
                    run.cancel()
                    return

        watcher = asyncio.create_task(watch_cancel(), name=f"worker:{self.name}:watch:{item.id}")
        try:
            try:
                await self.bus.publish(topic, TaskUpdate(
                    task_id=item.id, state="TASK_STATE_WORKING", message=f"claimed by {self.name}",
                    metadata={"worker": self.name, "worker_id": self.id, "attempt": attempt}), sender_id=self.id)
                async with asyncio.timeout(item.timeout):
                    result = await self.execute(item, progress)
                result = msgspec.structs.replace(result, id=item.id, worker=self.name)
            except TimeoutError:
                result = WorkResult(id=item.id, status="timeout", stop_reason="timeout", worker=self.name,
                                    error=f"over the time limit of {item.timeout:g} s")
            except asyncio.CancelledError:
                if not cancelled_by_peer or self._stop.is_set():
                    # Shutdown: give the item back at once for another worker.
                    with contextlib.suppress(Exception):
                        await asyncio.shield(msg.nak(delay=0))
                    raise
                result = WorkResult(id=item.id, status="cancelled", stop_reason="cancelled", worker=self.name,
                                    error="cancelled by the dispatcher")
                run.uncancel()
            except Exception as exc:  # noqa: BLE001 - the run's failure is its result
                log.exception("worker %s: item %s failed", self.name, item.id)
                result = WorkResult(id=item.id, status="failed", stop_reason="error", worker=self.name,
                                    error=str(getattr(exc, "message", "") or exc) or type(exc).__name__)
            await self.bus.publish(topic, result_message(result), sender_id=self.id)
            try:
                await msg.ack_sync(timeout=5.0)
            except Exception as exc:  # noqa: BLE001 - the claim expires; the dispatcher has the result
                log.warning("worker %s: ack of %s failed: %s", self.name, item.id, exc)
            self.done += 1
        finally:
            keep.cancel()
            watcher.cancel()
            await asyncio.gather(keep, watcher, return_exceptions=True)
            await watch.close()

    async def _keep_claim(self, msg: Msg) -> None:
        while True:
            await asyncio.sleep(self.ack_wait / 3)  # the renewal period, well inside ack_wait
            try:
                await msg.in_progress()
            except Exception as exc:  # noqa: BLE001 - the next renewal retries
                log.warning("worker %s: claim renewal failed: %s", self.name, exc)
