"""Random ids for tasks, contexts, messages and artifacts.

Each id is a version-4 UUID's 32 hex digits, as ``uuid.uuid4().hex`` gives, but cut
from one batch of ``os.urandom`` bytes per :data:`_BATCH` ids: ``uuid4`` makes one
``getrandom`` system call per id, and a task takes four ids on the request path.
The bytes are as unpredictable either way (the same kernel source).
"""

from __future__ import annotations

import os
import threading

__all__ = ["new_id"]

_BATCH = 256
_lock = threading.Lock()
_pool: list[str] = []
# A forked child must not hand out the ids its parent still holds.
os.register_at_fork(after_in_child=_pool.clear)


def new_id() -> str:
    """A fresh random id: 32 lower-case hex digits of a version-4 UUID."""
    with _lock:
        if not _pool:
            _pool.extend(_uuid4_hex(os.urandom(16 * _BATCH)))
        return _pool.pop()


def _uuid4_hex(raw: bytes) -> list[str]:
    out = []
    for i in range(0, len(raw), 16):
        # The version (4) and variant (10xx) bits, set as uuid.UUID(version=4) does.
        n = int.from_bytes(raw[i:i + 16], "big")
        n = (n & ~(0xF000 << 64) | (0x4000 << 64)) & ~(0xC000 << 48) | (0x8000 << 48)
        out.append(f"{n:032x}")
    return out
