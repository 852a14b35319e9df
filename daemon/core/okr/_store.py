"""The OKR store: OKRs and their runs in one SQLite file in the data dir (stdlib
``sqlite3``, WAL), and the run state machine applied to it.

Every call runs in a worker thread (``asyncio.to_thread``): a write can wait on
another process's lock (``busy_timeout``) and neither may stall the event loop. One
connection serves every thread; ``_lock`` (a threading lock) serialises its use and
guards ``_conn``, ``_error`` and ``_closed``. The file is opened on first use, not when
the store is built, so a daemon whose OKR store is broken still serves everything
else: each call then raises :class:`Unavailable` saying why.

The file is 0600 in a 0700 directory. WAL with ``synchronous=NORMAL`` keeps a
committed change across a crash of the process. Each row keeps the whole object as
JSON (``doc``) beside the columns that are filtered on.

A transition is a compare-and-set inside one ``BEGIN IMMEDIATE`` transaction: the
status is read, the move checked against the table, and the row updated only where
the status is still the one read, so two racing transitions (threads, tasks or two
daemons on the same file) cannot both win. Every transition, refused ones too, is
handed to the audit sink after the transaction ends.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import msgspec

from ...errors import CodetetherError, Conflict, InvalidParams, Unavailable
from ...wire.okr import (
    ApprovalDecision,
    KrOutcome,
    Okr,
    OkrCreateParams,
    OkrRun,
    OkrStats,
    OkrUpdateParams,
)
from ._machine import check_transition, new_okr_id, new_run_id
from ._rows import enc, get_okr, get_run, put_okr, put_run, validate, with_ids

__all__ = ["AuditSink", "OkrStore"]

log = logging.getLogger("codetether.okr")
T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000
#: Outcomes kept per run, and per key result on its OKR (the newest).
RUN_OUTCOMES_KEPT = 500
KR_OUTCOMES_KEPT = 20
#: A run in one of these is being worked on: its OKR cannot be deleted under it.
ACTIVE_RUN_STATUSES = ("approved", "running", "paused", "waiting_approval")
#: Fields of a run that :meth:`OkrStore.update_run` may set (status only moves by transition).
RUN_FIELDS = frozenset({"session_id", "relay_id", "swarm_id", "prd_path", "workspace", "iterations",
                        "checkpoint", "error"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS okrs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    owner TEXT NOT NULL,
    tags TEXT NOT NULL,
    doc TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    okr_id TEXT NOT NULL,
    status TEXT NOT NULL,
    doc TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_okr ON runs (okr_id, created_at DESC);
"""


class AuditSink(Protocol):
    """Where transitions are recorded: ``app.recorder.audit.record``'s signature."""

    def __call__(self, category: str, action: str, *, principal: str,
                 outcome: Literal["success", "failure", "denied"], detail: dict[str, Any] | None = None,
                 okr_id: str | None = None, okr_run_id: str | None = None, relay_id: str | None = None,
                 session_id: str | None = None) -> object: ...


