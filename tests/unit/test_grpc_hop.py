"""run_on: a coroutine sent to another loop's thread, its outcome brought back, and
cancellation carried across (or the coroutine never started)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

import pytest
from codetether.daemon.transports.grpc._loop import run_on


@pytest.fixture
def other() -> Iterator[asyncio.AbstractEventLoop]:
    """A loop running on a thread of its own, like grpc's."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="other-loop")
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()


async def test_results_and_errors_come_back_from_the_other_thread(other: asyncio.AbstractEventLoop) -> None:
    async def where() -> str:
        return threading.current_thread().name

    async def fails() -> None:
        raise KeyError("boom")

    assert await run_on(other, where()) == "other-loop"
    with pytest.raises(KeyError, match="boom"):
        await run_on(other, fails())
    # the same loop: awaited in place
    assert await run_on(asyncio.get_running_loop(), where()) == threading.current_thread().name
    # many at once, each its own answer
    async def echo(n: int) -> int:
        await asyncio.sleep(0)
        return n

    assert await asyncio.gather(*(run_on(other, echo(n)) for n in range(200))) == list(range(200))


async def test_cancelling_the_caller_cancels_the_task_on_the_other_loop(other: asyncio.AbstractEventLoop) -> None:
    started, stopped = threading.Event(), threading.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        finally:
            stopped.set()

    caller = asyncio.create_task(run_on(other, forever()))
    await asyncio.to_thread(started.wait, 10)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert await asyncio.to_thread(stopped.wait, 10)


async def test_a_caller_that_gave_up_before_the_start_never_runs_it(other: asyncio.AbstractEventLoop) -> None:
    ran = threading.Event()
    hold = threading.Event()
    other.call_soon_threadsafe(hold.wait, 10)  # the other loop is busy: the hop waits behind it

    async def work() -> None:
        ran.set()

    caller = asyncio.create_task(run_on(other, work()))
    await asyncio.sleep(0)  # the hop is queued on the other loop
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    hold.set()
    # the other loop has drained its queue once this comes back
    assert await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(asyncio.sleep(0, "drained"), other)) == "drained"
    assert not ran.is_set()  # and the coroutine was closed, not left un-awaited (a warning here)


async def test_a_closed_loop_refuses_and_the_coroutine_is_closed() -> None:
    closed = asyncio.new_event_loop()
    closed.close()

    async def work() -> None:
        raise AssertionError("must not run")

    coro = work()
    with pytest.raises(RuntimeError):
        await run_on(closed, coro)
    assert coro.cr_frame is None  # closed: no "never awaited" warning


async def test_a_cancelled_caller_resumes_once_the_task_there_has_ended(other: asyncio.AbstractEventLoop) -> None:
    # The gRPC streamer reads a stream with run_on(_next(items)) and, when its client goes
    # away, closes it with run_on(items.aclose()). Like awaiting a task, a cancelled caller
    # resumes only when the task there has ended: else aclose() meets a generator still
    # running its cleanup ("aclose(): asynchronous generator is already running").
    reading, cleaned = threading.Event(), threading.Event()

    async def stream() -> AsyncIterator[int]:
        try:
            yield 1
            reading.set()
            await asyncio.sleep(3600)
            yield 2
        finally:
            await asyncio.sleep(0.01)  # cleanup that awaits, as stopping a run does
            cleaned.set()

    items = stream()

    async def next_item() -> int:
        return await items.__anext__()

    async def reader() -> None:
        try:
            while True:
                await run_on(other, next_item())
        finally:
            assert cleaned.is_set()  # the read was over before the caller went on
            await run_on(other, items.aclose())

    caller = asyncio.create_task(reader())
    assert await asyncio.to_thread(reading.wait, 10)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
