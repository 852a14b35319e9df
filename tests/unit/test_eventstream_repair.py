"""Crash tolerance: open-time repair of the log/index tail, and corrupt lines."""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import pytest
from codetether.daemon.core.records.eventstream import CorruptEvent, EventStream, reconstruct


def _make(tmp_path: Path, n: int) -> Path:
    with EventStream(tmp_path, "s") as s:
        for i in range(n):
            s.append("text", {"i": i, "text": f"chunk {i}"})
    return tmp_path / "s"


def _entries(folder: Path) -> list[int]:
    raw = (folder / "events.idx").read_bytes()
    return [o for (o,) in struct.iter_unpack("<Q", raw)]


def _line_starts(folder: Path) -> list[int]:
    raw = (folder / "events.jsonl").read_bytes()
    starts, pos = [], 0
    for line in raw.splitlines(keepends=True):
        starts.append(pos)
        pos += len(line)
    return starts


def _assert_consistent(folder: Path, n: int) -> None:
    """Open (which repairs), then check the index matches the log and appends continue."""
    with EventStream(folder.parent, "s") as s:
        assert len(s) == n
        assert [r.data["i"] for r in s.replay()] == list(range(n))
    assert _entries(folder) == _line_starts(folder)
    with EventStream(folder.parent, "s") as s:
        assert s.append("text", {"i": n}) == n
        assert s.read(n).data == {"i": n}


def test_torn_tail_is_moved_to_events_torn_not_dropped(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    folder = _make(tmp_path, 5)
    log_path = folder / "events.jsonl"
    intact = log_path.read_bytes()
    torn = b'{"seq":5,"ts":1.0,"session_id":"s","kind":"te'
    log_path.write_bytes(intact + torn)
    with caplog.at_level(logging.WARNING, "codetether.eventstream"):
        _assert_consistent(folder, 5)
    assert log_path.read_bytes().startswith(intact)
    kept = (folder / "events.torn").read_bytes()
    assert kept.startswith(b"# torn tail of events.jsonl at byte %d, %d bytes\n" % (len(intact), len(torn)))
    assert torn in kept
    assert "torn line" in caplog.text and "events.torn" in caplog.text


def test_torn_tail_whose_index_entry_was_written_is_unindexed(tmp_path: Path):
    folder = _make(tmp_path, 3)
    log_path = folder / "events.jsonl"
    size = log_path.stat().st_size
    with log_path.open("ab") as fh:
        fh.write(b'{"seq":3,"broken')
    with (folder / "events.idx").open("ab") as fh:
        fh.write(struct.pack("<Q", size))
    _assert_consistent(folder, 3)
    assert b'{"seq":3,"broken' in (folder / "events.torn").read_bytes()


def test_complete_record_missing_only_its_newline_is_kept(tmp_path: Path):
    folder = _make(tmp_path, 3)
    with EventStream(tmp_path, "other") as other:
        other.append("text", {})
    line = b'{"seq":3,"ts":1.0,"session_id":"s","kind":"text","data":{"i":3}}'
    with (folder / "events.jsonl").open("ab") as fh:
        fh.write(line)
    _assert_consistent(folder, 4)
    assert not (folder / "events.torn").exists()


def test_complete_lines_missing_from_the_index_are_indexed(tmp_path: Path):
    folder = _make(tmp_path, 6)
    idx = folder / "events.idx"
    idx.write_bytes(idx.read_bytes()[: 3 * 8])  # crash after the log writes, before the index writes
    _assert_consistent(folder, 6)


def test_partial_index_entry_is_cut_and_rewritten(tmp_path: Path):
    folder = _make(tmp_path, 4)
    idx = folder / "events.idx"
    idx.write_bytes(idx.read_bytes()[:-3])
    _assert_consistent(folder, 4)


def test_index_entries_beyond_the_log_trigger_a_rebuild(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    folder = _make(tmp_path, 4)
    with (folder / "events.idx").open("ab") as fh:
        fh.write(struct.pack("<QQ", 10_000, 20_000))
    with caplog.at_level(logging.WARNING, "codetether.eventstream"):
        _assert_consistent(folder, 4)
    assert "rebuilding" in caplog.text


def test_index_pointing_into_the_middle_of_a_line_triggers_a_rebuild(tmp_path: Path):
    folder = _make(tmp_path, 4)
    idx = folder / "events.idx"
    entries = _entries(folder)
    entries[-1] += 3
    idx.write_bytes(b"".join(struct.pack("<Q", o) for o in entries))
    _assert_consistent(folder, 4)


def test_missing_index_is_rebuilt_from_the_log(tmp_path: Path):
    folder = _make(tmp_path, 7)
    (folder / "events.idx").unlink()
    _assert_consistent(folder, 7)


def test_rebuild_index_on_demand(tmp_path: Path):
    folder = _make(tmp_path, 5)
    with EventStream(tmp_path, "s") as s:
        assert s.rebuild_index() == 5
        assert s.read(4).data["i"] == 4
    assert _entries(folder) == _line_starts(folder)


def test_corrupt_middle_line_fails_only_its_own_read(tmp_path: Path):
    folder = _make(tmp_path, 5)
    log_path = folder / "events.jsonl"
    lines = log_path.read_bytes().splitlines(keepends=True)
    lines[2] = b"\x00garbage not json" + b"x" * (len(lines[2]) - 18) + b"\n"
    log_path.write_bytes(b"".join(lines))
    with EventStream(tmp_path, "s") as s:
        assert len(s) == 5
        assert [s.read(i).data["i"] for i in (0, 1, 3, 4)] == [0, 1, 3, 4]
        with pytest.raises(CorruptEvent, match=r"event 2 of session s \(bytes \d+\.\.\d+ of events.jsonl\)"):
            s.read(2)
        with pytest.raises(CorruptEvent):
            list(s.replay())
        assert [r.seq for r in s.replay(skip_corrupt=True)] == [0, 1, 3, 4]
        assert reconstruct(s).corrupt == [2]


def test_lost_newline_in_the_middle_breaks_only_the_two_joined_events(tmp_path: Path):
    folder = _make(tmp_path, 5)
    log_path = folder / "events.jsonl"
    raw = bytearray(log_path.read_bytes())
    raw[_line_starts(folder)[3] - 1] = ord("#")  # line 2's newline
    log_path.write_bytes(bytes(raw))
    with EventStream(tmp_path, "s") as s:
        assert s.read(3).data["i"] == 3  # the index still knows where line 3 starts
        with pytest.raises(CorruptEvent):
            s.read(2)
        assert [r.seq for r in s.replay(skip_corrupt=True)] == [0, 1, 3, 4]


def test_record_with_a_wrong_seq_is_reported_as_an_index_mismatch(tmp_path: Path):
    folder = _make(tmp_path, 3)
    log_path = folder / "events.jsonl"
    log_path.write_bytes(log_path.read_bytes().replace(b'{"seq":1,', b'{"seq":7,'))
    with EventStream(tmp_path, "s") as s:
        with pytest.raises(CorruptEvent, match="stored as seq"):
            s.read(1)
