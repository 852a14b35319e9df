"""The interface every session store implements, and what all of them share.

Two backends today: :class:`~._store.SessionStore` (files under the data dir) and
:class:`~._memory.MemorySessionStore` (``[session] auto_save = false``). One contract
suite (``tests/contract/test_session_store_contract.py``) runs against each.
"""

from __future__ import annotations

import builtins
import time
from typing import Protocol

from ._records import MessageRecord, SessionMeta, Transcript, TranscriptRecord

__all__ = ["SessionBackend", "fork_session"]


class SessionBackend(Protocol):
    """A session store: metadata plus an append-only transcript per session.

    Every method is synchronous and cheap; callers run them on the event loop. One
    writer per session is the caller's rule. Unknown (or impossible) ids raise
    :class:`~codetether.daemon.errors.NotFound`.
    """

    def create(self, *, workspace: str, model: str, approval_mode: str, title: str = "",
               parent_id: str | None = None) -> SessionMeta:
        """A new session with a fresh id, its metadata saved."""
        ...

    def save_meta(self, meta: SessionMeta) -> None:
        """Store a copy of ``meta``: later changes to the object are not saved."""
        ...

    def get(self, session_id: str) -> SessionMeta:
        """A copy of the session's saved metadata."""
        ...

    def exists(self, session_id: str) -> bool:
        """Whether the session exists (never raises for a bad id)."""
        ...

    def list(self) -> builtins.list[SessionMeta]:
        """Every session, most recently updated first."""
        ...

    def delete(self, session_id: str) -> None:
        """Remove the session, metadata and transcript."""
        ...

    def append(self, session_id: str, records: builtins.list[TranscriptRecord], *,
               durable: bool = False) -> None:
        """Append records to the transcript (``durable``: on disk before returning)."""
        ...

    def load(self, session_id: str) -> Transcript:
        """The transcript as appended so far."""
        ...

    def fork(self, session_id: str, at_message: int | None = None) -> SessionMeta:
        """A new session holding the first ``at_message`` messages (all when None)."""
        ...

    def last_modified(self, session_id: str) -> float:
        """When the transcript last changed, as a Unix time (0.0 when unknown)."""
        ...

    def health(self) -> tuple[bool, str | None]:
        """(ok, the last write error): a store that cannot write makes the daemon degraded."""
        ...

    def close(self) -> None:
        """Release open files; the store stays usable (it reopens what it needs)."""
        ...


def fork_session(store: SessionBackend, session_id: str, at_message: int | None) -> SessionMeta:
    """``store.fork``, written once for every backend: the prefix of the messages, the
    summaries that cover only that prefix, the tool-owned state, and a link to the parent."""
    source = store.get(session_id)
    transcript = store.load(session_id)
    keep = transcript.messages if at_message is None else transcript.messages[:max(0, at_message)]
    meta = store.create(workspace=source.workspace, model=source.model,
                        approval_mode=source.approval_mode,
                        title=f"{source.title} (fork)".strip(), parent_id=source.id)
    now = time.time()
    records: builtins.list[TranscriptRecord] = [MessageRecord(i, now, m) for i, m in enumerate(keep)]
    records += [s for s in transcript.summaries if s.covers <= len(keep)]
    if records:
        store.append(meta.id, records)
    meta.message_count = len(keep)
    meta.state = dict(source.state)
    store.save_meta(meta)
    return meta
