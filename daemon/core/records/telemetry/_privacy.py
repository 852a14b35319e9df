"""Telemetry settings and what they strip before a record is kept or persisted.

Applied once per record in :func:`sanitize`, so stores and trackers only ever see
the reduced copy. Secret redaction is separate (:class:`Redactor`): it runs on the
encoded bytes of everything written to disk, so no field can slip past it.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from typing import Any

import msgspec

from ...secrets import redact_json, register, values
from ._tools import FileChange, ToolExecution

__all__ = ["REDACTED", "Redactor", "TelemetrySettings", "anonymize_path", "redact", "sanitize"]

REDACTED = "[REDACTED]"


class TelemetrySettings(msgspec.Struct, frozen=True, kw_only=True):
    """The ``[telemetry]`` options; every field has a default.

    ``max_output_chars`` caps stored tool outputs/errors (0 = no cap) so one huge
    tool result cannot bloat the log.
    """

    enabled: bool = True
    persist: bool = True
    max_executions: int = 10_000
    include_file_content: bool = False
    include_tool_args: bool = True
    anonymize_paths: bool = False
    max_output_chars: int = 8192


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret replaced by ``[REDACTED]``."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


class Redactor:
    """The telemetry store's view of the daemon's one redactor (:mod:`..redact`):
    ``add`` registers a secret there, and calling it cleans encoded JSON with it."""

    def add(self, secret: str) -> None:
        register(secret)

    @property
    def secrets(self) -> frozenset[str]:
        return values()

    def __call__(self, data: bytes) -> bytes:
        return redact_json(data)


_HOME = os.path.expanduser("~")
# An absolute POSIX path not preceded by a word char, '.', '~' or '/' (keeps URLs and a/b).
_ABS_PATH = re.compile(r"(?<![\w.~/:-])/(?:[\w.@+-]+/)*[\w.@+-]+")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def anonymize_path(path: str, home: str = _HOME) -> str:
    """Absolute paths lose their directories to a stable hash and keep the file name:
    ``/home/u/proj/a.py`` -> ``~/<hash>/a.py``; relative paths are kept."""
    if not path.startswith("/"):
        return path
    directory, _, name = path.rstrip("/").rpartition("/")
    if home and home != "/" and (path == home or path.startswith(home + "/")):
        if path.rstrip("/") == home:
            return "~"
        rest = directory[len(home) :]
        return f"~/{_digest(rest)}/{name}" if rest else f"~/{name}"
    return f"/{_digest(directory)}/{name}" if directory else f"/{name}"


def _anonymize_text(text: str, home: str) -> str:
    return _ABS_PATH.sub(lambda m: anonymize_path(m.group(0), home), text)


def _anonymize_value(value: Any, home: str) -> Any:
    if isinstance(value, str):
        return _anonymize_text(value, home)
    if isinstance(value, list | tuple):
        return [_anonymize_value(v, home) for v in value]
    if isinstance(value, dict):
        return {k: _anonymize_value(v, home) for k, v in value.items()}
    return value


def _cap(text: str | None, limit: int) -> str | None:
    if text is None or limit <= 0 or len(text) <= limit:
        return text
    return text[:limit] + f"... [{len(text) - limit} chars truncated]"


def _file(change: FileChange, settings: TelemetrySettings, home: str) -> FileChange:
    updates: dict[str, Any] = {}
    if not settings.include_file_content:
        updates.update(before=None, after=None, diff=None)
    if settings.anonymize_paths:
        updates["path"] = anonymize_path(change.path, home)
        if change.old_path:
            updates["old_path"] = anonymize_path(change.old_path, home)
        if settings.include_file_content and change.diff:
            updates["diff"] = _anonymize_text(change.diff, home)
    return msgspec.structs.replace(change, **updates) if updates else change


#: Tool argument fields that carry file content (write_file, edit, multiedit, apply_patch).
_CONTENT_FIELDS = frozenset({"content", "old_string", "new_string", "patch", "edits", "text"})


def _without_content(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (f"[{len(v)} chars omitted]" if isinstance(v, str) else "[omitted]")
                if k in _CONTENT_FIELDS else _without_content(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_content(v) for v in value]
    return value


def sanitize(execution: ToolExecution, settings: TelemetrySettings, home: str = _HOME) -> ToolExecution:
    """A copy of ``execution`` reduced as ``settings`` ask (the caller's object is not changed)."""
    limit = settings.max_output_chars
    updates: dict[str, Any] = {
        "output": _cap(execution.output, limit),
        "error": _cap(execution.error, limit),
        "files_affected": [_file(f, settings, home) for f in execution.files_affected],
        "metadata": dict(execution.metadata),
    }
    if not settings.include_tool_args:
        updates["input"] = None
    elif not settings.include_file_content:
        # What a write tool writes is file content too: keep the arguments, not the text.
        updates["input"] = _without_content(execution.input)
    if settings.anonymize_paths:
        if settings.include_tool_args:
            updates["input"] = _anonymize_value(execution.input, home)
        for key in ("output", "error"):
            if updates[key] is not None:
                updates[key] = _anonymize_text(updates[key], home)
        updates["metadata"] = _anonymize_value(updates["metadata"], home)
    return msgspec.structs.replace(execution, **updates)
