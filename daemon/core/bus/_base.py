"""What every bus backend promises: the :class:`Bus` interface, its :class:`Subscription`,
the per-agent :class:`BusHandle`, the bus's errors and which kinds are durable.

Slow subscribers (the same on every backend): each subscription has a bounded queue
(``queue_size``, default :data:`DEFAULT_QUEUE_SIZE`). The publisher never waits for a
subscriber. When a subscription's queue is full, its *oldest* undelivered envelope is
dropped to make room and :attr:`Subscription.dropped` rises; a reader compares it
between envelopes to learn that it missed some, and how many. What is delivered stays
in publish order (per publisher, hence per topic), gaps aside. Dropping the oldest
keeps a late reader current (the newest state of a task is what it needs) and keeps
one stuck watcher from stalling an agent or the bus.
"""

from __future__ import annotations

import abc
import asyncio
import enum
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Final, Self

from ...errors import InvalidParams, Unavailable
from ...wire.bus import BUS_MESSAGE_KINDS, BusEnvelope, BusMessage
from ._topics import agent_events_topic, agent_topic

__all__ = [
    "DEFAULT_QUEUE_SIZE",
    "DURABLE_KINDS",
    "Bus",
    "BusClosed",
    "BusHandle",
    "BusTimeout",
    "NoResponders",
    "NotARequest",
    "State",
    "Subscription",
    "check_timeout",
]

DEFAULT_QUEUE_SIZE: Final = 1024

#: Coordination kinds kept durably (the JSONL log in process, a JetStream stream on NATS)
#: and readable with :meth:`Bus.replay` after a restart. Chatter (thinking, heartbeats),
#: direct messages and tool calls are live only.
DURABLE_KINDS: Final[frozenset[str]] = frozenset(
    {"agent_ready", "agent_shutdown", "task_update", "artifact_update", "shared_result", "swarm_event"})

assert DURABLE_KINDS <= set(BUS_MESSAGE_KINDS)


class BusTimeout(Unavailable, TimeoutError):
    """A request got no reply within its timeout."""


class NoResponders(Unavailable):
    """A request went to a topic nobody subscribes to."""


class BusClosed(Unavailable):
    """The bus or subscription was used after ``close()``."""


class NotARequest(InvalidParams):
    """``reply()`` to an envelope that carries no ``reply_to`` (it was published, not requested)."""


def check_timeout(timeout: float) -> None:
    """A request's timeout must be a positive number of seconds."""
    if not isinstance(timeout, int | float) or not timeout > 0:
        raise InvalidParams(f"a bus request needs a timeout > 0 seconds, got {timeout!r}")


class State(enum.Enum):
    """A bus's lifecycle: NEW until started, OPEN, then CLOSED for good."""

    NEW = "new"
    OPEN = "open"
    CLOSED = "closed"


class Subscription:
    """Envelopes matching one pattern, in order, from a bounded queue (see the module doc).

    ``_queue`` holds undelivered envelopes (at most ``maxsize``); ``_waiter`` is the
    future a reader parks on while the queue is empty, resolved by the next put or by
    :meth:`close`. Both are touched only from the event loop's thread.
    """

    __slots__ = ("_closed", "_queue", "_release", "_waiter", "dropped", "maxsize", "pattern")

    def __init__(self, pattern: str, maxsize: int) -> None:
        if maxsize < 1:
            raise InvalidParams(f"subscription queue size must be at least 1, got {maxsize}")
        self.pattern = pattern
        self.maxsize = maxsize
        #: Envelopes dropped because this subscription's queue was full (oldest first).
        self.dropped = 0
        self._queue: deque[BusEnvelope] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        #: The backend's unsubscribe, set by the bus; awaited once by :meth:`close`.
        self._release: list[Callable[[], Awaitable[None]]] = []

    def _put(self, envelope: BusEnvelope) -> None:
        """Queue one envelope without ever waiting (the bus's hot path)."""
        if self._closed:
            return
        queue = self._queue
        if len(queue) >= self.maxsize:
            queue.popleft()
            self.dropped += 1
        queue.append(envelope)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pending(self) -> int:
        """Envelopes queued and not yet read."""
        return len(self._queue)

    def _close(self) -> None:
        self._closed = True
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def close(self) -> None:
        """Stop receiving; a reader waiting gets the end of the iteration. Idempotent."""
        if self._closed:
            return
        self._close()
        for release in self._release:
            await release()
        self._release.clear()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> BusEnvelope:
        while True:
            if self._queue:
                return self._queue.popleft()
            if self._closed:
                raise StopAsyncIteration
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            await waiter

    async def get(self, timeout: float | None = None) -> BusEnvelope:
        """The next envelope; :class:`BusTimeout` after ``timeout`` s, :class:`BusClosed` if closed."""
        try:
            async with asyncio.timeout(timeout):
                return await self.__anext__()
        except StopAsyncIteration:
            raise BusClosed(f"subscription {self.pattern!r} is closed") from None
        except TimeoutError:
            raise BusTimeout(f"nothing on {self.pattern!r} within {timeout} s") from None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()


