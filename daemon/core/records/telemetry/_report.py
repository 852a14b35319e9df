"""A self-contained HTML report: charts as inline SVG, no script, no network needed to view it.

This side folds records into a small JSON page spec (series and tables); a child
process (:mod:`._charts`, pygal) draws and writes the page. Drawing in a child keeps
the chart library and its SVG trees out of the daemon, whose memory would otherwise
grow with every report and never shrink (R2).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ....errors import CodetetherError, InvalidParams
from ._pricing import CostEstimate
from ._records import Record, Summary, TokenRecord, ToolRecord, stats_dict
from ._tokens import TokenCounts

__all__ = ["render_report", "report_spec"]

MAX_POINTS = 400  # per series: a 960-pixel chart shows no more, and each point costs SVG bytes
_TIMEOUT_S = 120.0


def _thin(points: list[Any]) -> list[Any]:
    """At most MAX_POINTS, evenly spread, the last one always kept (it is the total)."""
    if len(points) <= MAX_POINTS:
        return points
    step = len(points) / (MAX_POINTS - 1)
    return [points[int(i * step)] for i in range(MAX_POINTS - 1)] + [points[-1]]


def _series_charts(records: list[Record]) -> list[dict[str, Any]]:
    by_model: dict[str, list[TokenRecord]] = {}
    by_tool: dict[str, list[int]] = {}
    for r in records:
        if isinstance(r, TokenRecord):
            by_model.setdefault(r.model, []).append(r)
        elif isinstance(r, ToolRecord):
            by_tool.setdefault(r.execution.tool_name, []).append(r.execution.duration_ms)
    tokens: dict[str, list[list[float]]] = {}
    cost: dict[str, list[list[float]]] = {}
    for model, rows in sorted(by_model.items()):
        running = TokenCounts()
        totals, costs = [], []
        for r in rows:
            running.add(TokenCounts(r.input, r.output))
            totals.append([r.ts, running.total()])
            costs.append((r.ts, CostEstimate.from_tokens(model, running)))
        tokens[model] = _thin(totals)
        if not costs[-1][1].unpriced:
            cost[model] = _thin([[ts, c.total_cost] for ts, c in costs])
    return [
        {"kind": "time", "title": "Tokens over time (cumulative, per model)", "y_title": "tokens",
         "series": tokens},
        {"kind": "time", "title": "Cost over time (cumulative USD, priced models)", "y_title": "USD",
         "series": cost},
        {"kind": "box", "title": "Tool durations (ms)", "y_title": "ms",
         "series": {tool: values for tool, values in sorted(by_tool.items())}},
    ]


def _stats_charts(stats: Mapping[str, Any], with_durations: bool) -> list[dict[str, Any]]:
    models = stats.get("models", {})
    tools = stats.get("tools", {})
    charts: list[dict[str, Any]] = []
    if not with_durations:
        priced = {k: v for k, v in models.items() if v.get("cost_usd") is not None}
        charts += [
            {"kind": "bar", "title": "Tokens per model", "y_title": "tokens", "labels": list(models),
             "series": {"tokens": [m["total_tokens"] for m in models.values()]}},
            {"kind": "bar", "title": "Cost per model (USD)", "y_title": "USD", "labels": list(priced),
             "series": {"USD": [m["cost_usd"] for m in priced.values()]}},
            {"kind": "bar", "title": "Tool durations (ms)", "y_title": "ms", "labels": list(tools),
             "series": {"avg": [t["avg_duration_ms"] for t in tools.values()],
                        "max": [t["max_duration_ms"] for t in tools.values()]}},
        ]
    charts.append({"kind": "bar", "title": "Tool failure rate (%)", "y_title": "%", "labels": list(tools),
                   "range": [0, 100], "series": {"failed": [100.0 * t["failure_rate"] for t in tools.values()]}})
    return charts


def _summary(stats: Mapping[str, Any]) -> list[list[Any]]:
    return [
        ["Tool executions", stats.get("total_executions", 0)],
        ["Failed", stats.get("failed_executions", 0)],
        ["Requests", stats.get("total_requests", 0)],
        ["Input tokens", stats.get("total_input_tokens", 0)],
        ["Output tokens", stats.get("total_output_tokens", 0)],
        ["Estimated cost", stats.get("cost", "")],
        ["Unpriced models", ", ".join(stats.get("unpriced_models", [])) or "none"],
    ]


def _tables(stats: Mapping[str, Any]) -> list[dict[str, Any]]:
    models, tools = stats.get("models", {}), stats.get("tools", {})
    return [
        {"title": "Per model", "header": ["model", "requests", "input", "output", "cost"],
         "rows": [[name, m.get("requests", 0), m.get("input_tokens", 0), m.get("output_tokens", 0),
                   m.get("cost", "")] for name, m in models.items()]},
        {"title": "Per tool", "header": ["tool", "runs", "failed", "avg ms", "max ms"],
         "rows": [[name, t["count"], t["failures"], round(t["avg_duration_ms"], 1), t["max_duration_ms"]]
                  for name, t in tools.items()]},
    ]


def report_spec(stats_or_records: Mapping[str, Any] | Iterable[Record]) -> dict[str, Any]:
    """The page as plain data: summary rows, charts (series) and tables.

    Given records (from :meth:`TelemetryStore.records`): tokens and cost over time
    per model, tool durations and failure rates. Given a ``stats()`` dict: the
    same per model / per tool, without the time axis.
    """
    if isinstance(stats_or_records, Mapping):
        stats = stats_or_records
        charts = _stats_charts(stats, with_durations=False)
    else:
        records = sorted(stats_or_records, key=lambda r: (r.ts, r.seq))
        summary = Summary()
        for record in records:
            summary.fold(record)
        stats = stats_dict(summary, None)
        charts = _series_charts(records) + _stats_charts(stats, with_durations=True)
    return {"summary": _summary(stats), "charts": charts, "tables": _tables(stats)}


def render_report(stats_or_records: Mapping[str, Any] | Iterable[Record], path: Path) -> Path:
    """Write the HTML page with charts to ``path`` (drawn in a child process) and return it.

    A bad target (a directory, a missing or unwritable folder) is InvalidParams.
    """
    path = Path(path)
    if path.is_dir():
        raise InvalidParams(f"report path {str(path)!r} is a directory; give a file name such as report.html")
    if not path.parent.is_dir():
        raise InvalidParams(f"report folder {str(path.parent)!r} does not exist")
    spec = json.dumps(report_spec(stats_or_records)).encode()
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "codetether.daemon.core.records.telemetry._charts", str(path)],
            input=spec, capture_output=True, env=env, timeout=_TIMEOUT_S, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CodetetherError(f"drawing the report took over {_TIMEOUT_S:.0f} s; gave up") from exc
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        message = lines[-1] if lines else f"exit status {done.returncode}"
        if message.startswith("cannot write"):
            raise InvalidParams(message)
        raise CodetetherError(f"drawing the report failed: {message}")
    return path