class OkrStore:
    """OKRs and runs in the SQLite file ``path`` (see the module docstring); ``audit``
    receives every run transition (category ``okr``, action ``from->to``)."""

    def __init__(self, path: Path, *, audit: AuditSink | None = None) -> None:
        self.path = path
        self.audit = audit
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._error: str | None = None
        self._closed = False

    # -- plumbing -------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        if self._closed:
            raise Unavailable("the OKR store is closed", data={"store": "okr"})
        if self._conn is not None:
            return self._conn
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                   check_same_thread=False)
            try:
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.executescript(_SCHEMA)
            except BaseException:
                conn.close()
                raise
        except (OSError, sqlite3.Error) as exc:
            raise self._failed(exc) from exc
        self._conn, self._error = conn, None
        return conn

    def _failed(self, exc: BaseException) -> Unavailable:
        self._error = f"OKR store {self.path}: {exc}"
        return Unavailable(self._error, data={"store": "okr"})

    async def _run(self, fn: Callable[[sqlite3.Connection], T], *, tx: bool = False) -> T:
        def work() -> T:
            with self._lock:
                conn = self._open()
                try:
                    if not tx:
                        return fn(conn)
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        out = fn(conn)
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise
                    conn.execute("COMMIT")
                    return out
                except sqlite3.Error as exc:
                    raise self._failed(exc) from exc

        return await asyncio.to_thread(work)

    # -- OKRs -----------------------------------------------------------------------

    async def create_okr(self, p: OkrCreateParams) -> Okr:
        """Store a new OKR (ids given to its key results); InvalidParams for bad input."""
        now = time.time()
        okr = Okr(id=new_okr_id(), title=p.title, description=p.description, status=p.status,
                  key_results=with_ids(p.key_results), owner=p.owner, tags=list(p.tags),
                  target_date=p.target_date, created_at=now, updated_at=now)
        validate(okr)
        await self._run(lambda conn: put_okr(conn, okr, insert=True))
        return okr

    async def get_okr(self, okr_id: str) -> Okr:
        """The OKR ``okr_id`` (NotFound if there is none)."""
        return await self._run(lambda conn: get_okr(conn, okr_id))

    async def list_okrs(self, *, status: str | None = None, owner: str | None = None,
                        tag: str | None = None, limit: int = 1000) -> builtins.list[Okr]:
        """OKRs matching every filter given, newest first."""
        where, args = ["1"], builtins.list[Any]()
        for column, value in (("status", status), ("owner", owner)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if tag is not None:
            where.append("EXISTS (SELECT 1 FROM json_each(okrs.tags) WHERE json_each.value = ?)")
            args.append(tag)
        rows = await self._run(lambda conn: conn.execute(
            f"SELECT doc FROM okrs WHERE {' AND '.join(where)} ORDER BY created_at DESC, id DESC LIMIT ?",
            [*args, limit]).fetchall())
        return [msgspec.json.decode(r[0], type=Okr) for r in rows]

    async def update_okr(self, p: OkrUpdateParams) -> Okr:
        """Replace the fields ``p`` gives; the rest stay."""
        changes = {f: getattr(p, f) for f in p.__struct_fields__ if f != "okr_id" and getattr(p, f) is not None}
        if "key_results" in changes:
            changes["key_results"] = with_ids(changes["key_results"])

        def update(conn: sqlite3.Connection) -> Okr:
            okr = msgspec.structs.replace(get_okr(conn, p.okr_id), **changes, updated_at=time.time())
            validate(okr)
            put_okr(conn, okr, insert=False)
            return okr

        return await self._run(update, tx=True)

    async def delete_okr(self, okr_id: str) -> bool:
        """Remove an OKR and its runs; False if there was none. Conflict while a run of it
        is approved, running, paused or waiting for approval (cancel it first)."""

        def delete(conn: sqlite3.Connection) -> bool:
            marks = ",".join("?" * len(ACTIVE_RUN_STATUSES))
            busy = conn.execute(f"SELECT id, status FROM runs WHERE okr_id = ? AND status IN ({marks})",
                                (okr_id, *ACTIVE_RUN_STATUSES)).fetchone()
            if busy is not None:
                raise Conflict(f"OKR {okr_id} has run {busy[0]} {busy[1]}: cancel it first",
                               data={"okr_id": okr_id, "run_id": busy[0]})
            conn.execute("DELETE FROM runs WHERE okr_id = ?", (okr_id,))
            return conn.execute("DELETE FROM okrs WHERE id = ?", (okr_id,)).rowcount > 0

        return await self._run(delete, tx=True)

    # -- runs -----------------------------------------------------------------------

    async def create_run(self, okr_id: str, *, by: str, session_id: str | None = None,
                         relay_id: str | None = None, swarm_id: str | None = None,
                         prd_path: str | None = None, workspace: str | None = None) -> OkrRun:
        """A new run of ``okr_id`` in ``draft`` (NotFound for an unknown OKR); audited."""
        now = time.time()
        run = OkrRun(id=new_run_id(), okr_id=okr_id, session_id=session_id, relay_id=relay_id,
                     swarm_id=swarm_id, prd_path=prd_path, workspace=workspace, created_at=now, updated_at=now)

        def insert(conn: sqlite3.Connection) -> None:
            get_okr(conn, okr_id)
            conn.execute("INSERT INTO runs (id, okr_id, status, doc, created_at, updated_at) "
                         "VALUES (?, ?, ?, ?, ?, ?)", (run.id, okr_id, run.status, enc(run), now, now))

        await self._run(insert, tx=True)
        self._audit(run, "create", by, "success", {"to": run.status})
        return run

    async def get_run(self, run_id: str) -> OkrRun:
        """The run ``run_id`` (NotFound if there is none)."""
        return await self._run(lambda conn: get_run(conn, run_id))

    async def list_runs(self, *, okr_id: str | None = None, status: str | None = None,
                        limit: int = 1000) -> builtins.list[OkrRun]:
        """Runs (of one OKR, of one status), newest first."""
        where, args = ["1"], builtins.list[Any]()
        for column, value in (("okr_id", okr_id), ("status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        rows = await self._run(lambda conn: conn.execute(
            f"SELECT doc FROM runs WHERE {' AND '.join(where)} ORDER BY created_at DESC, id DESC LIMIT ?",
            [*args, limit]).fetchall())
        return [msgspec.json.decode(r[0], type=OkrRun) for r in rows]

    async def update_run(self, run_id: str, **changes: Any) -> OkrRun:
        """Set a run's correlation ids, workspace, iterations, checkpoint or error (not its
        status: that moves only by :meth:`transition`)."""
        unknown = set(changes) - RUN_FIELDS
        if unknown:
            raise InvalidParams(f"a run's {', '.join(sorted(unknown))} cannot be set directly")

        def update(conn: sqlite3.Connection) -> OkrRun:
            run = get_run(conn, run_id)
            try:
                new = msgspec.convert(msgspec.to_builtins(
                    msgspec.structs.replace(run, **changes, updated_at=time.time())), OkrRun)
            except msgspec.ValidationError as exc:
                raise InvalidParams(f"run {run_id}: {exc}") from exc
            put_run(conn, new, expect=None)
            return new

        return await self._run(update, tx=True)

    async def transition(self, run_id: str, to: str, *, by: str, reason: str = "",
                         expect: str | None = None) -> OkrRun:
        """Move a run to ``to`` (see the module docstring): Conflict naming both states for a
        move the table refuses, or when ``expect`` is given and the run is not in it. Moving
        to ``approved``/``denied`` records the decision (``by``, ``reason``); to ``failed``
        records ``reason`` as the error."""
        seen: builtins.list[OkrRun] = []

        def move(conn: sqlite3.Connection) -> OkrRun:
            run = get_run(conn, run_id)
            seen.append(run)
            if expect is not None and run.status != expect:
                raise Conflict(f"run {run_id}: cannot go from {expect} to {to}: it is {run.status} now",
                               data={"run_id": run_id, "from": run.status, "to": to})
            check_transition(run_id, run.status, to)
            now = time.time()
            changes: dict[str, Any] = {"status": to, "updated_at": now}
            if to in ("approved", "denied"):
                changes["approval"] = ApprovalDecision(decision="approve" if to == "approved" else "deny",
                                                       reason=reason, approver=by, decided_at=now)
            if to == "failed":
                changes["error"] = reason or run.error or "failed"
            new = msgspec.structs.replace(run, **changes)
            put_run(conn, new, expect=run.status)
            return new

        try:
            new = await self._run(move, tx=True)
        except CodetetherError as exc:
            if seen and not isinstance(exc, Unavailable):
                self._audit(seen[0], f"{seen[0].status}->{to}", by, "failure",
                            {"from": seen[0].status, "to": to, "reason": reason, "error": exc.message})
            raise
        self._audit(new, f"{seen[0].status}->{to}", by, "success",
                    {"from": seen[0].status, "to": to, "reason": reason})
        return new

    async def record_measurement(self, run_id: str, outcomes: builtins.list[KrOutcome]) -> OkrRun:
        """Append ``outcomes`` to the run (its ``kr_progress`` updated per key result) and to
        each key result of its OKR (``current_value`` from the value read)."""

        def record(conn: sqlite3.Connection) -> OkrRun:
            run = get_run(conn, run_id)
            okr = get_okr(conn, run.okr_id)
            progress = dict(run.kr_progress)
            by_kr: dict[str, builtins.list[KrOutcome]] = {}
            for o in outcomes:
                progress[o.kr_id] = o.progress
                by_kr.setdefault(o.kr_id, []).append(o)
            krs = []
            for kr in okr.key_results:
                mine = by_kr.get(kr.id, [])
                value = next((o.value for o in reversed(mine) if o.value is not None), None)
                krs.append(msgspec.structs.replace(
                    kr, outcomes=[*kr.outcomes, *mine][-KR_OUTCOMES_KEPT:],
                    current_value=kr.current_value if value is None else value))
            now = time.time()
            put_okr(conn, msgspec.structs.replace(okr, key_results=krs, updated_at=now), insert=False)
            new = msgspec.structs.replace(run, kr_progress=progress, updated_at=now,
                                          outcomes=[*run.outcomes, *outcomes][-RUN_OUTCOMES_KEPT:])
            put_run(conn, new, expect=None)
            return new

        return await self._run(record, tx=True)

    async def stats(self) -> OkrStats:
        """Counts by status, and the mean progress of each OKR's latest measured run."""

        def count(conn: sqlite3.Connection) -> OkrStats:
            okrs = dict(conn.execute("SELECT status, count(*) FROM okrs GROUP BY status").fetchall())
            runs = dict(conn.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall())
            krs = 0
            for (doc,) in conn.execute("SELECT doc FROM okrs"):
                krs += len(msgspec.json.decode(doc, type=Okr).key_results)
            latest: dict[str, float] = {}
            for (doc,) in conn.execute("SELECT doc FROM runs ORDER BY created_at ASC"):
                run = msgspec.json.decode(doc, type=OkrRun)
                if run.kr_progress:
                    latest[run.okr_id] = sum(run.kr_progress.values()) / len(run.kr_progress)
            mean = sum(latest.values()) / len(latest) if latest else 0.0
            return OkrStats(okrs=sum(okrs.values()), okrs_by_status=okrs, key_results=krs,
                            runs=sum(runs.values()), runs_by_status=runs, mean_progress=round(mean, 4))

        return await self._run(count)

    # -- life -----------------------------------------------------------------------

    def _audit(self, run: OkrRun, action: str, by: str, outcome: Literal["success", "failure"],
               detail: dict[str, Any]) -> None:
        if self.audit is None:
            return
        try:
            self.audit("okr", action, principal=by, outcome=outcome, detail=detail, okr_id=run.okr_id,
                       okr_run_id=run.id, relay_id=run.relay_id, session_id=run.session_id)
        except Exception:  # noqa: BLE001 - the transition is committed; a closed log must not undo it
            log.exception("okr: auditing %s of run %s failed", action, run.id)

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
