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
import logging
from collections.abc import Callable
from typing import Literal

from ...wire.events import SessionEvent, TextChunk, Thinking, ToolOutput
from ..secrets import StreamRedactor, redact_value

__all__ = ["EventHub", "Subscriber"]

log = logging.getLogger("codetether.hub")

Policy = Literal["block", "drop"]


class Subscriber:
    """``queue`` holds (seq, event) pairs not yet delivered; ``_closed`` makes the
    hub skip this subscriber and wakes a publisher waiting on it."""

    def __init__(self, policy: Policy, maxsize: int) -> None:
        self.policy = policy
        self.queue: asyncio.Queue[tuple[int, SessionEvent]] = asyncio.Queue(maxsize)
        self.dropped = 0
        self._closed = asyncio.Event()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        self._closed.set()  # wakes a publisher blocked on this subscriber

    async def put(self, item: tuple[int, SessionEvent]) -> None:
        """Block until there is room or the subscriber closes."""
        put = asyncio.ensure_future(self.queue.put(item))
        closed = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait([put, closed], return_when=asyncio.FIRST_COMPLETED)
        finally:
            put.cancel()
            closed.cancel()
            await asyncio.gather(put, closed, return_exceptions=True)


class EventHub:
    """``_subs`` is the live subscriber list; ``seq`` numbers events per session."""

    def __init__(self) -> None:
        self.seq = 0
        self._subs: list[Subscriber] = []
        #: Streamed text held back by the redactor, per stream (see :meth:`_clean`).
        self._streams: dict[tuple[str, ...], StreamRedactor] = {}
        #: Called with (seq, event) for every event, before any subscriber sees it:
        #: the recorder (event stream, telemetry, audit). Must be cheap and not raise.
        self.on_publish: Callable[[int, SessionEvent], None] | None = None

    def _observe(self, event: SessionEvent) -> None:
        if self.on_publish is not None:
            try:
                self.on_publish(self.seq, event)
            except Exception:  # noqa: BLE001 - recording must never stop a session
                log.exception("recording event %s failed", self.seq)

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

    def _clean(self, event: SessionEvent) -> list[SessionEvent]:
        """The redactor's boundary for events: what subscribers and the recorder get
        instead of ``event``. Streamed text (text, thinking, tool output) goes through
        one :class:`StreamRedactor` per stream, so a key split across chunks is caught;
        any other event first releases what those streams held back."""
        if isinstance(event, TextChunk):
            return self._feed(("text",), event.text)
        if isinstance(event, Thinking):
            return self._feed(("thinking",), event.text)
        if isinstance(event, ToolOutput):
            return self._feed(("tool_output", event.call_id, event.stream), event.text)
        out: list[SessionEvent] = []
        for held_key in list(self._streams):
            rest = self._streams.pop(held_key).flush()
            if rest:
                out.append(_stream_event(held_key, rest))
        out.append(redact_value(event))
        return out

    def _feed(self, key: tuple[str, ...], text: str) -> list[SessionEvent]:
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = StreamRedactor()
        safe = stream.feed(text)
        return [_stream_event(key, safe)] if safe else []

    def publish_nowait(self, event: SessionEvent) -> int:
        """Publish without ever waiting: a full queue drops the event for that
        subscriber, whatever its policy. For final events on paths (cancellation,
        errors) that must not hang on a client that stopped reading."""
        for clean in self._clean(event):
            self._publish_nowait(clean)
        return self.seq

    def _publish_nowait(self, event: SessionEvent) -> None:
        self.seq += 1
        self._observe(event)
        for sub in list(self._subs):
            if sub.closed:
                continue
            try:
                sub.queue.put_nowait((self.seq, event))
            except asyncio.QueueFull:
                sub.dropped += 1

    async def publish(self, event: SessionEvent) -> int:
        for clean in self._clean(event):
            await self._publish(clean)
        return self.seq

    async def _publish(self, event: SessionEvent) -> None:
        self.seq += 1
        self._observe(event)
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
                await sub.put(item)


def _stream_event(key: tuple[str, ...], text: str) -> SessionEvent:
    if key[0] == "text":
        return TextChunk(text=text)
    if key[0] == "thinking":
        return Thinking(text=text)
    return ToolOutput(call_id=key[1], stream=key[2], text=text)
