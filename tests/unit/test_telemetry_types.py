"""Telemetry value types: executions, file changes, trackers, tokens, prices, context levels."""

from __future__ import annotations

import threading

import msgspec
import pytest
from codetether.daemon.core.records import telemetry as t
from codetether.daemon.core.records.telemetry import (
    ContextLevel,
    ContextLimit,
    CostEstimate,
    FileChange,
    FileChangeType,
    TokenCounts,
    TokenUsageRegistry,
    TokenUsageTracker,
    ToolExecution,
    ToolExecutionTracker,
)


def test_all_is_sorted_and_importable() -> None:
    # constants, then classes, then functions; each alphabetical
    assert t.__all__ == sorted(t.__all__, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    for name in t.__all__:
        assert hasattr(t, name)


def test_execution_lifecycle() -> None:
    a = ToolExecution.start("bash", {"cmd": "ls"})
    b = ToolExecution.start("bash", {})
    assert b.id > a.id and a.started_at > 0 and not a.success
    a.with_parent(7).with_session("s1").with_model("openai/gpt-4o")
    assert (a.parent_id, a.session_id, a.model) == (7, "s1", "openai/gpt-4o")
    assert a.complete_success("out", 12.7) is a
    assert a.success and a.output == "out" and a.duration_ms == 12
    b.complete_error("boom")
    assert not b.success and b.error == "boom" and b.duration_ms >= 0
    b.add_file_change(FileChange.read("a.py", (1, 3)))
    assert b.files_affected[0].change_type is FileChangeType.READ
    round_trip = msgspec.json.decode(msgspec.json.encode(b), type=ToolExecution)
    assert round_trip == b


def test_file_change_constructors_and_summary() -> None:
    c = FileChange.create("a.py", "x\ny\n")
    assert (c.lines_affected, c.size_after, c.after) == ((1, 2), 4, "x\ny\n")
    assert c.summary() == "+ a.py"
    m = FileChange.modify_with_diff("a.py", "a", "bb", "@@ -1 +1 @@", (3, 9))
    assert (m.size_before, m.size_after, m.diff) == (1, 2, "@@ -1 +1 @@")
    assert m.summary() == "M a.py (L3-9)"
    assert FileChange.modify("a.py", "a", "b").summary() == "M a.py"
    assert FileChange.delete("a.py", "abc").summary() == "- a.py"
    assert FileChange.delete("a.py", "abc").size_before == 3
    assert FileChange.rename("old.py", "new.py").summary() == "R old.py -> new.py"
    assert FileChange.read("a.py", (1, 5)).summary() == "R a.py (L1-5)"
    assert msgspec.json.encode(FileChange.read("a.py")).count(b'"change_type":"read"') == 1


def test_tracker_capacity_indexes_and_stats() -> None:
    tracker = ToolExecutionTracker(capacity=3)
    execs = []
    for i in range(5):
        e = ToolExecution.start("edit" if i % 2 else "read", {})
        e.add_file_change(FileChange.modify(f"f{i}.py", "a", "b"))
        (e.complete_success("ok", 10) if i != 4 else e.complete_error("x", 30))
        tracker.record(e)
        execs.append(e)
    assert len(tracker) == 3
    assert tracker.get(execs[0].id) is None and tracker.get(execs[4].id) is execs[4]
    assert [e.id for e in tracker.recent(2)] == [execs[4].id, execs[3].id]
    assert [e.id for e in tracker.by_tool("edit")] == [execs[3].id]
    assert tracker.by_file("f2.py") == [execs[2]]
    assert len(tracker.all_file_changes()) == 3
    stats = tracker.stats()
    assert (stats.total_executions, stats.failed_executions, stats.successful_executions) == (5, 1, 4)
    assert stats.total_duration_ms == 70 and stats.avg_duration_ms == 14
    assert stats.executions_by_tool == {"read": 3, "edit": 2}
    assert stats.unique_files_affected == 3
    assert stats.summary() == "5 executions (80.0% success), 3 files, avg 14ms"
    with pytest.raises(ValueError):
        ToolExecutionTracker(0)


def test_token_counts() -> None:
    c = TokenCounts(10, 5)
    c.add(TokenCounts(1, 2))
    assert (c.input, c.output, c.total()) == (11, 7, 18)
    assert c + TokenCounts(1, 1) == TokenCounts(12, 8)
    assert str(c) == "11 in / 7 out (18 total)"


def test_token_tracker_threads_and_snapshot() -> None:
    tracker = TokenUsageTracker("m")

    def work() -> None:
        for _ in range(1000):
            tracker.record(3, 1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    tracker.record(100, 50)
    assert tracker.totals() == TokenCounts(12_100, 4_050)
    assert tracker.request_count() == 4001
    snap = tracker.snapshot()
    assert snap.stats.max_input == 100 and snap.stats.max_total == 150
    assert snap.stats.avg_input == pytest.approx(12_100 / 4001)
    assert snap.summary() == "m: 16150 tokens (4001 requests)"
    assert "Max: 100 in / 50 out" in snap.detailed()


def test_registry_by_model_operation_global() -> None:
    reg = TokenUsageRegistry()
    reg.record_model_usage("a", 10, 1)
    reg.record_model_usage("b", 20, 2)
    reg.record_operation_usage("chat", 10, 1)
    assert [s.name for s in reg.model_snapshots()] == ["a", "b"]
    assert reg.global_snapshot().totals == TokenCounts(30, 3)
    assert reg.get_operation_tracker("chat").totals() == TokenCounts(10, 1)  # type: ignore[union-attr]
    assert reg.get_model_tracker("zzz") is None
    assert reg.global_tracker().request_count() == 2
    assert [s.name for s in reg.operation_snapshots()] == ["chat"]


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o", 2.5 + 5.0),
        ("openai/gpt-4o-2024-08-06", 7.5),
        ("anthropic/claude-sonnet-4-20250514", 3.0 + 7.5),
        ("bedrock/us.anthropic.claude-sonnet-4-20250514-v1:0", 10.5),
        ("anthropic.claude-opus-4-20250514-v1:0", 15.0 + 37.5),
        ("claude-3.5-sonnet", 10.5),
        ("google/gemini-2.5-pro", 1.25 + 5.0),
        ("moonshotai/kimi-k2.5", 0.6 + 1.5),
        ("zai/glm-5", 1.0 + 1.6),
        ("stepfun/step-3.5-flash", 0.1 + 0.15),
        ("k1.5", 8.0 + 4.0),
    ],
)
def test_cost_priced(model: str, expected: float) -> None:
    cost = CostEstimate.from_tokens(model, TokenCounts(1_000_000, 500_000))
    assert not cost.unpriced and not cost.local
    assert cost.total_cost == pytest.approx(expected)
    assert cost.total_cost == pytest.approx(cost.input_cost + cost.output_cost)


