"""Telemetry: tool executions, token usage, cost estimates and context levels.

The daemon talks to :class:`Telemetry`; the lower layers are public for tests and tools::

    Telemetry            facade: record_tool / record_tokens / stats / export / health
    ├── ToolExecutionTracker, TokenUsageRegistry   in-memory views (thread-safe)
    └── TelemetryStore   append-only JSONL segments + summary.json (see its module),
                         the backend of the TelemetryBackend interface

Nothing leaves the machine. Secrets registered with :meth:`Telemetry.add_secret`
are scrubbed from every persisted and exported byte.
"""

from ._facade import Telemetry
from ._interface import TelemetryBackend
from ._pricing import (
    ContextLevel,
    ContextLimit,
    CostEstimate,
    ModelPrice,
    context_window,
    model_price,
    normalize_model,
)
from ._privacy import REDACTED, Redactor, TelemetrySettings, anonymize_path, redact, sanitize
from ._records import TokenRecord, ToolRecord
from ._report import render_report
from ._store import TelemetryStore
from ._tokens import TokenCounts, TokenStats, TokenUsageRegistry, TokenUsageSnapshot, TokenUsageTracker
from ._tools import FileChange, FileChangeType, ToolExecution, ToolExecutionStats, ToolExecutionTracker

__all__ = [
    "REDACTED",
    "ContextLevel",
    "ContextLimit",
    "CostEstimate",
    "FileChange",
    "FileChangeType",
    "ModelPrice",
    "Redactor",
    "Telemetry",
    "TelemetryBackend",
    "TelemetrySettings",
    "TelemetryStore",
    "TokenCounts",
    "TokenRecord",
    "TokenStats",
    "TokenUsageRegistry",
    "TokenUsageSnapshot",
    "TokenUsageTracker",
    "ToolExecution",
    "ToolExecutionStats",
    "ToolExecutionTracker",
    "ToolRecord",
    "anonymize_path",
    "context_window",
    "model_price",
    "normalize_model",
    "redact",
    "render_report",
    "sanitize",
]
