"""A blocking SendMessage's task is written by its run's first state change: what happens
when that write is cut short or fails (the manager over a real SQLite store, the TCK's
scripted agent, no model)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from codetether.daemon.core.config._schema import A2ASection
from codetether.daemon.core.tasks import SqliteTaskStore, TaskManager
from codetether.daemon.core.tasks._conformance import ConformanceSessions
from codetether.daemon.errors import Unavailable
from codetether.daemon.wire import a2a


def _request(message_id: str, context_id: str = "") -> a2a.SendMessageRequest:
    return a2a.SendMessageRequest(message=a2a.Message(
        message_id=message_id, role="ROLE_USER", context_id=context_id, parts=[a2a.Part(text="hi")]))


def _manager(home: Path, *, conformance: bool) -> tuple[TaskManager, SqliteTaskStore]:
    store = SqliteTaskStore(home / "tasks.db")
    return TaskManager(store, ConformanceSessions(), lambda: A2ASection(workspace=str(home)),
                       conformance=conformance), store


async def test_a_run_cancelled_while_its_first_write_runs_in_a_thread_ends_canceled(short_dir: Path) -> None:
    manager, store = _manager(short_dir, conformance=True)
    await manager.list(a2a.ListTasksRequest())  # opens the file and recovers
    # Something holds the store's connection (a list scanning in a worker thread): the
    # run's first write goes to a worker thread and waits there for it.
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store._lock:
            held.set()
            release.wait()

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    held.wait()
    try:
        await _cancel_during_the_first_write(manager, store, release)
    finally:
        release.set()
        holder.join()
        await manager.aclose()


async def _cancel_during_the_first_write(manager: TaskManager, store: SqliteTaskStore,
                                         release: threading.Event) -> None:
    waiting = asyncio.Event()
    real_run = store._run

    async def run(fn: Any) -> Any:
        waiting.set()
        return await real_run(fn)

    store._run = run  # type: ignore[method-assign]
    send = asyncio.ensure_future(manager.send(_request("tck-artifact-text-1"), "p"))
    await waiting.wait()  # the INSERT waits in a thread
    (task_id,) = list(manager._live)
    cancel = asyncio.ensure_future(manager.cancel(task_id))
    await asyncio.sleep(0)  # the cancel reaches the run while its write is still held
    release.set()
    assert (await cancel).status.state == "TASK_STATE_CANCELED"
    task = await send  # answered with the task, not with "task ... exists"
    assert task.status.state == "TASK_STATE_CANCELED"
    rec = await store.get(task_id)
    assert rec is not None and rec.state == "TASK_STATE_CANCELED"


async def test_a_waiting_scenario_never_stored_does_not_hold_its_context(short_dir: Path) -> None:
    manager, store = _manager(short_dir, conformance=True)
    real = store.create

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise Unavailable("task store: disk full", data={"store": "tasks"})

    store.create = broken  # type: ignore[method-assign]
    with pytest.raises(Unavailable, match="disk full"):
        await manager.send(_request("tck-input-required-1", "ctx"), "p")
    store.create = real  # type: ignore[method-assign]
    async with asyncio.timeout(10):
        while manager._live:  # the refused task's run ends (FAILED) instead of waiting for an answer
            await asyncio.sleep(0.01)
    task = await manager.send(_request("tck-complete-task-2", "ctx"), "p")
    assert task.status.state == "TASK_STATE_COMPLETED"
    await manager.aclose()
