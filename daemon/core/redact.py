"""The one redactor: secret values the daemon has handled, and their removal from
everything it writes or sends.

Every credential the secret store resolves (Vault, the environment, the variables a
client forwards with a prompt) and the Vault token are registered here. Everything
that leaves the daemon passes through it: session transcripts and metadata, approval
records, event streams, telemetry, the audit trail, the daemon log, and every frame
sent to a client. A model or a tool that echoes a key cannot put it on disk or on a
screen, even in pieces across streamed chunks (:class:`StreamRedactor`).

The registry is process-wide and only grows; ``_lock`` guards updates of ``_values``
and the compiled patterns (readers take the current pattern objects without it).
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

import msgspec

__all__ = [
    "REDACTED",
    "RedactingFilter",
    "StreamRedactor",
    "redact",
    "redact_bytes",
    "redact_value",
    "register",
    "values",
]

REDACTED = "[REDACTED]"
_MIN_LEN = 8  # shorter strings would redact ordinary words
_lock = threading.Lock()
_values: set[str] = set()
_pattern: re.Pattern[str] | None = None
_bytes_pattern: re.Pattern[bytes] | None = None
_longest = 0


def register(*secrets: str | None) -> None:
    """Redact these values from now on (``None``, empty and short values are ignored)."""
    global _pattern, _bytes_pattern, _longest
    fresh = {s for s in secrets if s and len(s) >= _MIN_LEN} - _values
    if not fresh:
        return
    with _lock:
        _values.update(fresh)
        ordered = sorted(_values, key=len, reverse=True)  # a secret containing another goes whole
        # Bytes are matched raw and JSON-escaped: they are usually encoded JSON lines.
        forms = sorted({f for v in ordered for f in (v.encode(), msgspec.json.encode(v)[1:-1])},
                       key=len, reverse=True)
        _bytes_pattern = re.compile(b"|".join(re.escape(f) for f in forms))
        _pattern = re.compile("|".join(re.escape(v) for v in ordered))
        _longest = len(ordered[0])


def values() -> frozenset[str]:
    return frozenset(_values)


def redact(text: str) -> str:
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(REDACTED, text)


def redact_bytes(data: bytes) -> bytes:
    pattern = _bytes_pattern
    if pattern is None or not data:
        return data
    return pattern.sub(REDACTED.encode(), data)


def redact_value(value: Any) -> Any:
    """``value`` with secrets removed from every string in it (dicts, lists, Structs).
    Returns ``value`` itself when there is nothing to remove."""
    if _pattern is None:
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (dict, list, tuple, msgspec.Struct)):
        encoded = msgspec.json.encode(value)
        cleaned = redact_bytes(encoded)
        if cleaned == encoded:
            return value
        kind = type(value)
        if isinstance(value, tuple):
            kind = list  # type: ignore[assignment]
        return msgspec.json.decode(cleaned, type=kind)
    return value


class StreamRedactor:
    """Redacts text that arrives in pieces: a secret split across chunks is caught.

    ``feed`` returns what is safe to pass on now; it holds back only a tail that is
    the start of a registered secret (usually nothing), and ``flush`` releases it.
    ``_held`` is the text held back; one instance serves one stream.
    """

    def __init__(self) -> None:
        self._held = ""

    def feed(self, chunk: str) -> str:
        if _pattern is None:
            out, self._held = self._held + chunk, ""
            return out
        text = redact(self._held + chunk)
        keep = _partial_secret_suffix(text)
        self._held = text[len(text) - keep:] if keep else ""
        return text[: len(text) - keep]

    def flush(self) -> str:
        out, self._held = redact(self._held), ""
        return out


def _partial_secret_suffix(text: str) -> int:
    """The length of the longest suffix of ``text`` that a secret starts with."""
    secrets = _values
    for k in range(min(len(text), _longest - 1), 0, -1):
        tail = text[-k:]
        if any(s.startswith(tail) for s in secrets):
            return k
    return 0


class RedactingFilter(logging.Filter):
    """A log filter that redacts every record's rendered message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _pattern is not None:
            message = record.getMessage()
            cleaned = redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
            if record.exc_info and record.exc_info[1] is not None:
                # Tracebacks render the exception message too.
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True
