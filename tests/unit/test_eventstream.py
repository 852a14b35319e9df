"""EventStream and EventStreamStore: append, read, replay, tail, offsets, O(1) lookups."""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

import pytest
from codetether.daemon.core.records import eventstream
from codetether.daemon.core.records.eventstream import (
    EventNotFound,
    EventRecord,
    EventStream,
    EventStreamStore,
    StreamClosed,
    _repair,
    _stream,
)
from codetether.daemon.errors import InvalidParams, NotFound
from codetether.daemon.wire.events import TextChunk, ToolCallStart


@pytest.fixture
def stream(tmp_path: Path):
    with EventStream(tmp_path, "s1") as s:
        yield s


def test_all_is_sorted_and_exported():
    assert eventstream.__all__ == sorted(eventstream.__all__)
    for name in eventstream.__all__:
        assert hasattr(eventstream, name)


def test_append_returns_seq_from_zero_and_read_round_trips(stream: EventStream):
    assert stream.append("user", {"text": "hello"}, ts=1.5, okr_id="o1", okr_run_id="r1", relay_id="x") == 0
    assert stream.append("text", {"text": "line\nbreak \u00e9"}) == 1
    assert len(stream) == 2
    first = stream.read(0)
    assert (first.seq, first.ts, first.session_id, first.kind, first.data) == (
        0,
        1.5,
        "s1",
        "user",
        {"text": "hello"},
    )
    assert (first.okr_id, first.okr_run_id, first.relay_id) == ("o1", "r1", "x")
    second = stream.read(1)
    assert second.data == {"text": "line\nbreak \u00e9"}
    assert second.okr_id is None and second.ts > 0


def test_unknown_seq_raises_not_found_and_key_error(stream: EventStream):
    stream.append("text", {"text": "a"})
    for bad in (-1, 1, 99):
        with pytest.raises(EventNotFound) as info:
            stream.read(bad)
        assert isinstance(info.value, KeyError) and isinstance(info.value, NotFound)
        assert str(info.value) == f"session s1 has no event {bad}"


def test_offsets_are_exact_byte_ranges_of_the_log(stream: EventStream):
    for i in range(50):
        stream.append("text", {"text": "x" * random.randint(0, 300), "i": i})
    raw = (stream.path / "events.jsonl").read_bytes()
    index = (stream.path / "events.idx").read_bytes()
    assert len(index) == 50 * 8
    lines = raw.splitlines(keepends=True)
    pos = 0
    for i, line in enumerate(lines):
        record = stream.read(i)
        assert record.offset == pos == struct.unpack_from("<Q", index, i * 8)[0]
        assert record.length == len(line)
        assert raw[record.offset : record.offset + record.length] == line
        assert json.loads(line)["seq"] == i
        pos += len(line)


def test_replay_and_tail(stream: EventStream):
    for i in range(10):
        stream.append("text", {"i": i})
    assert [r.data["i"] for r in stream.replay()] == list(range(10))
    assert [r.seq for r in stream.replay(7)] == [7, 8, 9]
    assert list(stream.replay(10)) == []
    assert [r.seq for r in stream.tail(3)] == [7, 8, 9]
    assert [r.seq for r in stream.tail(100)] == list(range(10))
    assert stream.tail(0) == []
    assert [r.offset for r in stream.replay(4)] == [stream.read(s).offset for s in range(4, 10)]


