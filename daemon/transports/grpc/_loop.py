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
from typing import Any, TypeVar

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

    Cancelling the awaiting task cancels ``coro``'s task on ``loop`` (asyncio chains
    the two futures), so a call the client gave up on stops where it runs.
    """
    if loop is asyncio.get_running_loop():
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))
