"""Contracts of the record stores, each run against every backend of its interface.

* :class:`~codetether.daemon.core.records.audit.AuditTrail`: backends ``jsonl`` (:class:`AuditLog`)
* :class:`~codetether.daemon.core.records.telemetry.TelemetryBackend`: ``jsonl`` (:class:`TelemetryStore`)
* :class:`~codetether.daemon.core.records.eventstream.EventLog` / ``EventLogStore``:
  ``jsonl`` (:class:`EventStream`, :class:`EventStreamStore`)

A backend is a :class:`Backend`: how to build the store over a directory, how to
simulate a crash mid-write (``tear``), and how to make its storage refuse writes
(``full``). The JSONL backends fill a real "disk" with ``RLIMIT_FSIZE``, part way
through a line. A NATS or other backend plugs in by adding a ``Backend`` to a list.
"""

from __future__ import annotations

import contextlib
import resource
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import pytest
from codetether.daemon.core.records.audit import AuditLog, AuditTrail
from codetether.daemon.core.records.eventstream import (
    EventLog,
    EventLogStore,
    EventNotFound,
    EventStream,
    EventStreamStore,
    StreamClosed,
)
from codetether.daemon.core.records.telemetry import (
    TelemetryBackend,
    TelemetrySettings,
    TelemetryStore,
    TokenRecord,
    ToolExecution,
    ToolRecord,
)
from codetether.daemon.errors import Unavailable

S = TypeVar("S")


