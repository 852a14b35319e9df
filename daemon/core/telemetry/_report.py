"""A self-contained HTML report (plotly.js inlined once; no network needed to view it).

plotly is imported here only, so the daemon does not load it unless a report is asked for.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ._pricing import CostEstimate
from ._records import Record, Summary, TokenRecord, ToolRecord, stats_dict
from ._tokens import TokenCounts

__all__ = ["render_report"]


def _time(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC)


def _series_figures(records: list[Record]) -> list[Any]:
    import plotly.graph_objects as go

    tokens = go.Figure()
    cost = go.Figure()
    by_model: dict[str, list[TokenRecord]] = {}
    for r in records:
        if isinstance(r, TokenRecord):
            by_model.setdefault(r.model, []).append(r)
    for model, rows in sorted(by_model.items()):
        xs = [_time(r.ts) for r in rows]
        running, totals, costs = TokenCounts(), [], []
        for r in rows:
            running.add(TokenCounts(r.input, r.output))
            totals.append(running.total())
            costs.append(CostEstimate.from_tokens(model, running))
        tokens.add_trace(go.Scatter(x=xs, y=totals, mode="lines+markers", name=model))
        if not costs[-1].unpriced:
            cost.add_trace(go.Scatter(x=xs, y=[c.total_cost for c in costs], mode="lines+markers", name=model))
    tokens.update_layout(title="Tokens over time (cumulative, per model)", yaxis_title="tokens")
    cost.update_layout(title="Cost over time (cumulative USD, priced models)", yaxis_title="USD")

    durations = go.Figure()
    by_tool: dict[str, list[int]] = {}
    for r in records:
        if isinstance(r, ToolRecord):
            by_tool.setdefault(r.execution.tool_name, []).append(r.execution.duration_ms)
    for tool, values in sorted(by_tool.items()):
        durations.add_trace(go.Box(y=values, name=tool, boxpoints="outliers"))
    durations.update_layout(title="Tool durations (ms)", yaxis_title="ms", showlegend=False)
    return [tokens, cost, durations]


def _stats_figures(stats: Mapping[str, Any], with_durations: bool) -> list[Any]:
    import plotly.graph_objects as go

    figures = []
    models = stats.get("models", {})
    tools = stats.get("tools", {})
    if not with_durations:
        fig = go.Figure(go.Bar(x=list(models), y=[m["total_tokens"] for m in models.values()]))
        fig.update_layout(title="Tokens per model", yaxis_title="tokens")
        figures.append(fig)
        priced = {k: v for k, v in models.items() if v.get("cost_usd") is not None}
        fig = go.Figure(go.Bar(x=list(priced), y=[m["cost_usd"] for m in priced.values()]))
        fig.update_layout(title="Cost per model (USD)", yaxis_title="USD")
        figures.append(fig)
        fig = go.Figure(
            [
                go.Bar(x=list(tools), y=[t["avg_duration_ms"] for t in tools.values()], name="avg"),
                go.Bar(x=list(tools), y=[t["max_duration_ms"] for t in tools.values()], name="max"),
            ]
        )
        fig.update_layout(title="Tool durations (ms)", yaxis_title="ms")
        figures.append(fig)
    fig = go.Figure(go.Bar(x=list(tools), y=[100.0 * t["failure_rate"] for t in tools.values()]))
    fig.update_layout(title="Tool failure rate (%)", yaxis_title="%", yaxis_range=[0, 100])
    figures.append(fig)
    return figures


def _summary_table(stats: Mapping[str, Any]) -> str:
    rows = [
        ("Tool executions", stats.get("total_executions", 0)),
        ("Failed", stats.get("failed_executions", 0)),
        ("Requests", stats.get("total_requests", 0)),
        ("Input tokens", stats.get("total_input_tokens", 0)),
        ("Output tokens", stats.get("total_output_tokens", 0)),
        ("Estimated cost", stats.get("cost", "")),
        ("Unpriced models", ", ".join(stats.get("unpriced_models", [])) or "none"),
    ]
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def render_report(stats_or_records: Mapping[str, Any] | Iterable[Record], path: Path) -> Path:
    """Write an HTML page with charts to ``path`` and return it.

    Given records (from :meth:`TelemetryStore.records`): tokens and cost over time
    per model, tool durations and failure rates. Given a ``stats()`` dict: the
    same per model / per tool, without the time axis.
    """
    import plotly.io as pio

    if isinstance(stats_or_records, Mapping):
        stats = stats_or_records
        figures = _stats_figures(stats, with_durations=False)
    else:
        records = sorted(stats_or_records, key=lambda r: (r.ts, r.seq))
        summary = Summary()
        for record in records:
            summary.fold(record)
        stats = stats_dict(summary, None)
        figures = _series_figures(records) + _stats_figures(stats, with_durations=True)
    parts = []
    for i, fig in enumerate(figures):
        fig.update_layout(template="plotly_white", height=420)
        parts.append(
            pio.to_html(
                fig,
                include_plotlyjs=(i == 0),  # inline plotly.js once; later charts reuse it
                full_html=False,
                config={"displaylogo": False},
            )
        )
    page = (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>codetether telemetry</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "th,td{text-align:left;padding:2px 12px}</style></head><body>"
        "<h1>codetether telemetry</h1>" + _summary_table(stats) + "".join(parts) + "</body></html>\n"
    )
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path
