"""The session store kept in memory, for ``[session] auto_save = false``."""

from __future__ import annotations

import builtins

import msgspec

from ...errors import NotFound
from ._backend import fork_session
from ._records import SessionMeta, Transcript, TranscriptRecord, new_meta

__all__ = ["MemorySessionStore"]


class MemorySessionStore:
    """A :class:`~._backend.SessionBackend` kept in memory: ``[session] auto_save = false``.
    Sessions live as long as the daemon; nothing is written to disk, so nothing is
    redacted on the way either (nothing leaves the process)."""

    def __init__(self) -> None:
        self._metas: dict[str, SessionMeta] = {}
        self._records: dict[str, list[TranscriptRecord]] = {}
        self._enc = msgspec.json.Encoder()
        self._meta_dec = msgspec.json.Decoder(SessionMeta)

    def create(self, *, workspace: str, model: str, approval_mode: str, title: str = "",
               parent_id: str | None = None) -> SessionMeta:
        meta = new_meta(workspace, model, approval_mode, title, parent_id)
        self._records[meta.id] = []
        self.save_meta(meta)
        return meta

    def save_meta(self, meta: SessionMeta) -> None:
        # A copy, as the file store would hold: later mutation of ``meta`` is not saved.
        self._metas[meta.id] = self._meta_dec.decode(self._enc.encode(meta))

    def get(self, session_id: str) -> SessionMeta:
        try:
            return self._meta_dec.decode(self._enc.encode(self._metas[session_id]))
        except KeyError:
            raise NotFound(f"no session {session_id!r}") from None

    def exists(self, session_id: str) -> bool:
        return session_id in self._metas

    def list(self) -> builtins.list[SessionMeta]:
        return sorted((self.get(i) for i in self._metas), key=lambda m: m.updated_at, reverse=True)

    def delete(self, session_id: str) -> None:
        self.get(session_id)
        del self._metas[session_id], self._records[session_id]

    def append(self, session_id: str, records: builtins.list[TranscriptRecord], *, durable: bool = False) -> None:
        self.get(session_id)
        self._records[session_id].extend(records)

    def fork(self, session_id: str, at_message: int | None = None) -> SessionMeta:
        return fork_session(self, session_id, at_message)

    def health(self) -> tuple[bool, str | None]:
        return True, None  # nothing is written, so nothing can fail to be

    def close(self) -> None:
        pass

    def last_modified(self, session_id: str) -> float:
        return self.get(session_id).updated_at

    def load(self, session_id: str) -> Transcript:
        self.get(session_id)
        transcript = Transcript(messages=[], summaries=[], started=set())
        for record in self._records[session_id]:
            transcript.add(record)
        return transcript
