"""TelemetryStore and the Telemetry facade: persistence, rotation, crashes, failures, privacy."""

from __future__ import annotations

import errno
import logging
from pathlib import Path
from typing import Any

import msgspec
import pytest
from codetether.daemon.core.records.telemetry import (
    FileChange,
    Telemetry,
    TelemetrySettings,
    TelemetryStore,
    TokenCounts,
    ToolExecution,
    anonymize_path,
    redact,
)
from codetether.daemon.core.storage import _jsonl
from codetether.daemon.errors import Unavailable

CANARY = "sk-canary-0123456789abcdef"


def _exec(tool: str = "bash", ok: bool = True, ms: int = 10, **input: Any) -> ToolExecution:
    e = ToolExecution.start(tool, input or {"cmd": "ls"})
    return e.complete_success("out", ms) if ok else e.complete_error("failed", ms)


def _fill(tel: Telemetry, n: int) -> None:
    for i in range(n):
        tel.record_tool(_exec("bash" if i % 3 else "edit", ok=i % 5 != 0, ms=i))
        tel.record_tokens("anthropic/claude-sonnet-4-20250514", "chat", TokenCounts(100, 10))


def _core(stats: dict[str, Any]) -> dict[str, Any]:
    return {k: stats[k] for k in ("total_executions", "failed_executions", "total_duration_ms", "tools", "models")}


def test_round_trip_across_restart(tmp_path: Path) -> None:
    with Telemetry(tmp_path, summary_every=7) as tel:
        _fill(tel, 25)
        before = tel.stats()
    assert before["total_executions"] == 25 and before["total_requests"] == 25
    assert before["models"]["anthropic/claude-sonnet-4-20250514"]["cost_usd"] == pytest.approx(25 * 0.00045)
    with Telemetry(tmp_path) as again:
        assert _core(again.stats()) == _core(before)
        again.record_tool(_exec())
        assert again.stats()["total_executions"] == 26


def test_restart_without_close_replays_past_watermark(tmp_path: Path) -> None:
    tel = Telemetry(tmp_path, summary_every=10)
    _fill(tel, 13)  # 26 records: summary written at 10 and 20, 6 only in the log
    expected = _core(tel.stats())
    summary = msgspec.json.decode((tmp_path / "summary.json").read_bytes())
    assert summary["watermark"] == 20
    again = Telemetry(tmp_path)  # the first one "crashed": never closed
    assert _core(again.stats()) == expected
    again.close()
    tel.store._log.close_file()  # the "crashed" store's descriptor


def test_summary_not_rewritten_per_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from codetether.daemon.core.records.telemetry import _store

    writes: list[Path] = []
    real = _store.atomic_write
    monkeypatch.setattr(_store, "atomic_write", lambda p, *a, **k: (writes.append(p), real(p, *a, **k)))
    with Telemetry(tmp_path, summary_every=100) as tel:
        _fill(tel, 150)  # 300 records
        assert len(writes) == 3
    assert len(writes) == 4  # and once on close


def test_rotation_keeps_totals(tmp_path: Path) -> None:
    with Telemetry(tmp_path, segment_bytes=2000, keep_segments=2) as tel:
        _fill(tel, 60)
        expected = _core(tel.stats())
        segments = sorted(tmp_path.glob("telemetry-*.jsonl"))
        assert len(segments) == 2 and segments[-1].name != "telemetry-000001.jsonl"
        assert all(p.stat().st_size < 2000 + 1000 for p in segments)
        assert len(tel.export()["executions"]) < 60  # older segments are gone ...
    with Telemetry(tmp_path) as again:
        assert _core(again.stats()) == expected  # ... their totals are not


def test_torn_last_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with Telemetry(tmp_path) as tel:
        _fill(tel, 3)
    (tmp_path / "summary.json").unlink()  # force a full replay
    segment = tmp_path / "telemetry-000001.jsonl"
    with open(segment, "ab") as fh:
        fh.write(b'{"type":"tool","seq":99,"ts":1.0,"execution":{"id":1,"tool_na')
    with caplog.at_level(logging.WARNING, logger="codetether.daemon.telemetry"):
        again = Telemetry(tmp_path)
    assert len([r for r in caplog.records if "unreadable" in r.message]) == 1
    assert again.stats()["total_executions"] == 3
    again.record_tool(_exec("after"))
    again.close()
    lines = segment.read_bytes().split(b"\n")
    assert b'"tool_name":"after"' in lines[-2]  # appended on a line of its own
    with Telemetry(tmp_path) as third:
        assert third.stats()["total_executions"] == 4


