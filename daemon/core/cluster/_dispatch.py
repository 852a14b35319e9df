"""The daemon's side: :class:`ClusterDispatcher` queues a work item and waits for its result.

:meth:`ClusterDispatcher.run` subscribes to ``task.{id}`` *before* it queues the item,
so nothing the worker says is missed; while it waits it also reads the bus's durable
copy of the topic every ``replay_every`` seconds, for a result sent while the
connection was away. The first result wins (a redelivered item that ran again after
a worker died between its result and its ack answers twice).

Time: the item may wait in the queue up to ``queue_timeout`` (default: its own
``timeout``) before a worker claims it; each claim (a redelivery too) gives it its
``timeout`` plus ``grace`` seconds to answer. Past either limit, or when the caller is
cancelled, the item is taken back: deleted from the queue if still there, and a
``task_update`` ``TASK_STATE_CANCELED`` on its topic stops a worker running it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from ...wire.bus import BusEnvelope, BusMessage, SwarmEvent, TaskUpdate
from ...wire.cluster import WorkerCard, WorkItem, WorkResult
from ..bus import Bus, BusTimeout, task_topic
from ._link import WORK_STREAM, WORK_SUBJECT, ClusterLink

__all__ = ["ClusterDispatcher", "OnProgress"]

log = logging.getLogger("codetether.cluster")

#: on_progress(message, envelope): a worker's claim (TaskUpdate) or step (SwarmEvent).
OnProgress = Callable[[BusMessage, BusEnvelope], Awaitable[None]]

_encoder = msgspec.json.Encoder()


def _result(envelope: BusEnvelope, item_id: str) -> WorkResult | None:
    message = envelope.message
    if not isinstance(message, TaskUpdate) or message.task_id != item_id or not message.metadata:
        return None
    raw: Any = message.metadata.get("result")
    if raw is None:
        return None
    try:
        return msgspec.convert(raw, WorkResult)
    except msgspec.ValidationError as exc:
        log.warning("task %s: a result that does not decode: %s", item_id, exc)
        return None


class ClusterDispatcher:
    """Send work items to whichever worker pulls them; list the live workers."""

    def __init__(self, link: ClusterLink, bus: Bus, *, sender_id: str = "", replay_every: float = 10.0,
                 grace: float = 30.0) -> None:
        self.link = link
        self.bus = bus
        self.sender_id = sender_id or f"dispatcher-{os.urandom(3).hex()}"
        self.replay_every = replay_every
        self.grace = grace

    async def workers(self) -> list[WorkerCard]:
        """The live workers' cards."""
        return await self.link.workers()

    async def run(self, item: WorkItem, on_progress: OnProgress | None = None, *,
                  queue_timeout: float | None = None) -> WorkResult:
        """Queue ``item`` and wait for its result (see the module doc for the time limits).
        A result of status ``timeout`` when no worker answered in time."""
        topic = task_topic(item.id)
        if not item.created_at:
            item = msgspec.structs.replace(item, created_at=time.time())
        async with await self.bus.subscribe(topic) as sub:
            ack = await self.link.js.publish(WORK_SUBJECT, _encoder.encode(item), stream=WORK_STREAM)
            deadline = time.monotonic() + (item.timeout if queue_timeout is None else queue_timeout)
            claimed_by = ""
            try:
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        await self._take_back(item, ack.seq)
                        why = (f"no answer from worker {claimed_by} within {item.timeout:g} s" if claimed_by
                               else "no worker took the subtask in time")
                        return WorkResult(id=item.id, status="timeout", stop_reason="timeout",
                                          worker=claimed_by, error=why)
                    try:
                        envelope = await sub.get(timeout=min(left, self.replay_every))
                    except BusTimeout:
                        found = await self._replayed(topic, item.id)
                        if found is not None:
                            return found
                        continue
                    if envelope.sender_id == self.sender_id:
                        continue
                    result = _result(envelope, item.id)
                    if result is not None:
                        return result
                    message = envelope.message
                    if isinstance(message, TaskUpdate) and message.state == "TASK_STATE_WORKING":
                        claimed_by = str((message.metadata or {}).get("worker", envelope.sender_id))
                        deadline = time.monotonic() + item.timeout + self.grace
                    if on_progress is not None and isinstance(message, TaskUpdate | SwarmEvent):
                        await on_progress(message, envelope)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._take_back(item, ack.seq))
                raise

    async def _replayed(self, topic: str, item_id: str) -> WorkResult | None:
        try:
            async for envelope in self.bus.replay(topic):
                found = _result(envelope, item_id)
                if found is not None:
                    return found
        except Exception as exc:  # noqa: BLE001 - the live subscription is still there
            log.debug("replay of %s: %s", topic, exc)
        return None

    async def _take_back(self, item: WorkItem, seq: int) -> None:
        """Drop the item from the queue when no worker has it; stop the worker that has."""
        with contextlib.suppress(Exception):  # already claimed and acknowledged: not there
            await self.link.js.delete_msg(WORK_STREAM, seq)
        with contextlib.suppress(Exception):
            await self.bus.publish(task_topic(item.id), TaskUpdate(
                task_id=item.id, state="TASK_STATE_CANCELED", message="the dispatcher gave up"),
                sender_id=self.sender_id)
