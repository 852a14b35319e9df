"""A small stream's index lives in memory until its log reaches ``index_from`` bytes;
the log is written as before, and the index is rebuilt from it after a crash."""

from __future__ import annotations

import errno
import logging
import struct
from pathlib import Path

import pytest
from codetether.daemon.core.records.eventstream import EventStream, EventStreamStore, _stream

pytestmark = pytest.mark.skipif(_stream._memfd_create is None, reason="the in-memory index needs memfd (Linux)")

ENTRY = struct.Struct("<Q")


def _line_starts(log: Path) -> list[int]:
    starts, pos = [], 0
    for line in log.read_bytes().splitlines(keepends=True):
        starts.append(pos)
        pos += len(line)
    return starts


def _texts(stream: EventStream) -> list[str]:
    return [r.data["text"] for r in stream.replay()]


def test_a_small_stream_creates_its_log_only_and_reads_back(tmp_path: Path):
    with EventStreamStore(tmp_path) as store:
        for i in range(5):
            assert store.append("s1", "text", {"text": f"t{i}"}) == i
        s = store.open("s1")
        assert sorted(p.name for p in (tmp_path / "s1").iterdir()) == ["events.jsonl"]
        assert s.read(3).data == {"text": "t3"} and [r.seq for r in s.tail(2)] == [3, 4]
    with EventStreamStore(tmp_path) as store:  # reopened: the index is rebuilt from the log
        s = store.open("s1")
        assert len(s) == 5 and _texts(s) == [f"t{i}" for i in range(5)]
        assert s.read(4).offset == _line_starts(tmp_path / "s1" / "events.jsonl")[4]
        assert store.list() == ["s1"]


def test_the_index_becomes_a_file_when_the_log_grows(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    with EventStreamStore(tmp_path, index_from=300) as store:
        s = store.open("s1")
        n = 0
        while s._log.end < 300:
            s.append("text", {"text": f"t{n}"})
            n += 1
        idx = tmp_path / "s1" / "events.idx"
        log = tmp_path / "s1" / "events.jsonl"
        assert idx.is_file()
        s.append("text", {"text": "after"})  # later entries go to the file
        starts = _line_starts(log)
        assert [o for (o,) in ENTRY.iter_unpack(idx.read_bytes())] == starts and len(starts) == n + 1
        assert s.read(n).data == {"text": "after"}
    with caplog.at_level(logging.WARNING, logger="codetether.eventstream"):
        with EventStreamStore(tmp_path, index_from=300) as store:
            assert _texts(store.open("s1"))[-1] == "after"
    assert caplog.records == []  # a clean open of a file index: nothing to repair


def test_a_crash_loses_no_event_of_a_memory_indexed_stream(tmp_path: Path):
    first = EventStream(tmp_path, "s1", index_from=1 << 20)
    for i in range(4):
        first.append("text", {"text": f"t{i}"})
    # kill -9: the memory index is gone with the process; a torn line was being written.
    with (tmp_path / "s1" / "events.jsonl").open("ab") as fh:
        fh.write(b'{"seq":4,"ts":1')
    try:
        with EventStream(tmp_path, "s1", index_from=1 << 20) as again:
            assert len(again) == 4 and _texts(again) == ["t0", "t1", "t2", "t3"]
            assert again.append("text", {"text": "t4"}) == 4
            assert again.read(4).data == {"text": "t4"}
        assert (tmp_path / "s1" / "events.torn").read_bytes().endswith(b'{"seq":4,"ts":1\n')
        assert not (tmp_path / "s1" / "events.idx").exists()
    finally:
        first.close()


def test_a_large_log_without_an_index_gets_its_file_back(tmp_path: Path):
    with EventStream(tmp_path, "s1") as s:
        for i in range(20):
            s.append("text", {"text": f"t{i}"})
    (tmp_path / "s1" / "events.idx").unlink()
    with EventStream(tmp_path, "s1", index_from=100) as s:
        assert len(s) == 20 and s.read(19).data == {"text": "t19"}
    idx = (tmp_path / "s1" / "events.idx").read_bytes()
    assert [o for (o,) in ENTRY.iter_unpack(idx)] == _line_starts(tmp_path / "s1" / "events.jsonl")


def test_an_existing_index_file_stays_the_index(tmp_path: Path):
    with EventStream(tmp_path, "s1") as s:  # index_from=0: always a file
        s.append("text", {"text": "a"})
    with EventStream(tmp_path, "s1", index_from=1 << 20) as s:
        s.append("text", {"text": "b"})
    idx = (tmp_path / "s1" / "events.idx").read_bytes()
    assert [o for (o,) in ENTRY.iter_unpack(idx)] == _line_starts(tmp_path / "s1" / "events.jsonl")


def test_a_kernel_without_memfd_keeps_the_index_in_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # os.memfd_create exists wherever Python was built on Linux, but the call can still
    # fail: ENOSYS under some sandboxes (seccomp, gVisor) or old kernels. The stream must
    # open (its index a file, as before), not fail every session with Unavailable.
    def refused(name: str, flags: int = 0) -> int:
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(_stream, "_memfd_create", refused)
    with EventStreamStore(tmp_path) as store:
        for i in range(3):
            assert store.append("s1", "text", {"text": f"t{i}"}) == i
        assert (tmp_path / "s1" / "events.idx").is_file()
        assert _texts(store.open("s1")) == ["t0", "t1", "t2"]
    with EventStreamStore(tmp_path) as store:
        assert _texts(store.open("s1")) == ["t0", "t1", "t2"]
