"""The interfaces of event streams (one backend today: JSONL + offset index on disk)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from ._record import EventRecord

__all__ = ["EventLog", "EventLogStore"]


class EventLog(Protocol):
    """One session's events, numbered from 0, readable by seq.

    Checked by ``tests/contract/test_eventstream_store_contract.py`` for every backend.
    """

    session_id: str

    def append(self, kind: str, data: dict[str, Any], *, ts: float | None = None,
               okr_id: str | None = None, okr_run_id: str | None = None,
               relay_id: str | None = None) -> int:
        """Append one event; its seq, or ``-1`` when dropped while degraded."""
        ...

    def read(self, seq: int) -> EventRecord:
        """The event with this seq (``EventNotFound``, ``CorruptEvent``)."""
        ...

    def replay(self, from_seq: int = 0, *, skip_corrupt: bool = False) -> Iterator[EventRecord]:
        """Events from ``from_seq`` on, in order."""
        ...

    def tail(self, n: int) -> list[EventRecord]:
        """The last ``n`` events, oldest first."""
        ...

    def __len__(self) -> int: ...

    @property
    def degraded(self) -> bool:
        """True while writes fail (events are held in memory)."""
        ...

    @property
    def closed(self) -> bool: ...

    def health(self) -> tuple[bool, str | None]:
        """``(True, None)``, or ``(False, why)`` while writes fail."""
        ...

    def close(self) -> None:
        """Write what it can and close. Idempotent."""
        ...


class EventLogStore(Protocol):
    """Every session's event log, opened by session id."""

    def open(self, session_id: str) -> EventLog:
        """The session's log, created on first use."""
        ...

    def append(self, session_id: str, kind: str, data: dict[str, Any], **fields: Any) -> int:
        """``open(session_id).append(kind, data, **fields)``."""
        ...

    def release(self, session_id: str) -> None:
        """Close one session's log; reopened on next use."""
        ...

    def list(self) -> list[str]:
        """Ids of every session with a log, sorted."""
        ...

    def delete(self, session_id: str) -> bool:
        """Remove a session's log; False if it had none."""
        ...

    def health(self) -> tuple[bool, str | None]:
        """``(True, None)``, or ``(False, why)`` naming every degraded log."""
        ...

    def close(self) -> None:
        """Close every log. Idempotent."""
        ...
