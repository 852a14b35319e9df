"""grpc's own event loop, on its own thread, and the hop between it and the daemon's loop.

Why: grpcio aio accepts calls one at a time. Its server keeps ONE ``request_call``
outstanding per method (one for all generic handlers), and each accept is a chain of
four or five loop iterations (completion-queue reader -> future -> task -> ``wait`` ->
re-arm). On the daemon's loop, flooded by hundreds of HTTP connections, one iteration
takes tens of milliseconds, so gRPC got ~7 new calls a second however many clients
waited; the calls grpc core held unrequested for 30 s
(``grpc.server_max_unrequested_time_in_server``) it then CANCELLED. On a loop of its
own, with nothing else on it, an accept takes microseconds; the work itself (the API
call) still runs on the daemon's loop, scheduled like an HTTP request's.

The loop is one per process and never stopped: grpc's process-wide completion queue is
bound to the loop that first used grpc aio, and client channels created later on other
loops get their events dispatched through it, so it must outlive every listener.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, Generic, TypeVar

__all__ = ["grpc_loop", "run_on"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def grpc_loop() -> asyncio.AbstractEventLoop:
    """The gRPC loop (started on first use, on a daemon thread named ``codetether-grpc``)."""
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            threading.Thread(target=run, name="codetether-grpc", daemon=True).start()
            ready.wait()
            _loop = loop
        return _loop


async def run_on(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on ``loop`` and await its result from the running loop.

    Cancelling the awaiting task cancels ``coro``'s task on ``loop`` (or ``coro`` is never
    started, if that has not happened yet), so a call the client gave up on stops where it
    runs; like awaiting a task, the caller resumes (with CancelledError) once that task has
    ended, so what it does next (closing the stream a ``_next`` was reading) cannot meet
    it still running. A second cancel stops the wait.

    One wake-up of each loop and nothing else: ``run_coroutine_threadsafe`` with
    ``wrap_future`` cost a concurrent future, its lock and two more callbacks per hop,
    about a fifth of a bare unary call's server time here.
    """
    here = asyncio.get_running_loop()
    if loop is here:
        return await coro
    hop = _Hop(loop, here, coro)
    try:
        loop.call_soon_threadsafe(hop.start)
    except RuntimeError:  # ``loop`` is closed: nothing will run the coroutine
        coro.close()
        raise
    try:
        return await hop.result
    except asyncio.CancelledError:
        ended = hop.cancel()
        if ended is not None:
            await ended
        raise


class _Hop(Generic[T]):
    """One coroutine sent to ``there`` and its outcome brought back to ``here``."""

    __slots__ = ("_coro", "_delivered", "_ended", "_finished", "_lock", "_stopped", "_task", "here", "result",
                 "there")

    def __init__(self, there: asyncio.AbstractEventLoop, here: asyncio.AbstractEventLoop,
                 coro: Coroutine[Any, Any, T]) -> None:
        self.there, self.here = there, here
        self.result: asyncio.Future[T] = here.create_future()
        self._coro: Coroutine[Any, Any, T] | None = coro
        self._task: asyncio.Task[T] | None = None
        self._stopped = False
        self._finished = False  # the task's outcome reached ``here`` (set and read on ``here``)
        self._delivered = False  # a result was sent from the task's last step (set and read on ``there``)
        self._ended: asyncio.Future[None] | None = None  # made by cancel(), set by _deliver()
        self._lock = threading.Lock()  # start() (there) against cancel() (here)

    def start(self) -> None:
        """On ``there``: the coroutine as a task, unless the caller already gave up."""
        with self._lock:
            coro, self._coro = self._coro, None
            if coro is None:
                return
            if self._stopped:
                coro.close()
                return
            self._task = task = self.there.create_task(self._send(coro))
        task.add_done_callback(self._done)

    async def _send(self, coro: Coroutine[Any, Any, T]) -> T:
        """``coro``; its result goes back from this last step, a loop iteration before
        the task's done callback would run (failures and cancels go through that)."""
        result = await coro
        self._delivered = True
        self._tell(True, result)
        return result

    def _done(self, task: asyncio.Task[T]) -> None:
        if self._delivered:
            return
        # Retrieved here, so a failure nobody waits for any more is not logged as lost.
        if task.cancelled():
            self._tell(False, None)
        else:
            exc = task.exception()
            self._tell(exc is None, task.result() if exc is None else exc)

    def _tell(self, ok: bool, outcome: Any) -> None:
        """On ``there``: hand the outcome to ``here`` (a result, an exception, or None
        for a cancel)."""
        try:
            self.here.call_soon_threadsafe(self._deliver, ok, outcome)
        except RuntimeError:  # the caller's loop is gone: nobody is left to tell
            pass

    def _deliver(self, ok: bool, outcome: Any) -> None:
        self._finished = True
        if self._ended is not None and not self._ended.done():
            self._ended.set_result(None)
        if self.result.done():  # the caller gave up
            return
        if ok:
            self.result.set_result(outcome)
        elif outcome is None:
            self.result.cancel()
        else:
            self.result.set_exception(outcome)

    def cancel(self) -> asyncio.Future[None] | None:
        """On ``here``: stop the coroutine where it runs (or keep it from starting).
        Returns a future done when the task there has ended, or None if none runs."""
        with self._lock:
            self._stopped = True
            task = self._task
        if task is None or self._finished:
            return None
        try:
            self.there.call_soon_threadsafe(task.cancel)
        except RuntimeError:  # ``there`` is closed: the task is gone with it
            return None
        self._ended = self.here.create_future()
        return self._ended
