"""Storage primitives every store shares: atomic file replacement, and the one append-only
JSON Lines log (torn-tail repair, degraded writes with a bounded in-memory backlog).

    atomic_write   write a whole file via a temp file and ``os.replace``
    JsonlLog       one append-only JSONL file, its torn tail and its backlog
    AppendLog      the interface a record store writes through (JsonlLog is its backend)
    pwrite_all     a positioned write that retries short writes
"""

from ._atomic import atomic_write
from ._interface import AppendLog
from ._jsonl import Appended, JsonlLog, pwrite_all

__all__ = [
    "AppendLog",
    "Appended",
    "JsonlLog",
    "atomic_write",
    "pwrite_all",
]
