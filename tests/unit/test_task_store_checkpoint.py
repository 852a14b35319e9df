"""The SQLite task store's checkpoints run on a connection of their own: writes go on
inline (never through a worker thread) while one runs, and every write is on disk."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from codetether.daemon.core.tasks import SqliteTaskStore, _sqlite
from codetether.daemon.core.tasks._store import TaskRecord


def _task(n: int) -> TaskRecord:
    return TaskRecord(id=f"t{n}", context_id="c", session_id="s", state="TASK_STATE_COMPLETED",
                      status={"state": "TASK_STATE_COMPLETED"}, created_at=n, updated_at=n)


async def test_writes_do_not_wait_for_a_checkpoint(short_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_sqlite, "CHECKPOINT_EVERY", 1)
    store = SqliteTaskStore(short_dir / "tasks.db")
    await store.save(_task(0))  # opens the file
    waits: list[str] = []
    real_run = store._run

    async def counted(fn):  # type: ignore[no-untyped-def]
        waits.append("worker")
        return await real_run(fn)

    monkeypatch.setattr(store, "_run", counted)
    running = threading.Event()
    release = threading.Event()
    checkpoint = store._checkpoint_lock
    # a checkpoint that takes its time: the test holds its connection's lock
    holder = threading.Thread(target=lambda: (checkpoint.acquire(), running.set(), release.wait(),
                                              checkpoint.release()))
    holder.start()
    running.wait()
    try:
        for n in range(1, 50):
            await store.save(_task(n))
        assert waits == []  # every write ran inline, none waited on the checkpoint
    finally:
        release.set()
        holder.join()
    for n in range(50, 300):
        await store.save(_task(n))
    assert waits == []
    if store._checkpoint is not None:
        await store._checkpoint
    store.close()
    with sqlite3.connect(short_dir / "tasks.db") as fresh:
        assert fresh.execute("SELECT count(*) FROM tasks").fetchone() == (300,)
    assert store._checkpointer is None  # closed with the store
