"""reconstruct(): a session's transcript, tool calls, file changes and usage from its events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
from codetether.daemon.core.records.eventstream import EventStream, reconstruct
from codetether.daemon.wire.events import (
    ApprovalRequested,
    ApprovalResolved,
    Done,
    ErrorEvent,
    TextChunk,
    Thinking,
    ToolCallEnd,
    ToolCallStart,
    UsageEvent,
)

EDIT_DIFF = "--- a/app.py\n+++ b/app.py\n@@ -1,2 +1,2 @@\n-return a - b\n+return a + b\n"
TEST_DIFF = (
    "--- /dev/null\n+++ b/tests/test_app.py\n@@ -0,0 +1,2 @@\n+def test_add():\n+    assert add(1, 2) == 3\n"
)


def _change(path: str, kind: str, diff: str, additions: int, deletions: int) -> dict[str, Any]:
    return {"path": path, "kind": kind, "diff": diff, "additions": additions, "deletions": deletions}


def _end(stream: EventStream, event: ToolCallEnd, *changes: dict[str, Any]) -> None:
    """As the daemon does: the wire event plus the tool result's metadata."""
    data = msgspec.to_builtins(event)
    del data["type"]
    data["metadata"] = {"files_affected": [c["path"] for c in changes], "changes": list(changes)}
    stream.append("tool_call_end", data, okr_run_id="run-1")


@pytest.fixture
def session(tmp_path: Path):
    with EventStream(tmp_path, "sess-42") as s:
        s.append("user", {"text": "fix the subtraction bug in app.py and add a test"})
        s.append_event(Thinking(text="Read the file "))
        s.append_event(Thinking(text="first."))
        s.append_event(TextChunk(text="Let me look at "))
        s.append_event(TextChunk(text="app.py."))
        s.append_event(ToolCallStart(call_id="c1", name="read_file", arguments='{"path": "app.py"}'))
        _end(s, ToolCallEnd(call_id="c1", name="read_file", output="def add(a, b):\n    return a - b\n"))
        s.append_event(UsageEvent(input_tokens=1200, output_tokens=80, model="claude"))
        s.append_event(TextChunk(text="Found it; fixing."))
        s.append_event(ToolCallStart(call_id="c2", name="edit", arguments='{"path": "app.py"}'))
        s.append_event(ApprovalRequested(approval_id="a1", tool="edit", subject="app.py", arguments="{}"))
        s.append_event(ApprovalResolved(approval_id="a1", decision="allow", by="user"))
        _end(
            s,
            ToolCallEnd(call_id="c2", name="edit", output="edited app.py", duration_ms=12.5),
            _change("app.py", "modify", EDIT_DIFF, 1, 1),
        )
        s.append_event(
            ToolCallStart(call_id="c3", name="write_file", arguments='{"path": "tests/test_app.py"}')
        )
        _end(
            s,
            ToolCallEnd(call_id="c3", name="write_file", output="created"),
            _change("tests/test_app.py", "create", TEST_DIFF, 2, 0),
        )
        s.append_event(UsageEvent(input_tokens=1500, output_tokens=120, model="claude"))
        s.append_event(TextChunk(text="Fixed and tested."))
        s.append_event(Done(stop_reason="end_turn", steps=3, text="Fixed and tested."))
        s.append("user", {"text": "now remove old.py"})
        s.append_event(ToolCallStart(call_id="c4", name="bash", arguments='{"command": "rm old.py"}'))
        _end(s, ToolCallEnd(call_id="c4", name="bash", output="rm: permission denied", is_error=True))
        s.append_event(ToolCallStart(call_id="c5", name="apply_patch", arguments="*** Delete File: old.py"))
        _end(
            s,
            ToolCallEnd(call_id="c5", name="apply_patch", output="deleted"),
            _change("old.py", "delete", "", 0, 3),
        )
        s.append_event(UsageEvent(input_tokens=300, output_tokens=20, model="small"))
        s.append_event(ToolCallStart(call_id="c6", name="bash", arguments='{"command": "pytest"}'))
        s.append_event(ErrorEvent(code=-31004, message="provider timed out"))
        s.append_event(Done(stop_reason="error", steps=3))
        yield s


