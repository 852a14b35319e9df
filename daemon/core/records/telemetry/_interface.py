"""The interface of a telemetry record store (one backend today: :class:`TelemetryStore`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from ._records import Record

__all__ = ["TelemetryBackend"]


class TelemetryBackend(Protocol):
    """Where :class:`Telemetry` keeps tool executions and token usage.

    Checked by ``tests/contract/test_telemetry_store_contract.py`` for every backend:
    records come back in order with gapless seqs and survive a restart; totals are
    right while writes fail and nothing held is lost once they succeed again.
    """

    def append_execution(self, execution: Any) -> None:
        """Record one (sanitized) tool execution."""
        ...

    def append_tokens(self, model: str, operation: str | None, input: int, output: int) -> None:
        """Record one model call's token counts."""
        ...

    def records(self, since: float | None = None) -> Iterator[Record]:
        """Retained records with ``ts >= since``, oldest first."""
        ...

    def stats(self, since: float | None = None) -> dict[str, Any]:
        """Totals per tool, model and operation."""
        ...

    def export(self) -> dict[str, Any]:
        """The seed's ``telemetry.json`` shape."""
        ...

    def retry(self) -> bool:
        """Retry a degraded store's writes now; True when healthy."""
        ...

    def health(self) -> tuple[bool, str | None]:
        """``(True, None)``, or ``(False, why)`` while writes fail."""
        ...

    def close(self) -> None:
        """Write what it can and close. Idempotent."""
        ...
