"""Persisted record kinds and the running totals (``summary.json``) folded from them."""

from __future__ import annotations

from typing import Any

import msgspec

from ._pricing import CostEstimate, format_usd
from ._tokens import TokenCounts
from ._tools import FileChangeType, ToolExecution

__all__ = ["Record", "Summary", "TokenRecord", "ToolRecord", "stats_dict", "export_stats"]

MAX_TRACKED_FILES = 10_000  # files_modified keys; later new paths count under OTHER_FILES
OTHER_FILES = "<other>"


class ToolRecord(msgspec.Struct, tag="tool", kw_only=True):
    seq: int
    ts: float  # Unix seconds when recorded
    execution: ToolExecution


class TokenRecord(msgspec.Struct, tag="tokens", kw_only=True):
    seq: int
    ts: float
    model: str
    operation: str | None
    input: int
    output: int


Record = ToolRecord | TokenRecord


class ToolTotals(msgspec.Struct):
    count: int = 0
    failures: int = 0
    total_duration_ms: int = 0
    max_duration_ms: int = 0


class TokenTotals(msgspec.Struct):
    requests: int = 0
    input: int = 0
    output: int = 0
    max_input: int = 0
    max_output: int = 0

    def add(self, input: int, output: int) -> None:
        self.requests += 1
        self.input += input
        self.output += output
        self.max_input = max(self.max_input, input)
        self.max_output = max(self.max_output, output)


class Summary(msgspec.Struct, kw_only=True):
    """Running totals up to record ``watermark`` (a seq), which lives in ``segment`` or later."""

    version: int = 1
    watermark: int = 0
    segment: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    tools: dict[str, ToolTotals] = msgspec.field(default_factory=dict)
    models: dict[str, TokenTotals] = msgspec.field(default_factory=dict)
    operations: dict[str, TokenTotals] = msgspec.field(default_factory=dict)
    tokens: TokenTotals = msgspec.field(default_factory=TokenTotals)
    files_modified: dict[str, int] = msgspec.field(default_factory=dict)
    costs: dict[str, float | None] = msgspec.field(default_factory=dict)  # informational, per model

    def fold(self, record: Record) -> None:
        self.watermark = max(self.watermark, record.seq)
        if self.first_ts is None:
            self.first_ts = record.ts
        self.last_ts = record.ts
        if isinstance(record, TokenRecord):
            self.models.setdefault(record.model, TokenTotals()).add(record.input, record.output)
            if record.operation:
                self.operations.setdefault(record.operation, TokenTotals()).add(record.input, record.output)
            self.tokens.add(record.input, record.output)
            return
        ex = record.execution
        totals = self.tools.get(ex.tool_name)
        if totals is None:
            totals = self.tools[ex.tool_name] = ToolTotals()
        totals.count += 1
        totals.failures += not ex.success
        totals.total_duration_ms += ex.duration_ms
        if ex.duration_ms > totals.max_duration_ms:
            totals.max_duration_ms = ex.duration_ms
        for change in ex.files_affected:
            if change.change_type is not FileChangeType.READ:
                key = change.path
                if key not in self.files_modified and len(self.files_modified) >= MAX_TRACKED_FILES:
                    key = OTHER_FILES
                self.files_modified[key] = self.files_modified.get(key, 0) + 1

    def refresh_costs(self) -> None:
        costs = {m: _cost(m, t) for m, t in self.models.items()}
        self.costs = {m: None if c.unpriced else c.total_cost for m, c in costs.items()}


def _cost(model: str, totals: TokenTotals) -> CostEstimate:
    return CostEstimate.from_tokens(model, TokenCounts(totals.input, totals.output))


def _tokens_view(totals: TokenTotals) -> dict[str, Any]:
    n = totals.requests
    return {
        "requests": n,
        "input_tokens": totals.input,
        "output_tokens": totals.output,
        "total_tokens": totals.input + totals.output,
        "avg_input": totals.input / n if n else 0.0,
        "avg_output": totals.output / n if n else 0.0,
        "max_input": totals.max_input,
        "max_output": totals.max_output,
    }


def stats_dict(summary: Summary, since: float | None) -> dict[str, Any]:
    """The ``stats`` answer: totals, per tool, per model (with cost), per operation."""
    tools = {
        name: {
            "count": t.count,
            "failures": t.failures,
            "failure_rate": t.failures / t.count if t.count else 0.0,
            "avg_duration_ms": t.total_duration_ms / t.count if t.count else 0.0,
            "max_duration_ms": t.max_duration_ms,
            "total_duration_ms": t.total_duration_ms,
        }
        for name, t in sorted(summary.tools.items())
    }
    models: dict[str, Any] = {}
    total_cost = 0.0
    unpriced: list[str] = []
    for name, t in sorted(summary.models.items()):
        cost = _cost(name, t)
        if cost.unpriced:
            unpriced.append(name)
        else:
            total_cost += cost.total_cost
        models[name] = {
            **_tokens_view(t),
            "cost_usd": None if cost.unpriced else cost.total_cost,
            "cost": cost.format_smart(),
            "priced": not cost.unpriced,
            "local": cost.local,
        }
    executions = sum(t.count for t in summary.tools.values())
    failures = sum(t.failures for t in summary.tools.values())
    return {
        "since": since,
        "first_ts": summary.first_ts,
        "last_ts": summary.last_ts,
        "total_executions": executions,
        "successful_executions": executions - failures,
        "failed_executions": failures,
        "total_duration_ms": sum(t.total_duration_ms for t in summary.tools.values()),
        "total_requests": summary.tokens.requests,
        "total_input_tokens": summary.tokens.input,
        "total_output_tokens": summary.tokens.output,
        "tools": tools,
        "models": models,
        "operations": {n: _tokens_view(t) for n, t in sorted(summary.operations.items())},
        "cost_usd": total_cost,
        "cost": format_usd(total_cost) + (" + unpriced" if unpriced else ""),
        "unpriced_models": unpriced,
    }


def export_stats(summary: Summary) -> dict[str, Any]:
    """The seed's ``TelemetryStats`` shape."""
    executions = sum(t.count for t in summary.tools.values())
    failures = sum(t.failures for t in summary.tools.values())
    return {
        "total_executions": executions,
        "successful_executions": executions - failures,
        "failed_executions": failures,
        "total_duration_ms": sum(t.total_duration_ms for t in summary.tools.values()),
        "total_input_tokens": summary.tokens.input,
        "total_output_tokens": summary.tokens.output,
        "total_requests": summary.tokens.requests,
        "executions_by_tool": {n: t.count for n, t in sorted(summary.tools.items())},
        "files_modified": dict(summary.files_modified),
    }
