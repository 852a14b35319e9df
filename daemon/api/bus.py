"""``bus/tail``: watch the agent bus from outside (``codetether bus tail``, and
``GET /v1/bus/stream`` as server-sent events on the HTTP listener).

A tail is a stream of ``bus/event`` notes that lasts until its caller goes away (or the
bus closes, which ends it with the counts). It subscribes like any agent does, so it
follows the bus's slow-subscriber policy: the bus never waits for a watcher; a watcher
that reads too slowly loses the oldest envelopes and each note says how many so far.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator

from ..app import App
from ..core.bus import BadTopic, BusClosed, Subscription, check_pattern
from ..errors import InvalidParams, Unavailable
from ..wire import api
from ..wire.bus import BusEnvelope
from ._context import CallContext
from ._table import Method

__all__ = ["BusAPI"]

#: Patterns one tail may watch at once.
MAX_PATTERNS = 16
#: Envelopes a watcher may fall behind before the oldest are dropped.
TAIL_QUEUE = 1024


class BusAPI:
    """Watch the bus (see the module docstring)."""

    def __init__(self, app: App) -> None:
        self.app = app

    def methods(self) -> list[Method]:
        """The ``bus/*`` methods this domain serves."""
        return [Method("bus/tail", self.on_bus_tail, api.BusTailParams, api.BusTailEnd, streaming=True,
                       when_broken=True)]

    async def on_bus_tail(self, p: api.BusTailParams, _ctx: CallContext,
                          ) -> AsyncGenerator[api.BusEventNote | api.BusTailEnd, None]:
        """Every envelope on the matching topics, as published, until the caller goes away."""
        patterns = _patterns(p.topics)
        bus = self.app.bus
        subs: list[Subscription] = []
        delivered = 0
        try:
            for pattern in patterns:
                subs.append(await bus.subscribe(pattern, queue_size=TAIL_QUEUE))
        except BusClosed as exc:
            for sub in subs:
                await sub.close()
            raise Unavailable(f"the bus is not open: {exc}") from exc
        queue: asyncio.Queue[tuple[Subscription, BusEnvelope] | None] = asyncio.Queue()

        async def pump(sub: Subscription) -> None:
            async for envelope in sub:
                queue.put_nowait((sub, envelope))
            queue.put_nowait(None)

        pumps = [asyncio.create_task(pump(sub), name=f"bus-tail:{sub.pattern}") for sub in subs]
        try:
            if p.replay:  # after subscribing: nothing published meanwhile is missed
                for pattern in patterns:
                    async for envelope in bus.replay(pattern, since=p.since):
                        delivered += 1
                        yield api.BusEventNote(envelope=envelope, replayed=True)
            ended = 0
            while ended < len(subs):
                item = await queue.get()
                if item is None:
                    ended += 1
                    continue
                delivered += 1
                yield api.BusEventNote(envelope=item[1], dropped=sum(s.dropped for s in subs))
            yield api.BusTailEnd(delivered=delivered, dropped=sum(s.dropped for s in subs))
        finally:
            for task in pumps:
                task.cancel()
            for sub in subs:
                await sub.close()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*pumps, return_exceptions=True)


def _patterns(topics: str) -> list[str]:
    """The comma separated patterns, each checked (the field is named on error)."""
    patterns = [t.strip() for t in topics.split(",") if t.strip()] or [">"]
    if len(patterns) > MAX_PATTERNS:
        raise InvalidParams(f"topics: at most {MAX_PATTERNS} patterns", data={"field": "topics"})
    for pattern in patterns:
        try:
            check_pattern(pattern)
        except BadTopic as exc:
            raise InvalidParams(f"topics: {exc.message}", data={"field": "topics"}) from exc
    return patterns
