"""The audit entry, its canonical encoding and hash chain, and the redactor.

An entry is one JSON line. Its ``hash`` is the sha256 of the canonical encoding of
the entry without ``hash`` (msgspec, struct fields in declaration order, dict keys
sorted, fields equal to their default omitted); ``prev`` is the sha256 of the
previous entry's line as stored (without the newline), ``""`` for the first. The
line itself is that encoding with ``"hash":"<hex>"`` as its last member, so a
line is canonical exactly when decoding and re-encoding it gives the same bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import msgspec

from ....wire.records import OUTCOMES, AuditEntry, Outcome, VerifyResult
from ...secrets import redact

__all__ = [
    "AuditEntry",
    "OUTCOMES",
    "Outcome",
    "Redactor",
    "VerifyResult",
    "decoder",
    "digest",
    "scrub_surrogates",
    "seal",
    "unseal",
]

_encoder = msgspec.json.Encoder(order="deterministic")
decoder = msgspec.json.Decoder(AuditEntry)
_HASH_KEY = b',"hash":"'


def digest(line: bytes) -> str:
    """The value the next entry's ``prev`` must hold after ``line``."""
    return hashlib.sha256(line).hexdigest()


def seal(draft: AuditEntry, seq: int, prev: str) -> tuple[AuditEntry, bytes]:
    """Chain ``draft`` after ``prev``: the sealed entry and its line (no newline)."""
    unhashed = msgspec.structs.replace(draft, seq=seq, prev=prev, hash="")
    body = _encoder.encode(unhashed)
    h = hashlib.sha256(body).hexdigest()
    line = body[:-1] + _HASH_KEY + h.encode() + b'"}'
    return msgspec.structs.replace(unhashed, hash=h), line


def unseal(entry: AuditEntry) -> tuple[str, bytes]:
    """The hash ``entry`` should carry and the canonical line it should be stored as."""
    body = _encoder.encode(msgspec.structs.replace(entry, hash=""))
    return hashlib.sha256(body).hexdigest(), body[:-1] + _HASH_KEY + entry.hash.encode() + b'"}'


REDACTED = "[REDACTED]"
_MAX_DEPTH = 6
_MAX_ITEMS = 200


class Redactor:
    """Replaces every known secret with ``[REDACTED]`` and truncates long strings.

    Secrets are replaced before truncation, so no cut can leave a whole secret; the
    longest secrets go first, so one that contains another is not half-replaced.
    Values JSON cannot hold (bytes, paths, objects) become ``str()`` first.
    """

    def __init__(self, secrets: Iterable[str], max_chars: int = 2000) -> None:
        self.secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))
        self.max_chars = max_chars

    def text(self, value: str) -> str:
        value = redact(value)  # the daemon's one registry of secrets first
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        if len(value) > self.max_chars:
            cut = len(value) - self.max_chars
            value = f"{value[:self.max_chars]}…[{cut} more chars]"
        return value

    def value(self, value: Any, depth: int = 0) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, (bool, float)):
            return value
        if isinstance(value, int):
            # JSON readers in other languages lose precision beyond 64 bits.
            return value if -(2**63) <= value < 2**64 else self.text(str(value))
        if depth >= _MAX_DEPTH:
            return "[too deep]"
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for i, (key, item) in enumerate(value.items()):
                if i == _MAX_ITEMS:
                    out["…"] = f"{len(value) - _MAX_ITEMS} more keys"
                    break
                out[self.text(str(key))] = self.value(item, depth + 1)
            return out
        if isinstance(value, (list, tuple)):
            items = [self.value(item, depth + 1) for item in value[:_MAX_ITEMS]]
            if len(value) > _MAX_ITEMS:
                items.append(f"…{len(value) - _MAX_ITEMS} more items")
            return items
        return self.text(str(value))


def scrub_surrogates(value: Any) -> Any:
    """Lone surrogates cannot be UTF-8; replaced rather than failing the record."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {scrub_surrogates(k): scrub_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_surrogates(v) for v in value]
    return value
