"""The one object the daemon talks to: :class:`Telemetry`."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

from ....errors import Unavailable
from ._pricing import ContextLimit
from ._privacy import Redactor, TelemetrySettings, sanitize
from ._store import TelemetryStore
from ._tokens import TokenCounts, TokenUsageRegistry
from ._tools import ToolExecution, ToolExecutionTracker

__all__ = ["Telemetry"]


class Telemetry:
    """Records tool executions and token usage; answers stats, exports and context levels.

    Synchronous and cheap (one encode and one buffered write per record) so the
    event loop can call it inline. ``enabled=False`` makes every ``record_*`` a
    no-op; ``persist=False`` keeps everything in memory. Thread safety comes from
    the components (tracker, registry, store), each guarding its own state.
    A closed instance raises :class:`~codetether.daemon.errors.Unavailable`.
    """

    def __init__(self, directory: Path, settings: TelemetrySettings | None = None, **store_options: Any) -> None:
        self.settings = settings or TelemetrySettings()
        self.redactor = Redactor()
        self.tracker = ToolExecutionTracker(max(1, self.settings.max_executions))
        self.tokens = TokenUsageRegistry()
        self.store = TelemetryStore(Path(directory), self.settings, redactor=self.redactor, **store_options)
        self._closed = False

    def add_secret(self, value: str) -> None:
        """Scrub ``value`` from everything persisted or exported from now on."""
        self.redactor.add(value)

    def _check(self) -> None:
        if self._closed:
            raise Unavailable("telemetry is closed")

    def record_tool(self, execution: ToolExecution) -> None:
        self._check()
        if not self.settings.enabled:
            return
        kept = sanitize(execution, self.settings)
        self.tracker.record(kept)
        self.store.append_execution(kept)

    def record_tokens(self, model: str, operation: str | None, counts: TokenCounts) -> None:
        self._check()
        if not self.settings.enabled:
            return
        self.tokens.record_model_usage(model, counts.input, counts.output)
        if operation:
            self.tokens.record_operation_usage(operation, counts.input, counts.output)
        self.store.append_tokens(model, operation, counts.input, counts.output)

    def stats(self, since: float | None = None) -> dict[str, Any]:
        """Totals, per tool, per model (tokens, cost) and per operation; ``since`` in Unix seconds."""
        self._check()
        return self.store.stats(since)

    def export(self) -> dict[str, Any]:
        """The seed's ``telemetry.json`` shape: ``executions``, ``stats``, ``last_updated``."""
        self._check()
        return self.store.export()

    def context_limit(self, model: str, current_tokens: int, limit: int | None = None) -> ContextLimit | None:
        """Window usage of ``model``; None when its window is unknown and no ``limit`` given."""
        return ContextLimit.for_model(model, current_tokens, limit)

    def health(self) -> tuple[bool, str | None]:
        return self.store.health()

    def report(self, path: Path, since: float | None = None) -> Path:
        """Write the HTML report of the retained records to ``path``."""
        from ._report import render_report

        self._check()
        return render_report(list(self.store.records(since)), path)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.store.close()

    def __enter__(self) -> Telemetry:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> Telemetry:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
