import pytest
from codetether.daemon.core.sessions import MemorySessionStore, MessageRecord, SessionStore
from codetether.daemon.errors import NotFound
from codetether.daemon.wire.messages import Message, ToolCall


# One contract, every backend (the file store, and the memory store of auto_save = false).
@pytest.fixture(params=["file", "memory"])
def backend(request):
    return request.param


_OPEN: list = []


@pytest.fixture(autouse=True)
def _close_stores():
    yield
    while _OPEN:
        _OPEN.pop().close()


def _store(tmp_path, backend="file"):
    store = SessionStore(tmp_path / "sessions") if backend == "file" else MemorySessionStore()
    _OPEN.append(store)
    return store


def test_transcript_round_trip(tmp_path, backend):
    store = _store(tmp_path, backend)
    meta = store.create(workspace="/w", model="p/m", approval_mode="ask")
    store.append(meta.id, [MessageRecord(0, 0.0, Message(role="user", content="hi"))])
    meta.title = "changed but not saved"
    assert store.get(meta.id).title == ""
    assert [m.content for m in store.load(meta.id).messages] == ["hi"]
    assert store.exists(meta.id) and not store.exists("other")


def test_file_transcript_is_append_only(tmp_path):
    store = _store(tmp_path)
    meta = store.create(workspace="/w", model="p/m", approval_mode="ask")
    msgs = [Message(role="user", content="hi"),
            Message(role="assistant", content="", tool_calls=[ToolCall("c1", "read_file", '{"path":"a"}')]),
            Message(role="tool", tool_call_id="c1", name="read_file", content="1\tx")]
    store.append(meta.id, [MessageRecord(i, 0.0, m) for i, m in enumerate(msgs)])
    before = (store.root / meta.id / "transcript.jsonl").read_bytes()
    store.append(meta.id, [MessageRecord(3, 0.0, Message(role="assistant", content="done"))])
    after = (store.root / meta.id / "transcript.jsonl").read_bytes()
    assert after.startswith(before)  # appended, never rewritten
    assert [m.content for m in store.load(meta.id).messages][-1] == "done"
    assert store.load(meta.id).messages[1].tool_calls[0].name == "read_file"


def test_torn_last_line_is_tolerated(tmp_path):
    store = _store(tmp_path)
    meta = store.create(workspace="/w", model="p/m", approval_mode="ask")
    store.append(meta.id, [MessageRecord(0, 0.0, Message(role="user", content="kept"))])
    with (store.root / meta.id / "transcript.jsonl").open("ab") as fh:
        fh.write(b'{"type":"message","index":1,"ts":0,"mess')
    assert [m.content for m in store.load(meta.id).messages] == ["kept"]


def test_fork_copies_a_prefix_and_links_the_parent(tmp_path, backend):
    store = _store(tmp_path, backend)
    meta = store.create(workspace="/w", model="p/m", approval_mode="ask", title="t")
    store.append(meta.id, [MessageRecord(i, 0.0, Message(role="user", content=str(i))) for i in range(4)])
    fork = store.fork(meta.id, at_message=2)
    assert fork.parent_id == meta.id and fork.id != meta.id
    assert [m.content for m in store.load(fork.id).messages] == ["0", "1"]
    assert len(store.load(meta.id).messages) == 4


def test_list_delete_and_not_found(tmp_path, backend):
    store = _store(tmp_path, backend)
    a = store.create(workspace="/w", model="p/m", approval_mode="ask")
    assert [m.id for m in store.list()] == [a.id]
    store.delete(a.id)
    assert store.list() == []
    for bad in (a.id, "../etc", ""):
        with pytest.raises(NotFound):
            store.get(bad)
