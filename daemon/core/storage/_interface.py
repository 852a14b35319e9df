"""The interface a record store writes through (one backend today: :class:`JsonlLog`)."""

from __future__ import annotations

from typing import Protocol, TypeVar

from ._jsonl import Appended

__all__ = ["AppendLog"]

T_contra = TypeVar("T_contra", contravariant=True)


class AppendLog(Protocol[T_contra]):
    """An append-only log with a degraded mode: items that cannot be written yet are held
    in memory, in order and bounded, and written by a later :meth:`append` or :meth:`flush`.
    Checked by ``tests/contract/test_jsonl_store_contract.py`` for every backend."""

    @property
    def degraded(self) -> bool:
        """True while writes fail (items are held)."""
        ...

    def open(self) -> None:
        """Open the log, repairing a torn tail left by a crash."""
        ...

    def append(self, item: T_contra) -> Appended:
        """Write ``item``, or hold it (``"held"``), or drop it when the backlog is full."""
        ...

    def flush(self) -> bool:
        """Write what is held now; True once nothing is held."""
        ...

    def health(self, noun: str = "items") -> tuple[bool, str | None]:
        """``(True, None)``, or ``(False, why)`` while degraded."""
        ...

    def close(self) -> int:
        """Flush what it can and close; the number of items lost."""
        ...
