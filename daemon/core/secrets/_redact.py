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
    "redact_json",
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
_frozen: frozenset[str] = frozenset()


def register(*secrets: str | None) -> None:
    """Redact these values from now on (``None``, empty and short values are ignored)."""
    fresh = {s for s in secrets if s and len(s) >= _MIN_LEN} - _values
    if fresh:
        with _lock:
            _values.update(fresh)
            _compile()


def _replace_all(secrets: frozenset[str]) -> None:
    """Tests only: put the registry back to ``secrets`` (it otherwise only grows)."""
    with _lock:
        _values.clear()
        _values.update(secrets)
        _compile()


def _compile() -> None:
    global _pattern, _bytes_pattern, _longest, _frozen
    _frozen = frozenset(_values)  # what readers iterate: never a set being updated
    if not _values:
        _pattern = _bytes_pattern = None
        _longest = 0
        return
    ordered = sorted(_values, key=len, reverse=True)  # a secret containing another goes whole
    # Bytes are encoded JSON: a secret appears there in its JSON-escaped form (the raw form
    # of one with a quote or backslash never does, and matching it could cut an escape).
    forms = sorted({msgspec.json.encode(v)[1:-1] for v in ordered}, key=len, reverse=True)
    _bytes_pattern = re.compile(b"|".join(re.escape(f) for f in forms))
    _pattern = re.compile("|".join(re.escape(v) for v in ordered))
    _longest = len(ordered[0])


def values() -> frozenset[str]:
    """Every secret value registered so far."""
    return _frozen


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by :data:`REDACTED`."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(REDACTED, text)


def redact_bytes(data: bytes) -> bytes:
    """:func:`redact` for bytes."""
    pattern = _bytes_pattern
    if pattern is None or not data:
        return data
    return pattern.sub(REDACTED.encode(), data)


def redact_json(encoded: bytes) -> bytes:
    """Encoded JSON with secrets removed, still valid JSON: the fast byte replacement,
    checked whenever it changed something (a replacement that cut into an escape
    sequence falls back to redacting each decoded string)."""
    cleaned = redact_bytes(encoded)
    if cleaned is encoded or cleaned == encoded:
        return encoded
    try:
        msgspec.json.decode(cleaned)
    except msgspec.DecodeError:
        return msgspec.json.encode(_walk(msgspec.json.decode(encoded)))
    return cleaned


def redact_value(value: Any) -> Any:
    """``value`` with secrets removed from every string in it (dicts, lists, Structs).
    Returns ``value`` itself when there is nothing to remove."""
    if _pattern is None:
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (dict, list, tuple, msgspec.Struct)):
        encoded = msgspec.json.encode(value)
        cleaned = redact_json(encoded)
        if cleaned == encoded:
            return value
        kind = list if isinstance(value, tuple) else type(value)
        return msgspec.json.decode(cleaned, type=kind)
    return value


def _walk(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(k): _walk(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v) for v in value]
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
    secrets = _frozen
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