def test_replay_crosses_batches_and_large_lines(stream: EventStream, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(_stream, "_REPLAY_ENTRIES", 7)
    monkeypatch.setattr(_stream, "_REPLAY_BYTES", 1000)
    for i in range(40):
        stream.append("tool_call_end", {"i": i, "output": "y" * (5000 if i % 9 == 0 else 10)})
    assert [r.data["i"] for r in stream.replay(3)] == list(range(3, 40))


def test_replay_sees_events_appended_while_iterating(stream: EventStream, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(_stream, "_REPLAY_ENTRIES", 2)
    stream.append("text", {"i": 0})
    seen = []
    for record in stream.replay():
        seen.append(record.seq)
        if record.seq < 4:
            stream.append("text", {"i": record.seq + 1})
    assert seen == [0, 1, 2, 3, 4]


def test_append_event_uses_the_wire_tag_as_kind(stream: EventStream):
    stream.append_event(TextChunk(text="hi"))
    stream.append_event(ToolCallStart(call_id="c1", name="bash", arguments="{}"), relay_id="r")
    assert stream.read(0).kind == "text" and stream.read(0).data == {"text": "hi"}
    assert stream.read(1).data == {"call_id": "c1", "name": "bash", "arguments": "{}"}
    assert stream.read(1).relay_id == "r"


def test_unencodable_data_raises_before_anything_is_written(stream: EventStream):
    with pytest.raises(TypeError):
        stream.append("text", {"bad": object()})
    assert len(stream) == 0
    assert stream.append("text", {}) == 0


def test_reopen_keeps_events_and_continues_seqs(tmp_path: Path):
    with EventStream(tmp_path, "s1") as s:
        for i in range(5):
            s.append("text", {"i": i})
    with EventStream(tmp_path, "s1") as s:
        assert len(s) == 5
        assert s.append("text", {"i": 5}) == 5
        assert [r.data["i"] for r in s.replay()] == list(range(6))


def test_use_after_close_is_a_clear_error(tmp_path: Path):
    s = EventStream(tmp_path, "s1")
    s.close()
    s.close()
    with pytest.raises(StreamClosed, match="s1 is closed"):
        s.append("text", {})
    with pytest.raises(StreamClosed):
        s.read(0)


@pytest.mark.parametrize("bad", ["", "../x", "a/b", ".hidden", "x" * 200, "sp ace"])
def test_session_ids_must_be_safe_directory_names(tmp_path: Path, bad: str):
    with pytest.raises(InvalidParams):
        EventStream(tmp_path, bad)


def test_100k_events_each_random_read_is_two_positioned_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    n = 100_000
    with EventStream(tmp_path, "big") as s:
        for i in range(n):
            s.append("text", {"i": i, "text": "t" * (i % 37)})
    log_size = (tmp_path / "big" / "events.jsonl").stat().st_size

    # Reopening validates only the tail: a handful of small reads, no scan of the log.
    opened: list[int] = []
    real_pread = _repair.os.pread

    def counting_open_pread(fd: int, size: int, offset: int) -> bytes:
        opened.append(size)
        return real_pread(fd, size, offset)

    monkeypatch.setattr(_repair.os, "pread", counting_open_pread)
    s = EventStream(tmp_path, "big")
    monkeypatch.undo()
    assert len(s) == n
    assert sum(opened) < 1024 < log_size

    calls: list[tuple[int, int]] = []

    def counting_pread(fd: int, size: int, offset: int) -> bytes:
        calls.append((size, offset))
        return real_pread(fd, size, offset)

    def no_scan(*args: object, **kwargs: object) -> object:
        raise AssertionError("a read scanned the log")

    monkeypatch.setattr(_stream, "_pread", counting_pread)
    monkeypatch.setattr(_repair, "_scan_lines", no_scan)
    with s:
        for seq in random.Random(7).sample(range(n), 2000) + [0, n - 1]:
            calls.clear()
            record = s.read(seq)
            assert record.seq == seq and record.data["i"] == seq
            index_read, log_read = calls
            assert index_read == (16 if seq < n - 1 else 8, seq * 8)
            assert log_read == (record.length, record.offset)


def test_store_open_caches_lists_and_deletes(tmp_path: Path):
    with EventStreamStore(tmp_path, max_open=2) as store:
        a = store.open("a")
        assert store.open("a") is a
        store.append("b", "user", {"text": "hi"})
        store.append("c", "user", {"text": "yo"})
        assert a.closed  # least recently used, evicted past max_open
        assert store.open("a") is not a
        assert store.list() == ["a", "b", "c"]
        assert store.open("b").read(0).data == {"text": "hi"}
        assert store.delete("b") is True
        assert store.delete("b") is False
        assert store.list() == ["a", "c"]
        assert store.health() == (True, None)
    assert store.closed
    with pytest.raises(StreamClosed):
        store.open("a")


def test_store_release_closes_one_stream(tmp_path: Path):
    with EventStreamStore(tmp_path) as store:
        s = store.open("a")
        s.append("text", {})
        store.release("a")
        assert s.closed
        assert len(store.open("a")) == 1


def test_store_reopens_a_stream_closed_by_its_user(tmp_path: Path):
    with EventStreamStore(tmp_path) as store:
        with store.open("a") as s:
            s.append("text", {})
        assert store.open("a") is not s
        assert store.append("a", "text", {}) == 1


def test_record_is_a_frozen_struct():
    record = EventRecord(seq=0, ts=0.0, session_id="s", kind="k", data={})
    with pytest.raises(AttributeError):
        record.seq = 1  # type: ignore[misc]


def test_a_new_stream_is_not_validated_but_a_reopened_one_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # A directory the stream just made holds nothing to check (a new session per A2A
    # task opens one on the request path); an existing one is validated and repaired.
    calls: list[str] = []
    real = _stream.validate

    def counting(*args: object, **kwargs: object) -> int:
        calls.append(str(kwargs.get("expect_session")))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_stream, "validate", counting)
    with EventStream(tmp_path, "fresh") as s:
        assert s.append("note", {"n": 1}) == 0
    assert calls == []
    with (tmp_path / "fresh" / _stream.LOG_NAME).open("ab") as log:
        log.write(b'{"torn')  # a crash's torn tail
    with EventStream(tmp_path, "fresh") as s:
        assert calls == ["fresh"] and len(s) == 1 and s.append("note", {"n": 2}) == 1
