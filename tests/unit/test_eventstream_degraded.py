"""Write failures (disk full, read-only): degrade, keep events in memory, recover."""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

import pytest
from codetether.daemon.core.records.eventstream import EventStream, EventStreamStore


class Disk:
    """Replaces os.pwrite/os.ftruncate; ``full`` makes writes fail with ENOSPC.

    ``partial`` lets the next failing write land half its bytes first, like a write
    that ran out of space part way.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.full = False
        self.partial = False
        self.only_fd: int | None = None
        self.truncate_fails = False
        self._pwrite = os.pwrite
        self._ftruncate = os.ftruncate
        monkeypatch.setattr(os, "pwrite", self.pwrite)
        monkeypatch.setattr(os, "ftruncate", self.ftruncate)

    def pwrite(self, fd: int, data: bytes | memoryview, offset: int) -> int:
        if self.full and (self.only_fd is None or fd == self.only_fd):
            if self.partial:
                self.partial = False
                self._pwrite(fd, bytes(data[: len(data) // 2]), offset)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self._pwrite(fd, data, offset)

    def ftruncate(self, fd: int, length: int) -> None:
        if self.full and self.truncate_fails:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        self._ftruncate(fd, length)


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Disk:
    return Disk(monkeypatch)


def _lines(stream: EventStream) -> list[bytes]:
    return (stream.path / "events.jsonl").read_bytes().splitlines(keepends=True)


def _assert_on_disk(stream: EventStream, n: int) -> None:
    lines = _lines(stream)
    assert len(lines) == n
    with EventStream(stream.path.parent, stream.session_id) as fresh:
        assert len(fresh) == n
        assert [r.data["i"] for r in fresh.replay()] == list(range(n))
        pos = 0
        for i, line in enumerate(lines):
            assert (fresh.read(i).offset, fresh.read(i).length) == (pos, len(line))
            pos += len(line)


def test_disk_full_degrades_once_keeps_events_and_recovers(
    tmp_path: Path, disk: Disk, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.WARNING, "codetether.eventstream")
    with EventStream(tmp_path, "s1") as s:
        assert [s.append("text", {"i": i}) for i in range(2)] == [0, 1]
        disk.full = True
        assert [s.append("text", {"i": i}) for i in range(2, 5)] == [2, 3, 4]
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1
        assert "s1 degraded" in errors[0].getMessage() and "No space left on device" in errors[0].getMessage()
        ok, why = s.health()
        assert not ok and why == "s1: No space left on device; 3 events pending in memory, 0 dropped"
        assert len(s) == 5
        assert s.read(3).data == {"i": 3} and s.read(3).offset == -1
        assert [r.data["i"] for r in s.replay(1)] == [1, 2, 3, 4]
        assert [r.seq for r in s.tail(2)] == [3, 4]
        assert len(_lines(s)) == 2

        disk.full = False
        assert s.append("text", {"i": 5}) == 5
        assert s.health() == (True, None)
        assert "s1 recovered" in caplog.text
        assert s.read(3).offset > 0
    _assert_on_disk(s, 6)


def test_write_that_fails_part_way_leaves_no_garbage(tmp_path: Path, disk: Disk):
    with EventStream(tmp_path, "s1") as s:
        s.append("text", {"i": 0})
        disk.full, disk.partial = True, True
        s.append("text", {"i": 1, "pad": "z" * 500})
        disk.full = False
        s.append("text", {"i": 2})
    _assert_on_disk(s, 3)


def test_failed_truncate_after_partial_write_is_cut_before_the_retry(tmp_path: Path, disk: Disk):
    with EventStream(tmp_path, "s1") as s:
        s.append("text", {"i": 0})
        disk.full, disk.partial, disk.truncate_fails = True, True, True
        s.append("text", {"i": 1, "pad": "z" * 500})
        assert len(_lines(s)[-1]) > 200  # half a line is left behind for now
        disk.full = False
        s.append("text", {"i": 2})
    _assert_on_disk(s, 3)


def test_index_write_failure_rolls_the_log_line_back(tmp_path: Path, disk: Disk):
    with EventStream(tmp_path, "s1") as s:
        s.append("text", {"i": 0})
        disk.only_fd, disk.full = s._idx_fd, True
        assert s.append("text", {"i": 1}) == 1
        assert len(_lines(s)) == 1  # the log line went in, and was taken back out
        assert s.degraded
        disk.full = False
        s.append("text", {"i": 2})
    _assert_on_disk(s, 3)


def test_backlog_is_bounded_and_drops_are_counted(tmp_path: Path, disk: Disk):
    with EventStream(tmp_path, "s1", max_backlog=3) as s:
        disk.full = True
        assert [s.append("text", {"i": i}) for i in range(5)] == [0, 1, 2, -1, -1]
        assert s.dropped == 2
        assert s.health() == (False, "s1: No space left on device; 3 events pending in memory, 2 dropped")
        disk.full = False
        assert s.append("text", {"i": 3}) == 3
    _assert_on_disk(s, 4)


def test_close_writes_the_backlog_if_it_can(tmp_path: Path, disk: Disk):
    s = EventStream(tmp_path, "s1")
    disk.full = True
    s.append("text", {"i": 0})
    disk.full = False
    s.close()
    _assert_on_disk(s, 1)


def test_close_while_still_failing_logs_what_is_lost(
    tmp_path: Path, disk: Disk, caplog: pytest.LogCaptureFixture
):
    s = EventStream(tmp_path, "s1")
    disk.full = True
    s.append("text", {"i": 0})
    s.append("text", {"i": 1})
    s.close()
    assert "closed while degraded: 2 events could not be written" in caplog.text


def test_store_health_names_degraded_streams_and_keeps_them_open(tmp_path: Path, disk: Disk):
    with EventStreamStore(tmp_path, max_open=1) as store:
        store.append("a", "text", {"i": 0})
        disk.full = True
        store.append("a", "text", {"i": 1})
        a = store.open("a")
        store.append("b", "text", {"i": 0})  # would evict a, but a is degraded
        assert not a.closed
        ok, why = store.health()
        assert not ok
        assert why is not None and why.startswith("event streams degraded: a: No space left on device")
        assert "b: " in why
        disk.full = False
        store.append("a", "text", {"i": 2})
        store.append("b", "text", {"i": 1})
        assert store.health() == (True, None)
        assert [r.data["i"] for r in store.open("a").replay()] == [0, 1, 2]