def test_write_failure_degrades_once_and_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clock = [1000.0]
    tel = Telemetry(tmp_path, retry_seconds=5, clock=lambda: clock[0])
    _fill(tel, 2)

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_jsonl, "_os_write", full)
    with caplog.at_level(logging.ERROR, logger="codetether.daemon.telemetry"):
        _fill(tel, 5)
        clock[0] += 10  # a retry happens, and fails quietly
        _fill(tel, 5)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "No space left" in errors[0].getMessage()
    ok, reason = tel.health()
    assert not ok and reason is not None and "buffered" in reason
    stats = tel.stats()
    assert stats["total_executions"] == 12 and stats["total_requests"] == 12  # memory is right

    monkeypatch.undo()
    clock[0] += 10
    tel.record_tool(_exec("recovered"))
    assert tel.health() == (True, None)
    tel.close()
    with Telemetry(tmp_path) as again:
        stats = again.stats()
        assert stats["total_executions"] == 13 and stats["total_requests"] == 12
        assert len(again.export()["executions"]) == 13  # nothing buffered was lost


def test_unwritable_directory_serves_in_memory(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with caplog.at_level(logging.ERROR, logger="codetether.daemon.telemetry"):
        tel = Telemetry(blocker / "telemetry")
        _fill(tel, 10)
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
    assert tel.health()[0] is False
    assert tel.stats()["total_executions"] == 10
    assert len(tel.export()["executions"]) == 10
    tel.close()


def test_canary_secret_never_persisted(tmp_path: Path) -> None:
    tel = Telemetry(tmp_path, summary_every=2, settings=TelemetrySettings(include_file_content=True))
    tel.add_secret(CANARY)
    e = ToolExecution.start(f"tool-{CANARY}", {"key": CANARY, "nested": [f"Bearer {CANARY}"]})
    e.add_file_change(FileChange.modify_with_diff(f"{CANARY}.txt", CANARY, "x", f"-{CANARY}\n+x"))
    e.metadata["header"] = f'Authorization: "{CANARY}"'
    tel.record_tool(e.complete_error(f"auth failed for {CANARY}", 3))
    tel.record_tokens(f"model-{CANARY}", f"op-{CANARY}", TokenCounts(1, 1))
    exported = msgspec.json.encode(tel.export())
    stats = msgspec.json.encode(tel.stats()) + msgspec.json.encode(tel.stats(since=0))
    tel.close()
    persisted = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for blob in (persisted, exported, stats):
        assert CANARY.encode() not in blob
        assert b"[REDACTED]" in blob
    assert redact(f"x{CANARY}y", [CANARY, ""]) == "x[REDACTED]y"


def test_settings_strip_args_and_content(tmp_path: Path) -> None:
    with Telemetry(tmp_path, TelemetrySettings(include_tool_args=False)) as tel:
        e = _exec(cmd="cat secret")
        e.add_file_change(FileChange.modify_with_diff("a.py", "old\n", "new\n", "-old\n+new", (1, 1)))
        tel.record_tool(e)
        assert e.input == {"cmd": "cat secret"}  # the caller's object is untouched
        (kept,) = tel.export()["executions"]
    assert kept["input"] is None
    change = kept["files_affected"][0]
    assert "before" not in change and "after" not in change and "diff" not in change
    assert change["size_before"] == 4 and change["lines_affected"] == [1, 1]


def test_settings_anonymize_paths(tmp_path: Path) -> None:
    home = str(Path.home())
    with Telemetry(tmp_path, TelemetrySettings(anonymize_paths=True)) as tel:
        e = ToolExecution.start("read", {"path": f"{home}/proj/src/a.py", "url": "https://x.org/a/b"})
        e.add_file_change(FileChange.read("/srv/data/b.txt"))
        e.add_file_change(FileChange.read("rel/c.py"))
        tel.record_tool(e.complete_success(f"read /etc/passwd and {home}/proj/x", 1))
        (kept,) = tel.export()["executions"]
    blob = msgspec.json.encode(kept).decode()
    assert home + "/" not in blob and "/srv/data" not in blob and "/etc/passwd" not in blob
    assert kept["input"]["path"] == anonymize_path(f"{home}/proj/src/a.py")
    assert kept["input"]["path"].startswith("~/") and kept["input"]["path"].endswith("/a.py")
    assert kept["input"]["url"] == "https://x.org/a/b"
    assert kept["files_affected"][1]["path"] == "rel/c.py"
    assert anonymize_path("/srv/data/b.txt") == anonymize_path("/srv/data/b.txt")  # stable


def test_disabled_and_memory_only(tmp_path: Path) -> None:
    with Telemetry(tmp_path / "off", TelemetrySettings(enabled=False)) as off:
        _fill(off, 3)
        assert off.stats()["total_executions"] == 0
    with Telemetry(tmp_path / "mem", TelemetrySettings(persist=False)) as mem:
        _fill(mem, 3)
        assert mem.stats()["total_executions"] == 3
        assert mem.stats(since=0)["total_executions"] == 3
    assert not (tmp_path / "mem").exists()


def test_stats_since_and_shape(tmp_path: Path) -> None:
    clock = [100.0]
    with Telemetry(tmp_path, clock=lambda: clock[0]) as tel:
        tel.record_tool(_exec("old", ms=5))
        clock[0] = 200.0
        tel.record_tool(_exec("new", ok=False, ms=7))
        tel.record_tool(_exec("new", ms=9))
        tel.record_tokens("mystery-model", None, TokenCounts(5, 5))
        tel.record_tokens("embedded/smollm2-135m", "chat", TokenCounts(5, 5))
        recent = tel.stats(since=150.0)
        everything = tel.stats()
    assert recent["total_executions"] == 2 and everything["total_executions"] == 3
    assert recent["tools"]["new"] == {
        "count": 2,
        "failures": 1,
        "failure_rate": 0.5,
        "avg_duration_ms": 8.0,
        "max_duration_ms": 9,
        "total_duration_ms": 16,
    }
    assert recent["unpriced_models"] == ["mystery-model"]
    assert recent["models"]["mystery-model"]["cost_usd"] is None
    assert recent["models"]["embedded/smollm2-135m"]["local"] is True
    assert recent["cost"] == "$0.00 + unpriced"


def test_export_shape(tmp_path: Path) -> None:
    with Telemetry(tmp_path) as tel:
        e = _exec()
        e.add_file_change(FileChange.modify("a.py", "a", "b"))
        e.add_file_change(FileChange.read("b.py"))
        tel.record_tool(e)
        tel.record_tokens("gpt-4o", "chat", TokenCounts(3, 4))
        data = tel.export()
    assert set(data) == {"executions", "stats", "last_updated"}
    assert set(data["stats"]) == {
        "total_executions", "successful_executions", "failed_executions", "total_duration_ms",
        "total_input_tokens", "total_output_tokens", "total_requests", "executions_by_tool", "files_modified",
    }  # fmt: skip
    assert data["stats"]["files_modified"] == {"a.py": 1}
    assert set(data["executions"][0]) >= {"id", "tool_name", "input", "output", "success", "error", "started_at",
                                          "duration_ms", "files_affected", "tokens", "parent_id", "session_id",
                                          "model", "metadata"}  # fmt: skip
    assert isinstance(data["last_updated"], int)
    decoded = msgspec.convert(data["executions"][0], ToolExecution)
    assert decoded.tool_name == "bash"


def test_use_after_close(tmp_path: Path) -> None:
    tel = Telemetry(tmp_path)
    tel.close()
    tel.close()
    with pytest.raises(Unavailable):
        tel.record_tool(_exec())
    store = TelemetryStore(tmp_path / "s")
    store.close()
    with pytest.raises(Unavailable):
        store.append_tokens("m", None, 1, 1)


def test_context_limit_facade(tmp_path: Path) -> None:
    with Telemetry(tmp_path) as tel:
        limit = tel.context_limit("openai/gpt-4o", 120_000)
        assert limit is not None and limit.level.value == "HIGH"
        assert tel.context_limit("nope", 1) is None
