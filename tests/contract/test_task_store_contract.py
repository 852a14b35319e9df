"""One contract for every task store backend (STYLE 11): the SQLite file in the data dir
and the in-memory store must be interchangeable behind ``TaskStore``.

Behaviour only the file has (surviving a reopen, two connections writing at once, a
corrupt or unwritable file, its modes) is tested at the end, on that backend."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from codetether.daemon.core.tasks import (
    MemoryTaskStore,
    PushConfigRecord,
    SqliteTaskStore,
    TaskQuery,
    TaskRecord,
    TaskStore,
)
from codetether.daemon.errors import Conflict, InvalidParams, Unavailable


@pytest.fixture(params=["sqlite", "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TaskStore]:
    backend: TaskStore = (SqliteTaskStore(tmp_path / "tasks" / "tasks.db") if request.param == "sqlite"
                          else MemoryTaskStore())
    yield backend
    backend.close()


def _task(n: int, *, context: str = "ctx", state: str = "TASK_STATE_COMPLETED",
          at: float | None = None) -> TaskRecord:
    ts = 1000.0 + n if at is None else at
    return TaskRecord(
        id=f"t{n:03d}", context_id=context, session_id=f"s-{context}", state=state,
        status={"state": state, "timestamp": "2026-01-01T00:00:00Z"},
        artifacts=[{"artifactId": "a", "parts": [{"text": f"answer {n}"}]}],
        history=[{"messageId": f"m{n}-{i}", "role": "ROLE_USER", "parts": [{"text": str(i)}]}
                 for i in range(3)],
        metadata={"n": n}, created_at=ts, updated_at=ts)


async def _get(store: TaskStore, task_id: str, history_length: int | None = None) -> TaskRecord:
    found = await store.get(task_id, history_length=history_length)
    assert found is not None
    return found


def test_both_backends_satisfy_the_interface():
    for backend in (SqliteTaskStore, MemoryTaskStore):
        missing = [m for m in ("create", "save", "get", "list", "context_session", "bind_context",
                               "put_push", "get_push", "list_push", "delete_push", "health", "close")
                   if not callable(getattr(backend, m, None))]
        assert missing == [], f"{backend.__name__} lacks {missing}"


async def test_a_task_round_trips(store: TaskStore):
    task = _task(1)
    await store.create(task)
    assert await store.get("t001") == task
    assert await store.get("nope") is None


async def test_create_refuses_an_existing_id_and_save_replaces(store: TaskStore):
    await store.create(_task(1))
    with pytest.raises(Conflict):
        await store.create(_task(1))
    changed = _task(1, state="TASK_STATE_WORKING", at=2000.0)
    await store.save(changed)
    got = await store.get("t001")
    assert got is not None and got.state == "TASK_STATE_WORKING" and got.updated_at == 2000.0


async def test_get_trims_history_to_the_last_messages(store: TaskStore):
    await store.create(_task(1))
    assert [m["messageId"] for m in (await _get(store, "t001", 2)).history] == ["m1-1", "m1-2"]
    assert (await _get(store, "t001", 0)).history == []
    assert len((await _get(store, "t001")).history) == 3


async def test_list_pages_newest_first_with_a_total(store: TaskStore):
    for n in range(7):
        await store.create(_task(n))
    seen: list[str] = []
    token = ""
    while True:
        page = await store.list(TaskQuery(page_size=3, page_token=token))
        assert page.total_size == 7
        seen += [t.id for t in page.tasks]
        token = page.next_page_token
        if not token:
            break
    assert seen == [f"t{n:03d}" for n in reversed(range(7))]


async def test_list_breaks_ties_of_time_by_id_without_losing_tasks(store: TaskStore):
    for n in range(5):
        await store.create(_task(n, at=500.0))
    first = await store.list(TaskQuery(page_size=2))
    rest = await store.list(TaskQuery(page_size=10, page_token=first.next_page_token))
    assert [t.id for t in first.tasks + rest.tasks] == ["t004", "t003", "t002", "t001", "t000"]
    assert rest.next_page_token == ""


async def test_list_filters_by_context_state_and_time(store: TaskStore):
    await store.create(_task(1, context="a"))
    await store.create(_task(2, context="b", state="TASK_STATE_WORKING"))
    await store.create(_task(3, context="a", state="TASK_STATE_WORKING"))
    assert [t.id for t in (await store.list(TaskQuery(context_id="a"))).tasks] == ["t003", "t001"]
    page = await store.list(TaskQuery(state="TASK_STATE_WORKING"))
    assert [t.id for t in page.tasks] == ["t003", "t002"] and page.total_size == 2
    assert [t.id for t in (await store.list(TaskQuery(updated_after=1002.0))).tasks] == ["t003", "t002"]
    assert (await store.list(TaskQuery(context_id="zzz"))).tasks == []


async def test_list_leaves_out_artifacts_unless_asked_and_trims_history(store: TaskStore):
    await store.create(_task(1))
    plain = (await store.list(TaskQuery(history_length=1))).tasks[0]
    assert plain.artifacts == [] and [m["messageId"] for m in plain.history] == ["m1-2"]
    full = (await store.list(TaskQuery(include_artifacts=True))).tasks[0]
    assert full.artifacts == _task(1).artifacts and len(full.history) == 3


async def test_list_clamps_the_page_size(store: TaskStore):
    for n in range(3):
        await store.create(_task(n))
    assert len((await store.list(TaskQuery(page_size=0))).tasks) == 1
    assert len((await store.list(TaskQuery(page_size=1000))).tasks) == 3


async def test_a_page_token_not_ours_is_invalid_params(store: TaskStore):
    with pytest.raises(InvalidParams, match="pageToken"):
        await store.list(TaskQuery(page_token="%%not-a-token%%"))
    with pytest.raises(InvalidParams, match="pageToken"):
        await store.list(TaskQuery(page_token="bm90IGpzb24"))  # base64 of "not json"


async def test_contexts_map_to_sessions(store: TaskStore):
    assert await store.context_session("c1") is None
    await store.bind_context("c1", "s1")
    await store.bind_context("c2", "s2")
    assert (await store.context_session("c1"), await store.context_session("c2")) == ("s1", "s2")


async def test_create_can_bind_the_tasks_context_in_the_same_write(store: TaskStore):
    await store.create(_task(1, context="c9"), bind_context=True)
    assert await store.context_session("c9") == "s-c9"
    await store.create(_task(2, context="c8"))  # without: no binding
    assert await store.context_session("c8") is None
    with pytest.raises(Conflict):  # a refused task binds nothing
        await store.create(_task(2, context="c7"), bind_context=True)
    assert await store.context_session("c7") is None


async def test_push_configs_crud(store: TaskStore):
    auth = {"scheme": "Bearer", "credentials": "sekrit"}
    await store.put_push(PushConfigRecord("t1", "b", "https://h/b", token="tok", authentication=auth))
    await store.put_push(PushConfigRecord("t1", "a", "https://h/a"))
    await store.put_push(PushConfigRecord("t2", "a", "https://h/other"))
    assert await store.get_push("t1", "b") == PushConfigRecord("t1", "b", "https://h/b", "tok", auth)
    assert [c.id for c in await store.list_push("t1")] == ["a", "b"]
    await store.put_push(PushConfigRecord("t1", "a", "https://h/a2"))
    again = await store.get_push("t1", "a")
    assert again is not None and again.url == "https://h/a2"
    assert await store.delete_push("t1", "a") is True
    assert await store.delete_push("t1", "a") is False
    assert await store.get_push("t1", "a") is None
    assert [c.url for c in await store.list_push("t2")] == ["https://h/other"]


async def test_concurrent_writers_lose_nothing(store: TaskStore):
    await asyncio.gather(*(store.create(_task(n)) for n in range(40)))
    await asyncio.gather(*(store.save(_task(n, state="TASK_STATE_FAILED")) for n in range(40)))
    page = await store.list(TaskQuery(page_size=100, state="TASK_STATE_FAILED"))
    assert page.total_size == 40


async def test_health_is_ok_when_working(store: TaskStore):
    await store.create(_task(1))
    assert store.health() == (True, None)


# -- the SQLite file only ------------------------------------------------------------


async def test_tasks_survive_reopening_the_file(tmp_path: Path):
    path = tmp_path / "tasks" / "tasks.db"
    first = SqliteTaskStore(path)
    await first.create(_task(1))
    await first.bind_context("ctx", "s-ctx")
    await first.put_push(PushConfigRecord("t001", "p", "https://h/p", token="t"))
    first.close()
    again = SqliteTaskStore(path)
    try:
        assert await again.get("t001") == _task(1)
        assert await again.context_session("ctx") == "s-ctx"
        assert [c.id for c in await again.list_push("t001")] == ["p"]
    finally:
        again.close()


async def test_the_file_is_private_and_in_wal_mode(tmp_path: Path):
    path = tmp_path / "tasks" / "tasks.db"
    store = SqliteTaskStore(path)
    try:
        await store.create(_task(1))
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert (tmp_path / "tasks" / "tasks.db-wal").exists()
    finally:
        store.close()


async def test_two_stores_on_one_file_write_at_once(tmp_path: Path):
    # Two daemons (or a daemon and a tool) on one data dir: WAL and the busy timeout
    # serialise their writes; neither loses one.
    path = tmp_path / "tasks.db"
    a, b = SqliteTaskStore(path), SqliteTaskStore(path)
    try:
        await asyncio.gather(*(s.create(_task(n)) for n in range(30) for s in [(a, b)[n % 2]]))
        assert (await a.list(TaskQuery(page_size=100))).total_size == 30
        assert (await b.get("t029")) is not None
    finally:
        a.close()
        b.close()


async def test_a_corrupt_file_is_unavailable_saying_why(tmp_path: Path):
    path = tmp_path / "tasks.db"
    path.write_bytes(b"this is not a database, just text that is long enough" * 100)
    store = SqliteTaskStore(path)
    with pytest.raises(Unavailable, match=r"task store .*tasks\.db.*not a database"):
        await store.get("t1")
    ok, error = store.health()
    assert not ok and error is not None and "not a database" in error
    store.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
async def test_an_unwritable_dir_is_unavailable(tmp_path: Path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    store = SqliteTaskStore(locked / "tasks" / "tasks.db")
    with pytest.raises(Unavailable, match="task store"):
        await store.create(_task(1))
    store.close()


async def test_a_path_under_a_file_is_unavailable(tmp_path: Path):
    (tmp_path / "file").write_text("")
    store = SqliteTaskStore(tmp_path / "file" / "tasks" / "tasks.db")
    with pytest.raises(Unavailable, match="task store"):
        await store.create(_task(1))
    store.close()


async def test_a_closed_store_is_unavailable(tmp_path: Path):
    store = SqliteTaskStore(tmp_path / "tasks.db")
    store.close()
    with pytest.raises(Unavailable, match="closed"):
        await store.get("t1")


async def test_a_write_waits_for_another_writer_without_stalling_the_loop(tmp_path: Path):
    # Writes run on the loop when nothing makes them wait; while another process holds
    # the file's write lock the write goes to a worker thread and waits there.
    import sqlite3

    path = tmp_path / "tasks.db"
    store = SqliteTaskStore(path)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        await store.create(_task(1))  # opens the file
        other.execute("BEGIN IMMEDIATE")
        saving = asyncio.ensure_future(store.save(_task(1, state="TASK_STATE_WORKING", at=2000.0)))
        ticks = 0
        while ticks < 50 and not saving.done():  # the loop keeps turning while the save waits
            await asyncio.sleep(0)
            ticks += 1
        assert ticks == 50 and not saving.done()
        other.execute("COMMIT")
        await asyncio.wait_for(saving, 10)
        assert (await _get(store, "t001")).state == "TASK_STATE_WORKING"
    finally:
        other.close()
        store.close()


async def test_the_wal_is_checkpointed_by_the_store(tmp_path: Path):
    from codetether.daemon.core.tasks import _sqlite

    path = tmp_path / "tasks.db"
    store = SqliteTaskStore(path)
    try:
        for n in range(_sqlite.CHECKPOINT_EVERY + 1):
            await store.save(_task(n))
        assert store._checkpoint is not None
        await store._checkpoint
        assert len(await _all(store)) == _sqlite.CHECKPOINT_EVERY + 1
    finally:
        store.close()
    again = SqliteTaskStore(path)
    try:
        assert (await again.list(TaskQuery(page_size=1))).total_size == _sqlite.CHECKPOINT_EVERY + 1
    finally:
        again.close()


async def _all(store: TaskStore) -> list[TaskRecord]:
    out: list[TaskRecord] = []
    token = ""
    while True:
        page = await store.list(TaskQuery(page_size=100, page_token=token))
        out += page.tasks
        if not (token := page.next_page_token):
            return out
