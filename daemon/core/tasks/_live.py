"""A task while its run is in this process: its record, its run and who is watching it.

Updates fan out to subscribers (a SendStreamingMessage caller, SubscribeToTask
callers, a SendMessage waiting for its answer) through bounded queues. Policy for a
slow subscriber: the run waits for it up to :data:`SLOW_READER_SECONDS` per update
(text chunks are not worth losing to a reader that is merely a little behind); one
still full after that is cut off: its oldest update is dropped for a marker that
ends its stream with :class:`Unavailable`, and the drop is counted. A reader can
therefore slow a run by at most that bound per update, and never stop it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from ...errors import CodetetherError, Unavailable
from ...wire import a2a
from ._convert import FINAL_STATES, TERMINAL_STATES
from ._store import PushConfigRecord, TaskRecord

__all__ = ["LiveTask", "Runner", "SUBSCRIBER_QUEUE", "SLOW_READER_SECONDS", "Subscription", "final_state"]

#: Updates buffered for one subscriber before the run waits for it.
SUBSCRIBER_QUEUE = 256
#: How long the run waits for a full subscriber before cutting it off.
SLOW_READER_SECONDS = 2.0

_CUT_OFF = object()


def final_state(item: a2a.StreamResponse, *, interrupted_too: bool) -> bool:
    """Whether ``item`` ends a stream: a terminal status (or an interrupted one, when
    the stream is a SendStreamingMessage's: the client answers with a new message)."""
    update = item.status_update
    if update is None:
        return False
    states = FINAL_STATES if interrupted_too else TERMINAL_STATES
    return update.status.state in states


class Runner(Protocol):
    """What drives a live task's run, as the manager hands it a client's answer."""

    def answer(self, question: str, message: a2a.Message, text: str) -> None:
        """``message`` (its prompt ``text``) answers the open ``question``."""
        ...


@dataclass(eq=False, slots=True)
class Subscription:
    """One reader's queue of updates (see the module docstring for its policy)."""

    queue: asyncio.Queue[object] = field(default_factory=lambda: asyncio.Queue(SUBSCRIBER_QUEUE))

    async def items(self, *, interrupted_too: bool) -> AsyncIterator[a2a.StreamResponse]:
        """Updates until one ends the stream."""
        while True:
            item = await self.queue.get()
            if item is _CUT_OFF:
                raise Unavailable("this stream fell too far behind the task and was cut off; "
                                  "GetTask or SubscribeToTask to catch up")
            assert isinstance(item, a2a.StreamResponse)
            yield item
            if final_state(item, interrupted_too=interrupted_too):
                return


@dataclass(eq=False)
class LiveTask:
    """A task whose run is in this process. ``record`` is its state as last saved (the
    run is its only writer); ``subscribers`` the readers of its updates; ``question``
    the open question an INPUT_REQUIRED task waits on (``runner`` takes the answer);
    ``push`` its push configs
    (cached: delivery never reads the store per update); ``cancel_requested`` that
    CancelTask asked for the end the run is heading to; ``dropped`` counts readers
    cut off for being slow.

    ``stored`` is False while the task's record has not been written yet: a blocking
    SendMessage's task is written by its run's first state change (the first write
    inserts it, binding its context when ``bind_context``), one write fewer per task.
    ``store_error`` is what that first write failed with, if it did (the caller is
    answered with it)."""

    record: TaskRecord
    run: asyncio.Task[None] | None = None
    runner: Runner | None = None
    subscribers: set[Subscription] = field(default_factory=set)
    question: str | None = None
    push: list[PushConfigRecord] = field(default_factory=list)
    cancel_requested: bool = False
    dropped: int = 0
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    stored: bool = True
    bind_context: bool = False
    store_error: CodetetherError | None = None

    def subscribe(self) -> Subscription:
        """A new reader of this task's updates, from now on."""
        sub = Subscription()
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop feeding ``sub``."""
        self.subscribers.discard(sub)

    async def publish(self, item: a2a.StreamResponse) -> None:
        """Hand ``item`` to every subscriber (waiting for a slow one, within bounds)."""
        for sub in list(self.subscribers):
            if sub.queue.full():
                try:
                    await asyncio.wait_for(sub.queue.put(item), SLOW_READER_SECONDS)
                except TimeoutError:
                    self._cut_off(sub)
            else:
                sub.queue.put_nowait(item)

    def _cut_off(self, sub: Subscription) -> None:
        self.subscribers.discard(sub)
        self.dropped += 1
        with contextlib.suppress(asyncio.QueueEmpty):
            sub.queue.get_nowait()
        sub.queue.put_nowait(_CUT_OFF)
