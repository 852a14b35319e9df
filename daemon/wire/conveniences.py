"""Params and results of the conveniences' methods: the project instructions a run sees
(``instructions/get``), undo of a session's file changes (``session/undo``), and a session
as one JSON document (``session/export``, ``session/import``)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = [
    "EXPORT_FORMAT",
    "InstructionPartView",
    "InstructionsParams",
    "InstructionsView",
    "SessionExport",
    "SessionExportParams",
    "SessionImportParams",
    "UndoChange",
    "UndoParams",
    "UndoResult",
]

#: The ``format`` field of an exported session; ``version`` says its revision.
EXPORT_FORMAT = "codetether.session"


class InstructionsParams(msgspec.Struct, forbid_unknown_fields=True):
    workspace: str


class InstructionPartView(msgspec.Struct, forbid_unknown_fields=True):
    path: str
    size: int  # bytes of the whole file
    shown: int  # bytes the agent sees (less when the cap cut it)
    truncated: bool


class InstructionsView(msgspec.Struct, forbid_unknown_fields=True):
    workspace: str
    cap: int
    parts: list[InstructionPartView]
    #: The whole system prompt a run in ``workspace`` starts with.
    system_prompt: str


class UndoParams(msgspec.Struct, forbid_unknown_fields=True):
    session_id: str
    #: Keep the session's first ``to`` file changes and undo the rest; None: undo the changes
    #: of the session's last prompt.
    to: int | None = None
    #: Only say what would be restored.
    dry_run: bool = False


class UndoChange(msgspec.Struct, forbid_unknown_fields=True):
    number: int  # 1-based, in the order the session made its changes
    path: str
    kind: str  # create | modify | delete (what the agent did)
    tool: str
    #: restored (or would be, dry run) | already (the file is as before the change) |
    #: conflict (changed since: nothing was written) | kept (before ``to``)
    status: Literal["restored", "already", "conflict", "kept"]
    detail: str = ""


class UndoResult(msgspec.Struct, forbid_unknown_fields=True):
    session_id: str
    workspace: str
    changes: list[UndoChange]
    #: Whether files were written: false on a dry run and when any change conflicts
    #: (all or nothing).
    applied: bool


class SessionExportParams(msgspec.Struct, forbid_unknown_fields=True):
    session_id: str


class SessionExport(msgspec.Struct, forbid_unknown_fields=True):
    """A session as one document: ``meta`` (its metadata) and ``transcript`` (its records:
    ``{"type": "message", "index", "ts", "message"}`` and ``{"type": "summary", ...}``)."""

    format: str
    version: int
    exported_at: float
    meta: dict[str, Any]
    transcript: list[dict[str, Any]]


class SessionImportParams(msgspec.Struct, forbid_unknown_fields=True):
    #: An exported document: ``{"format", "version", "meta", "transcript"}``.
    document: dict[str, Any]
    #: Where the imported session works (default: the exported one's workspace).
    workspace: str | None = None
