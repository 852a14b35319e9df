"""The interface of an audit trail (one backend today: the JSONL :class:`AuditLog`)."""

from __future__ import annotations

from typing import Any, Protocol

from ._entry import AuditEntry, Outcome, VerifyResult

__all__ = ["AuditTrail"]


class AuditTrail(Protocol):
    """Where the daemon records what it did, and reads it back newest first.

    Checked by ``tests/contract/test_audit_store_contract.py`` for every backend: entries
    come back as recorded, newest first, filtered; the chain verifies; writes that fail
    are held (``seq == 0``) and written in order once they succeed; use after close fails.
    """

    def record(self, category: str, action: str, *, principal: str, outcome: Outcome,
               resource: str | None = None, detail: dict[str, Any] | None = None,
               duration_ms: float | None = None, okr_id: str | None = None,
               okr_run_id: str | None = None, relay_id: str | None = None,
               session_id: str | None = None) -> AuditEntry:
        """Append one entry; returns it as written (or, while degraded, as held)."""
        ...

    def recent(self, limit: int = 50) -> list[AuditEntry]:
        """The newest ``limit`` entries, newest first."""
        ...

    def query(self, *, principal: str | None = None, action: str | None = None,
              resource: str | None = None, category: str | None = None,
              outcome: str | None = None, session_id: str | None = None,
              okr_id: str | None = None, okr_run_id: str | None = None, relay_id: str | None = None,
              since: float | None = None, until: float | None = None,
              limit: int = 100) -> list[AuditEntry]:
        """Entries matching every given filter, newest first, at most ``limit``."""
        ...

    def verify(self) -> VerifyResult:
        """Check the stored chain."""
        ...

    def health(self) -> tuple[bool, str | None]:
        """``(True, None)``, or ``(False, why)`` while writes fail."""
        ...

    def close(self) -> None:
        """Write what is held if it can, then close. Idempotent."""
        ...
