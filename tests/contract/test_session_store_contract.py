"""One contract for every session store backend (STYLE 11): the file store and the memory
store of ``[session] auto_save = false`` must be interchangeable behind ``SessionBackend``.

Behaviour only one backend has (the file store's torn-line tolerance, its write-error
health, its corrupt-metadata Conflict) is tested at the end, on that backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from codetether.daemon.core.sessions import (
    CallStarted,
    MemorySessionStore,
    MessageRecord,
    SessionBackend,
    SessionMeta,
    SessionStore,
    SummaryRecord,
    Transcript,
)
from codetether.daemon.errors import Conflict, NotFound, Unavailable
from codetether.daemon.wire.messages import Message, ToolCall


@pytest.fixture(params=["file", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SessionBackend]:
    backend: SessionBackend = (SessionStore(tmp_path / "sessions") if request.param == "file"
                               else MemorySessionStore())
    yield backend
    backend.close()


def _create(store: SessionBackend, **kw: str) -> SessionMeta:
    return store.create(workspace=kw.pop("workspace", "/w"), model="p/m", approval_mode="ask", **kw)


def _messages(*texts: str) -> list[MessageRecord]:
    return [MessageRecord(i, float(i), Message(role="user", content=t)) for i, t in enumerate(texts)]


def test_both_backends_satisfy_the_interface():
    # Structural: a method missing or renamed in one backend shows up here, and in mypy.
    for backend in (SessionStore, MemorySessionStore):
        missing = [m for m in ("create", "save_meta", "get", "exists", "list", "delete", "append",
                               "load", "fork", "last_modified", "health", "close")
                   if not callable(getattr(backend, m, None))]
        assert missing == [], f"{backend.__name__} lacks {missing}"


def test_create_then_get_returns_the_metadata(store: SessionBackend):
    meta = _create(store, title="first", workspace="/ws")
    got = store.get(meta.id)
    assert got == meta
    assert (got.workspace, got.model, got.approval_mode, got.title) == ("/ws", "p/m", "ask", "first")
    assert got.parent_id is None and got.message_count == 0
    assert got.created_at == got.updated_at > 0


def test_ids_are_unique(store: SessionBackend):
    assert len({_create(store).id for _ in range(20)}) == 20


def test_save_meta_stores_a_copy(store: SessionBackend):
    meta = _create(store)
    meta.title = "changed but not saved"
    assert store.get(meta.id).title == ""
    store.save_meta(meta)
    got = store.get(meta.id)
    assert got.title == "changed but not saved"
    got.title = "changed on the copy"
    assert store.get(meta.id).title == "changed but not saved"


def test_save_meta_keeps_tool_state_and_read_files(store: SessionBackend):
    meta = _create(store)
    meta.state = {"todos": [{"content": "x", "status": "pending"}], "plan_mode": True}
    meta.read_files = {"/w/a.py": 123}
    meta.message_count = 3
    store.save_meta(meta)
    got = store.get(meta.id)
    assert got.state == meta.state and got.read_files == {"/w/a.py": 123} and got.message_count == 3


def test_exists(store: SessionBackend):
    meta = _create(store)
    assert store.exists(meta.id)
    assert not store.exists("20260101-000000-abcdef")
    for bad in ("", "../etc", "a/b", ".hidden", "x" * 200):
        assert not store.exists(bad)


def test_list_is_most_recently_updated_first(store: SessionBackend):
    assert store.list() == []
    metas = [_create(store, title=str(i)) for i in range(3)]
    for i, meta in enumerate(metas):
        meta.updated_at = 1000.0 + [2, 0, 1][i]
        store.save_meta(meta)
    assert [m.title for m in store.list()] == ["0", "2", "1"]


def test_append_then_load_folds_every_record_kind(store: SessionBackend):
    meta = _create(store)
    call = ToolCall("c1", "read_file", '{"path":"a"}')
    store.append(meta.id, [MessageRecord(0, 0.0, Message(role="user", content="hi")),
                           MessageRecord(1, 0.0, Message(role="assistant", tool_calls=[call]))])
    store.append(meta.id, [CallStarted("c1", 0.0)], durable=True)
    store.append(meta.id, [MessageRecord(2, 0.0, Message(role="tool", tool_call_id="c1", content="x")),
                           SummaryRecord(covers=2, ts=0.0, text="said hi, read a")])
    transcript = store.load(meta.id)
    assert isinstance(transcript, Transcript)
    assert [m.role for m in transcript.messages] == ["user", "assistant", "tool"]
    assert transcript.messages[1].tool_calls == [call]
    assert transcript.started == {"c1"}
    assert transcript.latest_summary == SummaryRecord(covers=2, ts=0.0, text="said hi, read a")


def test_a_new_session_has_an_empty_transcript(store: SessionBackend):
    meta = _create(store)
    transcript = store.load(meta.id)
    assert (transcript.messages, transcript.summaries, transcript.started) == ([], [], set())
    assert transcript.latest_summary is None


def test_append_of_nothing_changes_nothing(store: SessionBackend):
    meta = _create(store)
    store.append(meta.id, _messages("a"))
    store.append(meta.id, [])
    assert [m.content for m in store.load(meta.id).messages] == ["a"]


def test_sessions_do_not_share_transcripts(store: SessionBackend):
    a, b = _create(store), _create(store)
    store.append(a.id, _messages("for a"))
    store.append(b.id, _messages("for b"))
    assert [m.content for m in store.load(a.id).messages] == ["for a"]
    assert [m.content for m in store.load(b.id).messages] == ["for b"]


def test_last_modified_is_a_time(store: SessionBackend):
    meta = _create(store)
    store.append(meta.id, _messages("a"))
    assert isinstance(store.last_modified(meta.id), float)
    assert store.last_modified(meta.id) > 0


def test_fork_copies_a_prefix_and_links_the_parent(store: SessionBackend):
    meta = _create(store, title="t")
    meta.state = {"todos": ["keep"]}
    store.save_meta(meta)
    store.append(meta.id, _messages("0", "1", "2", "3"))
    store.append(meta.id, [SummaryRecord(covers=1, ts=0.0, text="early"),
                           SummaryRecord(covers=3, ts=0.0, text="late")])
    fork = store.fork(meta.id, at_message=2)
    assert fork.parent_id == meta.id and fork.id != meta.id
    assert fork.title == "t (fork)" and fork.message_count == 2
    assert fork.state == {"todos": ["keep"]}
    assert (fork.workspace, fork.model, fork.approval_mode) == (meta.workspace, meta.model, meta.approval_mode)
    assert store.get(fork.id) == fork
    forked = store.load(fork.id)
    assert [m.content for m in forked.messages] == ["0", "1"]
    # Only summaries that cover messages the fork kept come along.
    assert [s.text for s in forked.summaries] == ["early"]
    assert len(store.load(meta.id).messages) == 4


def test_fork_without_a_point_copies_everything(store: SessionBackend):
    meta = _create(store)
    store.append(meta.id, _messages("0", "1", "2"))
    fork = store.fork(meta.id)
    assert [m.content for m in store.load(fork.id).messages] == ["0", "1", "2"]
    assert fork.title == "(fork)"


def test_fork_at_zero_or_below_is_an_empty_session(store: SessionBackend):
    meta = _create(store)
    store.append(meta.id, _messages("0"))
    for at in (0, -5):
        fork = store.fork(meta.id, at_message=at)
        assert store.load(fork.id).messages == [] and fork.message_count == 0


def test_delete_removes_the_session(store: SessionBackend):
    a, b = _create(store), _create(store)
    store.append(a.id, _messages("a"))
    store.delete(a.id)
    assert not store.exists(a.id)
    assert [m.id for m in store.list()] == [b.id]
    with pytest.raises(NotFound):
        store.get(a.id)
    with pytest.raises(NotFound):
        store.delete(a.id)


@pytest.mark.parametrize("bad", ["20260101-000000-abcdef", "../etc", "", "a/b", "nul\0", "x" * 200])
def test_unknown_or_impossible_ids_are_not_found(store: SessionBackend, bad: str):
    with pytest.raises(NotFound):
        store.get(bad)
    with pytest.raises(NotFound):
        store.delete(bad)
    with pytest.raises(NotFound):
        store.fork(bad)


def test_a_fresh_store_is_healthy(store: SessionBackend):
    assert store.health() == (True, None)
    _create(store)
    assert store.health() == (True, None)


def test_close_leaves_the_store_usable(store: SessionBackend):
    meta = _create(store)
    store.append(meta.id, _messages("before"))
    store.close()
    store.close()
    store.append(meta.id, [MessageRecord(1, 0.0, Message(role="user", content="after"))])
    assert [m.content for m in store.load(meta.id).messages] == ["before", "after"]


# ---- the file backend only -------------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path) -> Iterator[SessionStore]:
    store = SessionStore(tmp_path / "sessions")
    yield store
    store.close()


def test_file_store_survives_a_restart(files: SessionStore):
    meta = _create(files, title="kept")
    files.append(meta.id, _messages("a", "b"))
    files.close()
    again = SessionStore(files.root)
    try:
        assert again.get(meta.id).title == "kept"
        assert [m.content for m in again.load(meta.id).messages] == ["a", "b"]
    finally:
        again.close()


def test_file_store_skips_a_torn_line_and_reads_on(files: SessionStore):
    meta = _create(files)
    files.append(meta.id, _messages("kept"))
    with (files.root / meta.id / "transcript.jsonl").open("ab") as fh:
        fh.write(b'{"type":"message","index":1,"ts":0,"mess\n')
    files.close()  # the torn line ends with a newline here, so what follows is whole
    files.append(meta.id, [MessageRecord(2, 0.0, Message(role="user", content="after"))])
    assert [m.content for m in files.load(meta.id).messages] == ["kept", "after"]


def test_a_record_after_a_torn_line_without_its_newline_is_not_lost(files: SessionStore):
    """What kill -9 mid-write leaves: a last line cut short, no newline. The next daemon's
    first append must start a line of its own, not join the torn one and vanish with it."""
    meta = _create(files)
    files.append(meta.id, _messages("kept"))
    files.close()
    with (files.root / meta.id / "transcript.jsonl").open("ab") as fh:
        fh.write(b'{"type":"message","index":1,"ts":0,"mess')  # torn: no newline
    again = SessionStore(files.root)
    try:
        again.append(meta.id, [MessageRecord(1, 0.0, Message(role="user", content="after the crash"))])
        assert [m.content for m in again.load(meta.id).messages] == ["kept", "after the crash"]
        again.append(meta.id, [MessageRecord(2, 0.0, Message(role="user", content="and on"))])
        assert [m.content for m in again.load(meta.id).messages] == ["kept", "after the crash", "and on"]
    finally:
        again.close()


def test_file_store_corrupt_metadata_is_a_conflict_and_is_left_out_of_the_list(files: SessionStore):
    good, bad = _create(files), _create(files)
    (files.root / bad.id / "meta.json").write_bytes(b"{not json")
    with pytest.raises(Conflict, match="corrupt"):
        files.get(bad.id)
    assert [m.id for m in files.list()] == [good.id]


def test_file_store_write_failure_is_unavailable_and_unhealthy_until_a_write_succeeds(files: SessionStore):
    meta = _create(files)
    gone = _create(files)
    (files.root / gone.id / "meta.json").unlink()
    (files.root / gone.id).rmdir()
    with pytest.raises(Unavailable, match="cannot write"):
        files.append(gone.id, _messages("lost"))
    ok, error = files.health()
    assert not ok and error and f"session {gone.id} transcript" in error
    files.append(meta.id, _messages("fine"))
    assert files.health() == (True, None)


def test_file_store_last_modified_of_an_empty_transcript_is_zero(files: SessionStore):
    assert files.last_modified(_create(files).id) == 0.0
