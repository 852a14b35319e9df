"""The HTML report: one self-contained page with the chart data inline."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from codetether.daemon.core.telemetry import Telemetry, TokenCounts, ToolExecution, render_report

pytest.importorskip("plotly")


def _telemetry(tmp_path: Path) -> Telemetry:
    clock = [1_700_000_000.0]
    tel = Telemetry(tmp_path / "data", clock=lambda: clock[0])
    for i in range(6):
        clock[0] += 60
        tel.record_tokens("anthropic/claude-sonnet-4-20250514", "chat", TokenCounts(1000 + i, 200))
        tel.record_tokens("moonshotai/kimi-k2.5", "chat", TokenCounts(500, 50))
        e = ToolExecution.start("read_file" if i % 2 else "run_shell", {})
        tel.record_tool(e.complete_success("ok", 40 + i) if i != 3 else e.complete_error("no", 4321))
    return tel


def _check_self_contained(text: str) -> None:
    assert text.startswith("<!DOCTYPE html>")
    assert not re.search(r"<script[^>]+src=[\"']?https?:", text)
    assert not re.search(r"<link[^>]+href=[\"']?https?:", text)
    assert text.count("plotly.js v") >= 1  # the library itself is inline


def test_report_from_records(tmp_path: Path) -> None:
    with _telemetry(tmp_path) as tel:
        path = tel.report(tmp_path / "report.html")
    text = path.read_text()
    _check_self_contained(text)
    for needle in ("Tokens over time", "Cost over time", "Tool durations", "failure rate",
                   "claude-sonnet-4-20250514", "kimi-k2.5", "run_shell", "4321"):  # fmt: skip
        assert needle in text, needle


def test_report_from_stats(tmp_path: Path) -> None:
    with _telemetry(tmp_path) as tel:
        stats = tel.stats()
    path = render_report(stats, tmp_path / "stats.html")
    text = path.read_text()
    _check_self_contained(text)
    assert "Tokens per model" in text and "Cost per model" in text and "read_file" in text