@pytest.mark.parametrize("model", ["mystery-model-9", "gemini-2.5-flash-preview-05-20", "github-copilot/claude-opus-4"])
def test_cost_unpriced_is_never_guessed(model: str) -> None:
    cost = CostEstimate.from_tokens(model, TokenCounts(1000, 1000))
    assert cost.unpriced and cost.total_cost == 0.0
    assert cost.format_currency() == "unpriced" and cost.format_smart() == "unpriced"


@pytest.mark.parametrize("model", ["embedded/smollm2-135m", "scripted/scripted", "scripted", "ollama/llama3"])
def test_cost_local(model: str) -> None:
    cost = CostEstimate.from_tokens(model, TokenCounts(10**6, 10**6))
    assert cost.local and not cost.unpriced and cost.total_cost == 0.0
    assert cost.format_smart() == "$0 (local)"


def test_cost_formatting() -> None:
    def fmt(usd: float) -> tuple[str, str]:
        c = CostEstimate.from_rates(TokenCounts(1_000_000, 0), usd, 0)
        return c.format_currency(), c.format_smart()

    assert CostEstimate.from_rates(TokenCounts(1000, 500), 2.5, 10.0).format_currency() == "$0.0075"
    assert fmt(0.00005) == ("$0.0001", "< $0.0001")
    assert fmt(0.0042)[1] == "$0.0042"
    assert fmt(0.125)[1] == "$0.125"
    assert fmt(12.5)[1] == "$12.50"
    assert fmt(0)[1] == "$0.00"


@pytest.mark.parametrize(
    ("current", "level"),
    [
        (0, ContextLevel.OK),
        (99_999, ContextLevel.OK),
        (100_000, ContextLevel.LOW),
        (149_999, ContextLevel.LOW),
        (150_000, ContextLevel.MEDIUM),
        (180_000, ContextLevel.HIGH),
        (199_999, ContextLevel.HIGH),
        (200_000, ContextLevel.CRITICAL),
        (250_000, ContextLevel.CRITICAL),
    ],
)
def test_context_levels_at_seed_thresholds(current: int, level: ContextLevel) -> None:
    limit = ContextLimit.for_model("anthropic/claude-sonnet-4-20250514", current)
    assert limit is not None and limit.limit == 200_000
    assert limit.level is level and limit.warning_level() == level.value
    assert limit.percent == pytest.approx(current / 2000)
    assert limit.remaining == max(0, 200_000 - current)


def test_context_table() -> None:
    assert t.context_window("gpt-4o") == 128_000
    assert t.context_window("gemini-1.5-pro") == 2_000_000
    assert t.context_window("gemini-2.0-flash") == 1_000_000
    assert t.context_window("google/gemini-2.5-flash") == 1_048_576
    assert t.context_window("moonshotai/kimi-k2.5") == 262_144
    assert t.context_window("unknown") is None
    assert ContextLimit.for_model("unknown", 10) is None
    assert ContextLimit.for_model("unknown", 10, limit=20).level is ContextLevel.LOW  # type: ignore[union-attr]
    assert ContextLimit(5, 0).percent == 0.0


def test_file_content_stays_out_of_recorded_tool_arguments_unless_asked():
    # Found trying it as a user: include_file_content = false still recorded what
    # write_file and edit wrote, through the tool's arguments.
    from codetether.daemon.core.records.telemetry import TelemetrySettings, ToolExecution, sanitize

    e = ToolExecution.start("edit", {"path": "a.py", "old_string": "SECRET_OLD", "new_string": "NEW_TEXT",
                                     "edits": [{"old_string": "x", "new_string": "y"}]})
    kept = sanitize(e, TelemetrySettings())
    assert kept.input["path"] == "a.py"
    assert "SECRET_OLD" not in str(kept.input) and "NEW_TEXT" not in str(kept.input)
    assert kept.input["new_string"] == "[8 chars omitted]"
    full = sanitize(e, TelemetrySettings(include_file_content=True))
    assert full.input["new_string"] == "NEW_TEXT"
