"""The HTML report: one self-contained page with SVG charts, drawn in a child process (R2)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
from codetether.daemon.core.records.telemetry import Telemetry, TokenCounts, ToolExecution, render_report
from codetether.daemon.errors import InvalidParams

# Looked up, not imported: the chart library belongs in the child process only.
if importlib.util.find_spec("pygal") is None:
    pytest.skip("pygal (a core dependency) is not installed in this environment", allow_module_level=True)


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
    assert "<script" not in text  # static SVG: nothing to run, nothing to fetch
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", text)
    assert "plotly" not in text
    assert text.count("<svg") >= 4


def test_report_from_records(tmp_path: Path) -> None:
    with _telemetry(tmp_path) as tel:
        path = tel.report(tmp_path / "report.html")
    text = path.read_text()
    _check_self_contained(text)
    for needle in ("Tokens over time", "Cost over time", "Tool durations", "failure rate",
                   "claude-sonnet-4-20250514", "kimi-k2.5", "run_shell", "4321"):  # fmt: skip
        assert needle in text, needle
    assert len(text) < 400_000  # plotly's page was 4.8 MB
    assert not list(tmp_path.glob(".report.html.*"))  # written atomically, no temp file left


def test_report_from_stats(tmp_path: Path) -> None:
    with _telemetry(tmp_path) as tel:
        stats = tel.stats()
    path = render_report(stats, tmp_path / "stats.html")
    text = path.read_text()
    _check_self_contained(text)
    assert "Tokens per model" in text and "Cost per model" in text and "read_file" in text


def test_report_of_no_records_is_a_page(tmp_path: Path) -> None:
    text = render_report([], tmp_path / "empty.html").read_text()
    assert text.startswith("<!DOCTYPE html>") and "Tokens over time" in text


def test_report_to_a_directory_is_invalid_params(tmp_path: Path) -> None:  # R2
    with _telemetry(tmp_path) as tel:
        with pytest.raises(InvalidParams, match="is a directory"):
            tel.report(tmp_path)
        with pytest.raises(InvalidParams, match="does not exist"):
            tel.report(tmp_path / "no" / "r.html")


def test_report_does_not_load_the_chart_library_in_process(tmp_path: Path) -> None:  # R2
    """The daemon's memory must not grow per report: the chart library stays in the child."""
    code = (
        "import sys; from pathlib import Path; "
        "from codetether.daemon.core.records.telemetry import Telemetry, TokenCounts; "
        f"tel = Telemetry(Path({str(tmp_path / 'd')!r})); tel.record_tokens('openai/gpt-4o', 'chat', TokenCounts(5, 5)); "
        f"[tel.report(Path({str(tmp_path)!r}) / f'r{{i}}.html') for i in range(3)]; tel.close(); "
        "bad = [m for m in ('pygal', 'plotly', 'xml.etree.ElementTree') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert all((tmp_path / f"r{i}.html").stat().st_size > 1000 for i in range(3))
