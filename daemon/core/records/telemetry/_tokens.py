"""Token counts and thread-safe usage trackers per model, per operation and global."""

from __future__ import annotations

import threading

import msgspec

__all__ = ["TokenCounts", "TokenStats", "TokenUsageRegistry", "TokenUsageSnapshot", "TokenUsageTracker"]


class TokenCounts(msgspec.Struct):
    """Input (prompt) and output (completion) tokens of one request or a sum of them."""

    input: int = 0
    output: int = 0

    def total(self) -> int:
        return self.input + self.output

    def add(self, other: TokenCounts) -> None:
        """Add ``other`` in place."""
        self.input += other.input
        self.output += other.output

    def __add__(self, other: TokenCounts) -> TokenCounts:
        return TokenCounts(self.input + other.input, self.output + other.output)

    def __str__(self) -> str:
        return f"{self.input} in / {self.output} out ({self.total()} total)"


class TokenStats(msgspec.Struct, frozen=True):
    avg_input: float = 0.0
    avg_output: float = 0.0
    avg_total: float = 0.0
    max_input: int = 0
    max_output: int = 0
    max_total: int = 0


class TokenUsageSnapshot(msgspec.Struct, frozen=True):
    name: str
    totals: TokenCounts
    request_count: int
    stats: TokenStats

    def summary(self) -> str:
        return f"{self.name}: {self.totals.total()} tokens ({self.request_count} requests)"

    def detailed(self) -> str:
        s = self.stats
        return (
            f"{self.summary()}\n  Avg: {s.avg_input:.1f} in / {s.avg_output:.1f} out"
            f"\n  Max: {s.max_input} in / {s.max_output} out"
        )


class TokenUsageTracker:
    """Usage of one model or operation. ``_lock`` guards all counters so a
    snapshot never mixes two records."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._input = self._output = self._requests = 0
        self._max_input = self._max_output = self._max_total = 0

    def record(self, input: int, output: int) -> None:
        input, output = max(0, int(input)), max(0, int(output))
        with self._lock:
            self._input += input
            self._output += output
            self._requests += 1
            self._max_input = max(self._max_input, input)
            self._max_output = max(self._max_output, output)
            self._max_total = max(self._max_total, input + output)

    def record_counts(self, counts: TokenCounts) -> None:
        self.record(counts.input, counts.output)

    def totals(self) -> TokenCounts:
        with self._lock:
            return TokenCounts(self._input, self._output)

    def request_count(self) -> int:
        return self._requests

    def snapshot(self) -> TokenUsageSnapshot:
        with self._lock:
            n = self._requests
            totals = TokenCounts(self._input, self._output)
            stats = TokenStats(
                avg_input=self._input / n if n else 0.0,
                avg_output=self._output / n if n else 0.0,
                avg_total=totals.total() / n if n else 0.0,
                max_input=self._max_input,
                max_output=self._max_output,
                max_total=self._max_total,
            )
        return TokenUsageSnapshot(self.name, totals, n, stats)


class TokenUsageRegistry:
    """Trackers by model and by operation, plus a global one.

    Model usage also counts toward the global tracker; operation usage does not
    (an operation is a second view of the same requests, as in the seed).
    ``_lock`` guards the two dicts (creation of trackers), not the counts.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[str, TokenUsageTracker] = {}
        self._operations: dict[str, TokenUsageTracker] = {}
        self._global = TokenUsageTracker("global")

    def _tracker(self, table: dict[str, TokenUsageTracker], name: str) -> TokenUsageTracker:
        tracker = table.get(name)
        if tracker is None:
            with self._lock:
                tracker = table.setdefault(name, TokenUsageTracker(name))
        return tracker

    def record_model_usage(self, model: str, input: int, output: int) -> None:
        self._tracker(self._models, model).record(input, output)
        self._global.record(input, output)

    def record_operation_usage(self, operation: str, input: int, output: int) -> None:
        self._tracker(self._operations, operation).record(input, output)

    def get_model_tracker(self, model: str) -> TokenUsageTracker | None:
        return self._models.get(model)

    def get_operation_tracker(self, operation: str) -> TokenUsageTracker | None:
        return self._operations.get(operation)

    def global_tracker(self) -> TokenUsageTracker:
        return self._global

    def model_snapshots(self) -> list[TokenUsageSnapshot]:
        with self._lock:
            trackers = list(self._models.values())
        return sorted((t.snapshot() for t in trackers), key=lambda s: s.name)

    def operation_snapshots(self) -> list[TokenUsageSnapshot]:
        with self._lock:
            trackers = list(self._operations.values())
        return sorted((t.snapshot() for t in trackers), key=lambda s: s.name)

    def global_snapshot(self) -> TokenUsageSnapshot:
        return self._global.snapshot()
