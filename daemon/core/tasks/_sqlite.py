"""The task store as one SQLite file in the data dir (stdlib ``sqlite3``, WAL).

A short call (a write of one task, a lookup by key) runs at once on the calling
thread when it can without waiting: the connection is free (``_lock`` taken without
blocking) and no other process holds the file's write lock (busy timeout 0 on this
path: SQLite answers BUSY at once). A WAL commit with ``synchronous=NORMAL`` is tens
of microseconds, less than the two thread hops it saves. Otherwise, and for calls
that can scan (a list), the call runs in a worker thread (``asyncio.to_thread``),
where a write may wait on another process's lock (``busy_timeout``) without stalling
the event loop. Checkpoints, which fsync, never run on the calling thread: automatic
checkpoints are off and every :data:`CHECKPOINT_EVERY` writes a passive one runs in
a worker thread, on a connection of its own, so the writes go on inline while it
waits for the disk (WAL lets a passive checkpoint and a writer run at once; on the
shared connection every write during a checkpoint's fsync went to a thread and waited
for it: a stall of milliseconds every 128 tasks).

One connection serves every call, from any thread (checkpoints have their own); ``_lock`` (a threading lock) serialises its use
and guards ``_conn`` and ``_error``. The file is opened on first use (in a worker
thread), not when the store is built, so a daemon whose task store is broken still
serves everything else: each call then raises :class:`Unavailable` saying why.

The file is 0600 in a 0700 directory: tasks hold what peers sent and what the agent
answered. WAL with ``synchronous=NORMAL`` keeps a committed task across a crash of
the process (a power loss may lose the last commits, never corrupt the file).
"""

from __future__ import annotations

import asyncio
import builtins
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from ...errors import Conflict, Unavailable
from ._store import (
    MAX_PAGE_SIZE,
    PushConfigRecord,
    TaskPage,
    TaskQuery,
    TaskRecord,
    decode_cursor,
    encode_cursor,
    trim_history,
)

__all__ = ["SqliteTaskStore"]

T = TypeVar("T")