@contextlib.contextmanager
def disk_full(at: int) -> Iterator[None]:
    """Inside the block, a write that would take any file of this process past byte ``at``
    writes what fits and then fails with ``EFBIG``, like a disk filling up mid-line
    (``RLIMIT_FSIZE``; ``SIGXFSZ`` ignored so the write fails instead of killing us)."""
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (at, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


@dataclass(frozen=True)
class Backend(Generic[S]):
    """One backend of a store interface, as the contract drives it."""

    name: str
    make: Callable[[Path], S]
    tear: Callable[[Path, int], None]  # a crash that leaves ``n`` bytes of a half-written record
    full: Callable[[Path], contextlib.AbstractContextManager[None]]  # writes fail inside


def _file_full(file: Callable[[Path], Path]) -> Callable[[Path], contextlib.AbstractContextManager[None]]:
    return lambda root: disk_full(file(root).stat().st_size + 10)


def _file_tear(file: Callable[[Path], Path]) -> Callable[[Path, int], None]:
    """A crash while writing the next record: the first ``n`` bytes of a copy of the last
    line (never all of it) end the file."""
    def tear(root: Path, n: int) -> None:
        path = file(root)
        last = path.read_bytes().splitlines()[-1]
        with open(path, "ab") as fh:
            fh.write(last[: min(n, len(last) - 1)])
    return tear


# -- the audit trail --------------------------------------------------------------------------

AUDIT_BACKENDS: list[Backend[AuditTrail]] = [
    Backend("jsonl", lambda root: AuditLog(root / "audit.jsonl"),
            _file_tear(lambda root: root / "audit.jsonl"), _file_full(lambda root: root / "audit.jsonl")),
]


@pytest.fixture(params=AUDIT_BACKENDS, ids=lambda b: b.name)
def audit(request: pytest.FixtureRequest) -> Backend[AuditTrail]:
    backend: Backend[AuditTrail] = request.param
    return backend


def _audit_fill(trail: AuditTrail, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        trail.record("tool" if i % 2 else "api", f"a{i}", principal=f"uid:{i % 3}", outcome="success",
                     resource=f"/ws/f{i}.py", session_id=f"s{i % 2}", detail={"i": i})


def test_audit_entries_come_back_newest_first_and_filtered(audit: Backend[AuditTrail], tmp_path: Path) -> None:
    trail = audit.make(tmp_path)
    _audit_fill(trail, 6)
    assert [e.action for e in trail.recent(3)] == ["a5", "a4", "a3"]
    assert [e.seq for e in trail.recent()] == [6, 5, 4, 3, 2, 1]
    assert [e.action for e in trail.query(category="tool")] == ["a5", "a3", "a1"]
    assert [e.action for e in trail.query(resource="/ws/f[02].py")] == ["a2", "a0"]
    assert trail.verify().ok and trail.verify().entries == 6
    trail.close()
    trail.close()
    with pytest.raises(Unavailable):
        trail.record("api", "x", principal="p", outcome="success")


def test_audit_chain_continues_after_a_crash_mid_write(audit: Backend[AuditTrail], tmp_path: Path) -> None:
    for n in (1, 17, 120):
        root = tmp_path / str(n)
        root.mkdir()
        trail = audit.make(root)
        _audit_fill(trail, 3)
        trail.close()
        audit.tear(root, n)
        again = audit.make(root)
        entry = again.record("api", "after", principal="p", outcome="success")
        assert entry.seq >= 4  # chained after what was there (and a recovery entry, if any)
        assert [e.action for e in again.query(category="api")][:1] == ["after"]
        assert {"a0", "a1", "a2"} <= {e.action for e in again.recent()}
        result = again.verify()
        assert result.ok and result.reason == "ok", result
        again.close()


def test_audit_degrades_holds_in_order_and_recovers(audit: Backend[AuditTrail], tmp_path: Path) -> None:
    trail = audit.make(tmp_path)
    _audit_fill(trail, 2)
    with audit.full(tmp_path):
        held = [trail.record("api", f"held{i}", principal="p", outcome="success") for i in range(3)]
        assert [e.seq for e in held] == [0, 0, 0]
        ok, why = trail.health()
        assert not ok and why
        assert [e.action for e in trail.recent(4)] == ["held2", "held1", "held0", "a1"]
    after = trail.record("api", "after", principal="p", outcome="success")
    assert after.seq > 2 and trail.health() == (True, None)
    assert [e.action for e in trail.query(category="api")][:4] == ["after", "held2", "held1", "held0"]
    assert trail.verify().ok
    trail.close()


# -- telemetry ----------------------------------------------------------------------------------

def _telemetry_store(root: Path) -> TelemetryBackend:
    return TelemetryStore(root, TelemetrySettings(), retry_seconds=0.0, summary_every=10_000)


def _segment(root: Path) -> Path:
    return sorted(root.glob("telemetry-*.jsonl"))[-1]


TELEMETRY_BACKENDS: list[Backend[TelemetryBackend]] = [
    Backend("jsonl", _telemetry_store, _file_tear(_segment), _file_full(_segment)),
]


@pytest.fixture(params=TELEMETRY_BACKENDS, ids=lambda b: b.name)
def telemetry(request: pytest.FixtureRequest) -> Backend[TelemetryBackend]:
    backend: Backend[TelemetryBackend] = request.param
    return backend


def _tel_fill(store: TelemetryBackend, n: int) -> None:
    for i in range(n):
        store.append_execution(ToolExecution.start("bash", {"i": i}).complete_success("out", 3))
        store.append_tokens("anthropic/claude-sonnet-4", "chat", 100, 10)


def _seqs(store: TelemetryBackend) -> list[int]:
    return [r.seq for r in store.records()]


def test_telemetry_records_come_back_in_order_and_survive_restart(
        telemetry: Backend[TelemetryBackend], tmp_path: Path) -> None:
    store = telemetry.make(tmp_path)
    _tel_fill(store, 5)
    records = list(store.records())
    assert [type(r) for r in records] == [ToolRecord, TokenRecord] * 5
    assert _seqs(store) == list(range(1, 11))
    stats = store.stats()
    assert stats["total_executions"] == 5 and stats["total_requests"] == 5
    store.close()
    store.close()
    again = telemetry.make(tmp_path)
    assert _seqs(again) == list(range(1, 11)) and again.stats()["total_executions"] == 5
    again.append_tokens("m", None, 1, 1)
    assert _seqs(again)[-1] == 11
    again.close()


def test_telemetry_keeps_every_whole_record_after_a_crash_mid_write(
        telemetry: Backend[TelemetryBackend], tmp_path: Path) -> None:
    for n in (1, 17, 120):
        root = tmp_path / str(n)
        store = telemetry.make(root)
        _tel_fill(store, 3)
        store.close()
        telemetry.tear(root, n)
        again = telemetry.make(root)
        again.append_tokens("m", None, 1, 1)
        assert _seqs(again) == list(range(1, 8))
        again.close()
        assert _seqs(telemetry.make(root)) == list(range(1, 8))


def test_telemetry_degrades_keeps_totals_and_loses_nothing(
        telemetry: Backend[TelemetryBackend], tmp_path: Path) -> None:
    store = telemetry.make(tmp_path)
    _tel_fill(store, 2)
    with telemetry.full(tmp_path):
        _tel_fill(store, 3)
        ok, why = store.health()
        assert not ok and why
        assert store.stats()["total_executions"] == 5
        assert _seqs(store) == list(range(1, 11))  # buffered ones included
    assert store.retry() and store.health() == (True, None)
    store.close()
    again = telemetry.make(tmp_path)
    assert _seqs(again) == list(range(1, 11)) and again.stats()["total_executions"] == 5
    again.close()


# -- event streams --------------------------------------------------------------------------------

EVENT_BACKENDS: list[Backend[EventLogStore]] = [
    Backend("jsonl", lambda root: EventStreamStore(root),
            _file_tear(lambda root: root / "s1" / "events.jsonl"),
            _file_full(lambda root: root / "s1" / "events.jsonl")),
]


@pytest.fixture(params=EVENT_BACKENDS, ids=lambda b: b.name)
def events(request: pytest.FixtureRequest) -> Backend[EventLogStore]:
    backend: Backend[EventLogStore] = request.param
    return backend


def _data(log: EventLog) -> list[Any]:
    return [r.data["i"] for r in log.replay()]


def test_event_logs_number_from_zero_and_read_back_by_seq(events: Backend[EventLogStore], tmp_path: Path) -> None:
    store = events.make(tmp_path)
    log = store.open("s1")
    assert [log.append("text", {"i": i}, okr_id="o1") for i in range(5)] == [0, 1, 2, 3, 4]
    assert len(log) == 5 and log.read(3).data == {"i": 3} and log.read(3).okr_id == "o1"
    assert _data(log) == [0, 1, 2, 3, 4] and [r.seq for r in log.tail(2)] == [3, 4]
    with pytest.raises(EventNotFound):
        log.read(5)
    assert store.append("s2", "text", {"i": 0}) == 0
    assert store.list() == ["s1", "s2"]
    store.release("s1")
    assert _data(store.open("s1")) == [0, 1, 2, 3, 4]
    assert store.delete("s2") and store.list() == ["s1"]
    store.close()
    with pytest.raises(StreamClosed):
        store.open("s1")


def test_event_logs_stay_gapless_after_a_crash_mid_write(events: Backend[EventLogStore], tmp_path: Path) -> None:
    for n in (1, 17, 120):
        root = tmp_path / str(n)
        store = events.make(root)
        for i in range(3):
            store.append("s1", "text", {"i": i})
        store.close()
        events.tear(root, n)
        store = events.make(root)
        log = store.open("s1")
        assert len(log) == 3 and log.append("text", {"i": 3}) == 3
        assert _data(log) == [0, 1, 2, 3]
        store.close()


def test_event_logs_degrade_hold_in_order_and_recover(events: Backend[EventLogStore], tmp_path: Path) -> None:
    store = events.make(tmp_path)
    log = store.open("s1")
    for i in range(2):
        log.append("text", {"i": i})
    with events.full(tmp_path):
        assert [log.append("text", {"i": i}) for i in range(2, 5)] == [2, 3, 4]
        assert log.degraded and not log.health()[0] and not store.health()[0]
        assert len(log) == 5 and _data(log) == [0, 1, 2, 3, 4]
    assert log.append("text", {"i": 5}) == 5
    assert not log.degraded and store.health() == (True, None)
    store.close()
    assert log.closed
    with EventStream(tmp_path, "s1") as fresh:
        assert _data(fresh) == [0, 1, 2, 3, 4, 5]
