"""Per-session event fan-out with bounded queues.

Each subscriber has a bounded queue and a policy for when it is full:

* ``block``: the publisher waits (backpressure). Used for the client that started
  a run, so it never misses a text chunk; closing the subscriber releases it.
* ``drop``: the event is dropped for that subscriber and counted in ``dropped``.
  Used for passive watchers (an editor observing a session) so a slow one cannot
  stall the agent.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from ..wire.events import SessionEvent

__all__ = ["EventHub", "Subscriber"]

Policy = Literal["block", "drop"]


class Subscriber:
    """``queue`` holds (seq, event) pairs not yet delivered; ``closed`` makes the
    hub skip this subscriber and unblocks a publisher waiting on it."""

    def __init__(self, policy: Policy, maxsize: int) -> None:
        self.policy = policy
        self.queue: asyncio.Queue[tuple[int, SessionEvent]] = asyncio.Queue(maxsize)
        self.dropped = 0
        self.closed = False

    def close(self) -> None:
        self.closed = True
        while not self.queue.empty():  # wake a publisher blocked on put()
            self.queue.get_nowait()


class EventHub:
    """``_subs`` is the live subscriber list; ``seq`` numbers events per session."""

    def __init__(self) -> None:
        self.seq = 0
        self._subs: list[Subscriber] = []

    def subscribe(self, policy: Policy = "drop", maxsize: int = 1024) -> Subscriber:
        sub = Subscriber(policy, maxsize)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        sub.close()
        if sub in self._subs:
            self._subs.remove(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def publish_nowait(self, event: SessionEvent) -> int:
        """Publish without ever waiting: a full queue drops the event for that
        subscriber, whatever its policy. For final events on paths (cancellation,
        errors) that must not hang on a client that stopped reading."""
        self.seq += 1
        for sub in list(self._subs):
            if sub.closed:
                continue
            try:
                sub.queue.put_nowait((self.seq, event))
            except asyncio.QueueFull:
                sub.dropped += 1
        return self.seq

    async def publish(self, event: SessionEvent) -> int:
        self.seq += 1
        item = (self.seq, event)
        for sub in list(self._subs):
            if sub.closed:
                continue
            try:
                sub.queue.put_nowait(item)
            except asyncio.QueueFull:
                if sub.policy == "drop":
                    sub.dropped += 1
                    continue
                while not sub.closed:
                    try:
                        await asyncio.wait_for(sub.queue.put(item), timeout=1.0)
                        break
                    except asyncio.TimeoutError:
                        continue  # re-check closed; a closed subscriber is skipped
        return self.seq