#: Milliseconds a write waits for another writer (another daemon on the same file) to finish.
BUSY_TIMEOUT_MS = 5000
#: Writes between two passive WAL checkpoints (run in a worker thread; they fsync).
CHECKPOINT_EVERY = 256

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    context_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    state TEXT NOT NULL,
    status TEXT NOT NULL,
    artifacts TEXT NOT NULL,
    history TEXT NOT NULL,
    metadata TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_by_time ON tasks (updated_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS tasks_by_context ON tasks (context_id, updated_at DESC);
CREATE TABLE IF NOT EXISTS contexts (
    context_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS push_configs (
    task_id TEXT NOT NULL,
    id TEXT NOT NULL,
    url TEXT NOT NULL,
    token TEXT NOT NULL,
    authentication TEXT,
    PRIMARY KEY (task_id, id)
);
"""

_COLUMNS = "id, context_id, session_id, state, status, artifacts, history, metadata, created_at, updated_at"
_UPDATE = ("UPDATE tasks SET context_id = ?, session_id = ?, state = ?, status = ?, artifacts = ?, history = ?, "
           "metadata = ?, created_at = ?, updated_at = ? WHERE id = ?")


_encode = msgspec.json.Encoder().encode
_loads = msgspec.json.Decoder().decode  # JSON text (str) or bytes


def _dumps(value: Any) -> str:
    """Compact JSON, non-ASCII as is (msgspec: several times faster than ``json.dumps``,
    and a save writes a task's whole history)."""
    return _encode(value).decode()


class SqliteTaskStore:
    """The :class:`~._store.TaskStore` interface over ``path`` (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._error: str | None = None
        self._closed = False
        self._writes = 0  # since the last checkpoint
        self._checkpoint: asyncio.Future[None] | None = None
        self._checkpointer: sqlite3.Connection | None = None  # the checkpoints' own connection
        self._checkpoint_lock = threading.Lock()  # guards it (a checkpoint against close)

    # -- plumbing -------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        if self._closed:
            raise Unavailable("the task store is closed")
        if self._conn is not None:
            return self._conn
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            # Busy timeout 0 between calls: the calling thread's path must not wait;
            # a worker thread's call sets BUSY_TIMEOUT_MS around itself.
            conn = sqlite3.connect(self.path, timeout=0, isolation_level=None, check_same_thread=False)
            try:
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("PRAGMA wal_autocheckpoint = 0")  # see _checkpointed
                conn.executescript(_SCHEMA)
                conn.execute("PRAGMA busy_timeout = 0")
            except BaseException:
                conn.close()
                raise
        except (OSError, sqlite3.Error) as exc:
            raise self._failed(exc) from exc
        self._conn, self._error = conn, None
        return conn

    def _failed(self, exc: BaseException) -> Unavailable:
        self._error = f"task store {self.path}: {exc}"
        return Unavailable(self._error, data={"store": "tasks"})

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn`` in a worker thread, waiting up to the busy timeout for other writers."""
        def work() -> T:
            with self._lock:
                conn = self._open()
                try:
                    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                    try:
                        return fn(conn)
                    finally:
                        conn.execute("PRAGMA busy_timeout = 0")
                except sqlite3.IntegrityError:
                    raise
                except sqlite3.Error as exc:
                    raise self._failed(exc) from exc

        return await asyncio.to_thread(work)

    async def _short(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = False) -> T:
        """``fn`` at once on this thread if nothing makes it wait, else :meth:`_run`."""
        if write:
            self._wrote()
        conn = self._conn
        if conn is None or not self._lock.acquire(blocking=False):
            return await self._run(fn)  # not open yet (the first call opens it) or in use
        try:
            if self._conn is conn:
                try:
                    return fn(conn)
                except sqlite3.OperationalError as exc:
                    if (exc.sqlite_errorcode & 0xFF) != sqlite3.SQLITE_BUSY:
                        raise self._failed(exc) from exc
                    if conn.in_transaction:  # BUSY at COMMIT leaves the transaction open
                        conn.execute("ROLLBACK")
                except sqlite3.IntegrityError:
                    raise
                except sqlite3.Error as exc:
                    raise self._failed(exc) from exc
        finally:
            self._lock.release()
        return await self._run(fn)  # another process holds the file: wait for it in a thread

    def _wrote(self) -> None:
        """Count a write; every CHECKPOINT_EVERY, a passive checkpoint in a worker thread."""
        self._writes += 1
        if self._writes < CHECKPOINT_EVERY or (self._checkpoint is not None and not self._checkpoint.done()):
            return
        self._writes = 0

        def checkpoint() -> None:
            with self._checkpoint_lock:
                if self._closed:
                    return
                try:
                    if self._checkpointer is None:
                        self._checkpointer = sqlite3.connect(self.path, timeout=0, isolation_level=None,
                                                             check_same_thread=False)
                    self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error:  # the next write says what is wrong
                    pass

        self._checkpoint = asyncio.get_running_loop().run_in_executor(None, checkpoint)

    @staticmethod
    def _row(row: tuple[Any, ...]) -> TaskRecord:
        return TaskRecord(id=row[0], context_id=row[1], session_id=row[2], state=row[3],
                          status=_loads(row[4]), artifacts=_loads(row[5]),
                          history=_loads(row[6]), metadata=_loads(row[7]),
                          created_at=row[8], updated_at=row[9])

    @staticmethod
    def _values(r: TaskRecord) -> tuple[Any, ...]:
        return (r.id, r.context_id, r.session_id, r.state, _dumps(r.status), _dumps(r.artifacts),
                _dumps(r.history), _dumps(r.metadata), r.created_at, r.updated_at)

    # -- tasks ----------------------------------------------------------------------

    async def create(self, record: TaskRecord, *, bind_context: bool = False) -> None:
        """Insert a new task (Conflict if the id exists); with ``bind_context`` its
        context's binding too, in the same transaction (one commit, one thread hop)."""
        values = self._values(record)

        def insert(conn: sqlite3.Connection) -> None:
            if not bind_context:
                conn.execute(f"INSERT INTO tasks ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", values)
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(f"INSERT INTO tasks ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", values)
                conn.execute("INSERT OR REPLACE INTO contexts (context_id, session_id) VALUES (?, ?)",
                             (record.context_id, record.session_id))
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

        try:
            await self._short(insert, write=True)
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"task {record.id} exists") from exc

    async def save(self, record: TaskRecord) -> None:
        """Insert or replace a task.

        An UPDATE in place where the task exists (the usual case: a run saving its
        state): ``INSERT OR REPLACE`` deletes the row and inserts it again, touching
        the primary key's index twice, a third more work per save.
        """
        values = self._values(record)
        changed = values[1:] + values[:1]

        def write(conn: sqlite3.Connection) -> None:
            if conn.execute(_UPDATE, changed).rowcount == 0:
                conn.execute(f"INSERT OR REPLACE INTO tasks ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", values)

        await self._short(write, write=True)

    async def get(self, task_id: str, *, history_length: int | None = None) -> TaskRecord | None:
        """The task, its history trimmed, or None."""
        row = await self._short(lambda conn: conn.execute(
            f"SELECT {_COLUMNS} FROM tasks WHERE id = ?", (task_id,)).fetchone())
        if row is None:
            return None
        record = self._row(row)
        record.history = trim_history(record.history, history_length)
        return record

    async def list(self, query: TaskQuery) -> TaskPage:
        """Tasks matching ``query``, newest status first, one page."""
        where: list[str] = ["1"]
        args: list[str | float] = []
        if query.context_id:
            where.append("context_id = ?")
            args.append(query.context_id)
        if query.state:
            where.append("state = ?")
            args.append(query.state)
        if query.updated_after is not None:
            where.append("updated_at >= ?")
            args.append(query.updated_after)
        page_where, page_args = list(where), list(args)
        if query.page_token:
            at, at_id = decode_cursor(query.page_token)
            page_where.append("(updated_at < ? OR (updated_at = ? AND id < ?))")
            page_args += [at, at, at_id]
        size = max(1, min(query.page_size, MAX_PAGE_SIZE))
        artifacts = "artifacts" if query.include_artifacts else "'[]'"
        columns = _COLUMNS.replace("artifacts", artifacts, 1)

        def select(conn: sqlite3.Connection) -> tuple[int, list[tuple[Any, ...]]]:
            total = conn.execute(f"SELECT count(*) FROM tasks WHERE {' AND '.join(where)}",
                                 args).fetchone()[0]
            rows = conn.execute(
                f"SELECT {columns} FROM tasks WHERE {' AND '.join(page_where)} "
                "ORDER BY updated_at DESC, id DESC LIMIT ?", [*page_args, size + 1]).fetchall()
            return int(total), rows

        total, rows = await self._run(select)
        records = [self._row(r) for r in rows[:size]]
        for record in records:
            record.history = trim_history(record.history, query.history_length)
        more = len(rows) > size
        token = encode_cursor(records[-1].updated_at, records[-1].id) if more else ""
        return TaskPage(records, token, total)

    # -- contexts -------------------------------------------------------------------

    async def context_session(self, context_id: str) -> str | None:
        """The session serving a context, or None."""
        row = await self._short(lambda conn: conn.execute(
            "SELECT session_id FROM contexts WHERE context_id = ?", (context_id,)).fetchone())
        return None if row is None else str(row[0])

    async def bind_context(self, context_id: str, session_id: str) -> None:
        """Map a context to its session."""
        await self._short(lambda conn: conn.execute(
            "INSERT OR REPLACE INTO contexts (context_id, session_id) VALUES (?, ?)",
            (context_id, session_id)), write=True)

    # -- push configs ---------------------------------------------------------------

    async def put_push(self, config: PushConfigRecord) -> None:
        """Insert or replace a push config."""
        auth = None if config.authentication is None else _dumps(config.authentication)
        await self._short(lambda conn: conn.execute(
            "INSERT OR REPLACE INTO push_configs (task_id, id, url, token, authentication) "
            "VALUES (?, ?, ?, ?, ?)", (config.task_id, config.id, config.url, config.token, auth)),
            write=True)

    async def get_push(self, task_id: str, config_id: str) -> PushConfigRecord | None:
        """One push config, or None."""
        rows = await self._short(lambda conn: conn.execute(
            "SELECT task_id, id, url, token, authentication FROM push_configs "
            "WHERE task_id = ? AND id = ?", (task_id, config_id)).fetchall())
        return _push(rows[0]) if rows else None

    async def list_push(self, task_id: str) -> builtins.list[PushConfigRecord]:
        """A task's push configs, by id."""
        rows = await self._run(lambda conn: conn.execute(
            "SELECT task_id, id, url, token, authentication FROM push_configs "
            "WHERE task_id = ? ORDER BY id", (task_id,)).fetchall())
        return [_push(r) for r in rows]

    async def delete_push(self, task_id: str, config_id: str) -> bool:
        """Remove a push config; False if there was none."""
        cursor = await self._short(lambda conn: conn.execute(
            "DELETE FROM push_configs WHERE task_id = ? AND id = ?", (task_id, config_id)), write=True)
        return cursor.rowcount > 0

    # -- life -----------------------------------------------------------------------

    def health(self) -> tuple[bool, str | None]:
        """(ok, the last error)."""
        return self._error is None, self._error

    def close(self) -> None:
        """Close the connection; later calls raise Unavailable."""
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        with self._checkpoint_lock:  # after a checkpoint still running
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None


def _push(row: tuple[Any, ...]) -> PushConfigRecord:
    auth = _loads(row[4]) if row[4] else None
    return PushConfigRecord(task_id=row[0], id=row[1], url=row[2], token=row[3], authentication=auth)