class Bus(abc.ABC):
    """The agent bus. An async context manager: ``async with make_bus(...) as bus``.

    Every topic is checked (:class:`~codetether.daemon.core.bus.BadTopic`); a message
    published after :meth:`subscribe` returns reaches that subscription. Backends:
    :class:`InProcessBus` (default) and :class:`NatsBus`; one contract suite
    (``tests/contract/test_bus_contract.py``) runs against both.
    """

    durable_kinds: frozenset[str] = DURABLE_KINDS
    state: State = State.NEW

    @abc.abstractmethod
    async def start(self) -> None:
        """Open the log or connection. Starting twice, or after close, is an error."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close every subscription, fail waiting requests, release the backend. Idempotent."""

    @abc.abstractmethod
    async def publish(self, topic: str, message: BusMessage, *, sender_id: str,
                      correlation_id: str | None = None) -> BusEnvelope:
        """Send ``message`` on ``topic``; the envelope sent. Never waits for subscribers."""

    @abc.abstractmethod
    async def subscribe(self, pattern: str, *, queue_size: int | None = None) -> Subscription:
        """Receive every envelope whose topic matches ``pattern`` (``*``, ``>`` wildcards)."""

    @abc.abstractmethod
    async def request(self, topic: str, message: BusMessage, *, sender_id: str,
                      timeout: float) -> BusEnvelope:
        """Publish with a reply address and wait for the first reply; :class:`BusTimeout`
        after ``timeout`` s, :class:`NoResponders` at once when nobody subscribes to ``topic``."""

    @abc.abstractmethod
    async def reply(self, request: BusEnvelope, message: BusMessage, *, sender_id: str) -> BusEnvelope:
        """Answer ``request`` (its ``correlation_id`` is the request's ``id``). A requester
        that gave up is not an error: the reply goes nowhere. :class:`NotARequest` when
        ``request`` has no ``reply_to``."""

    @abc.abstractmethod
    def replay(self, pattern: str, since: float | None = None) -> AsyncIterator[BusEnvelope]:
        """The durable envelopes matching ``pattern`` (with ``timestamp >= since``), oldest
        first, including those from before a restart."""

    def handle(self, sender_id: str) -> BusHandle:
        """A handle for one agent: every envelope it sends carries ``sender_id``."""
        return BusHandle(self, sender_id)

    def _check_open(self) -> None:
        if self.state is not State.OPEN:
            raise BusClosed(f"the bus is {self.state.value}" + (" (call start())" if self.state is State.NEW
                                                                  else ""))

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()


class BusHandle:
    """One agent's view of the bus: the same calls with ``sender_id`` bound."""

    __slots__ = ("bus", "sender_id")

    def __init__(self, bus: Bus, sender_id: str) -> None:
        if not sender_id:
            raise InvalidParams("a bus handle needs a sender id")
        self.bus = bus
        self.sender_id = sender_id

    @property
    def inbox(self) -> str:
        """``agent.{sender_id}``: where messages and requests to this agent go."""
        return agent_topic(self.sender_id)

    @property
    def events(self) -> str:
        """``agent.{sender_id}.events``: where this agent reports (ready, thinking, shutdown)."""
        return agent_events_topic(self.sender_id)

    async def publish(self, topic: str, message: BusMessage, *,
                      correlation_id: str | None = None) -> BusEnvelope:
        return await self.bus.publish(topic, message, sender_id=self.sender_id, correlation_id=correlation_id)

    async def subscribe(self, pattern: str, *, queue_size: int | None = None) -> Subscription:
        return await self.bus.subscribe(pattern, queue_size=queue_size)

    async def request(self, topic: str, message: BusMessage, *, timeout: float) -> BusEnvelope:
        return await self.bus.request(topic, message, sender_id=self.sender_id, timeout=timeout)

    async def reply(self, request: BusEnvelope, message: BusMessage) -> BusEnvelope:
        return await self.bus.reply(request, message, sender_id=self.sender_id)