def test_transcript_in_order(session: EventStream):
    r = reconstruct(session)
    shape = [(m["role"], m.get("text") or m.get("name") or m.get("message")) for m in r.messages]
    assert shape == [
        ("user", "fix the subtraction bug in app.py and add a test"),
        ("assistant", "Let me look at app.py."),
        ("tool", "read_file"),
        ("assistant", "Found it; fixing."),
        ("tool", "edit"),
        ("tool", "write_file"),
        ("assistant", "Fixed and tested."),
        ("user", "now remove old.py"),
        ("tool", "bash"),
        ("tool", "apply_patch"),
        ("tool", "bash"),
        ("error", "provider timed out"),
    ]
    assert r.messages[1]["thinking"] == "Read the file first."
    assert r.messages[1]["seq"] == 1  # its first event
    assert r.stop_reason == "error"
    assert r.corrupt == []


def test_tool_calls_carry_arguments_outputs_and_errors(session: EventStream):
    calls = {c["call_id"]: c for c in reconstruct(session).tool_calls}
    assert list(calls) == ["c1", "c2", "c3", "c4", "c5", "c6"]
    assert calls["c1"]["arguments"] == '{"path": "app.py"}'
    assert calls["c1"]["output"] == "def add(a, b):\n    return a - b\n"
    assert calls["c2"]["duration_ms"] == 12.5
    assert calls["c4"]["is_error"] is True and calls["c4"]["output"] == "rm: permission denied"
    assert calls["c6"]["output"] is None  # started, never ended (the provider failed)


def test_file_changes_from_tool_metadata(session: EventStream):
    r = reconstruct(session)
    assert [(c["path"], c["kind"], c["tool"], c["call_id"]) for c in r.file_changes] == [
        ("app.py", "modify", "edit", "c2"),
        ("tests/test_app.py", "create", "write_file", "c3"),
        ("old.py", "delete", "apply_patch", "c5"),
    ]
    assert r.file_changes[0]["diff"] == EDIT_DIFF
    assert (r.file_changes[1]["additions"], r.file_changes[1]["deletions"]) == (2, 0)
    assert session.read(r.file_changes[0]["seq"]).kind == "tool_call_end"
    edit = next(c for c in r.tool_calls if c["call_id"] == "c2")
    assert [c["path"] for c in edit["changes"]] == ["app.py"]


def test_usage_is_summed_overall_and_per_model(session: EventStream):
    assert reconstruct(session).usage == {
        "input_tokens": 3000,
        "output_tokens": 220,
        "by_model": {
            "claude": {"input_tokens": 2700, "output_tokens": 200},
            "small": {"input_tokens": 300, "output_tokens": 20},
        },
    }


def test_reconstruct_from_a_slice_of_records_and_a_reopened_stream(session: EventStream, tmp_path: Path):
    second_turn = [r for r in session.replay() if r.seq >= 18]
    r = reconstruct(second_turn)
    assert [m["role"] for m in r.messages] == ["user", "tool", "tool", "tool", "error"]
    session.close()
    with EventStream(tmp_path, "sess-42") as again:
        assert reconstruct(again) == reconstruct(list(again.replay()))


def test_tool_end_without_its_start_still_appears(tmp_path: Path):
    with EventStream(tmp_path, "s") as s:
        s.append(
            "tool_call_end", {"call_id": "x", "name": "bash", "output": "ok", "metadata": {"changes": "bad"}}
        )
        r = reconstruct(s)
    assert [(c["call_id"], c["output"]) for c in r.tool_calls] == [("x", "ok")]
    assert r.file_changes == []


def test_empty_stream(tmp_path: Path):
    with EventStream(tmp_path, "s") as s:
        r = reconstruct(s)
    assert (r.messages, r.tool_calls, r.file_changes, r.stop_reason) == ([], [], [], None)
    assert r.usage == {"input_tokens": 0, "output_tokens": 0, "by_model": {}}
