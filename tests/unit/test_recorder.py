"""The recorder fans session events and API calls out to telemetry, audit and events."""

from __future__ import annotations

import pytest
from codetether.daemon.api import CallRecord
from codetether.daemon.core.config import Config
from codetether.daemon.core.records import Recorder
from codetether.daemon.core.secrets import _redact as redact
from codetether.daemon.wire import events as ev


@pytest.fixture
def recorder(tmp_path):
    rec = Recorder(tmp_path, Config())
    yield rec
    rec.close()


def test_tool_events_become_executions_audit_entries_and_stream_records(recorder):
    sid, model = "s1", "scripted/scripted"
    recorder.on_event(sid, model, 1, ev.ToolCallStart(call_id="c1", name="read_file",
                                                      arguments='{"path": "a.py"}'))
    recorder.on_event(sid, model, 2, ev.ToolCallEnd(call_id="c1", name="read_file", output="1\tx",
                                                    duration_ms=3.0))
    recorder.on_event(sid, model, 3, ev.ToolCallStart(call_id="c2", name="write_file",
                                                      arguments='{"path": "b.py", "content": "y"}'))
    recorder.on_event(sid, model, 4, ev.ToolCallEnd(
        call_id="c2", name="write_file", output="boom", is_error=True,
        changes=[{"path": "b.py", "kind": "create", "diff": "+y"}]))
    stats = recorder.telemetry.stats()
    assert stats["tools"]["read_file"]["count"] == 1
    assert stats["tools"]["write_file"]["failures"] == 1
    changes = recorder.telemetry.tracker.all_file_changes()
    assert {(c.path, str(c.change_type.value)) for _id, c in changes} == {("a.py", "read"),
                                                                          ("b.py", "create")}
    tools = recorder.audit.query(category="tool")
    assert [(e.action, e.outcome) for e in tools] == [("write_file", "failure"), ("read_file", "success")]
    stream = recorder.events.open(sid)
    assert [stream.read(i).kind for i in range(len(stream))] == [
        "tool_call_start", "tool_call_end", "tool_call_start", "tool_call_end"]


def test_usage_by_operation_approvals_and_run_ends(recorder):
    recorder.on_event("s", "m", 1, ev.UsageEvent(input_tokens=10, output_tokens=2, model="p/m"))
    recorder.on_event("s", "m", 2, ev.UsageEvent(input_tokens=50, output_tokens=5, model="p/m",
                                                 operation="compaction"))
    recorder.on_event("s", "m", 3, ev.ApprovalResolved(approval_id="a1", decision="deny",
                                                       by="uid:0", tool="bash", subject="rm -rf /"))
    recorder.on_event("s", "m", 4, ev.Done(stop_reason="end_turn", steps=2))
    stats = recorder.telemetry.stats()
    assert set(stats["operations"]) == {"chat", "compaction"}
    assert stats["total_input_tokens"] == 60
    approval = recorder.audit.query(category="approval")[0]
    assert (approval.outcome, approval.principal, approval.resource) == ("denied", "uid:0", "rm -rf /")
    assert recorder.audit.query(category="session")[0].detail["stop_reason"] == "end_turn"


def test_api_calls_are_audited_and_secrets_redacted_everywhere(recorder, tmp_path):
    canary = "sk-recorder-canary-0123456789"
    redact.register(canary)
    recorder.on_call(CallRecord("session/prompt", {"uid": 0}, "failure", 1.5, -31004,
                                f"provider said {canary}", {"session_id": "s9", "text": canary}))
    recorder.on_event("s9", "m", 1, ev.TextChunk(text=f"the key is {canary}"))
    entry = recorder.audit.query(category="api")[0]
    assert (entry.action, entry.principal, entry.session_id) == ("session/prompt", "uid:0", "s9")
    recorder.close()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert canary.encode() not in path.read_bytes(), path


def test_session_usage_keeps_the_most_recently_used_sessions_only(recorder, monkeypatch):
    # One session per A2A task: the totals must not grow with every session ever run.
    from codetether.daemon.core.records import _recorder

    monkeypatch.setattr(_recorder, "MAX_SESSION_USAGE", 8, raising=False)
    recorder.on_event("old", "m", 1, ev.UsageEvent(input_tokens=7, output_tokens=1))
    for i in range(20):
        recorder.on_event(f"s{i}", "m", 1, ev.UsageEvent(input_tokens=1, output_tokens=1))
        recorder.on_event("old", "m", 2 + i, ev.UsageEvent(input_tokens=1, output_tokens=0))
    assert len(recorder.session_usage) == 8
    assert recorder.session_usage["old"] == [27, 1]  # used all along: kept, totals intact
    assert "s0" not in recorder.session_usage and recorder.session_usage["s19"] == [1, 1]
