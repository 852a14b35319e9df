"""Secret values the daemon has handled, and their removal from anything it records.

Every credential the secret store resolves is registered here; telemetry, the
audit trail, the event streams and the daemon log pass what they write through
:func:`redact`, so a provider key can never reach disk even if a model or a tool
echoes it.
"""

from __future__ import annotations

import logging
import re
import threading

__all__ = ["RedactingFilter", "redact", "register", "values"]

_MIN_LEN = 8  # shorter strings would redact ordinary words
_lock = threading.Lock()
_values: set[str] = set()
_pattern: re.Pattern[str] | None = None


def register(*secrets: str | None) -> None:
    global _pattern
    fresh = {s for s in secrets if s and len(s) >= _MIN_LEN} - _values
    if not fresh:
        return
    with _lock:
        _values.update(fresh)
        # Longest first, so a secret containing another is removed whole.
        _pattern = re.compile("|".join(re.escape(v) for v in sorted(_values, key=len, reverse=True)))


def values() -> frozenset[str]:
    return frozenset(_values)


def redact(text: str) -> str:
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub("[REDACTED]", text)


class RedactingFilter(logging.Filter):
    """A log filter that redacts every record's rendered message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _pattern is not None:
            message = record.getMessage()
            cleaned = redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True
