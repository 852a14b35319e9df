"""Session persistence on disk: metadata plus an append-only transcript per session.

Layout under ``<data>/sessions/<id>/``:

* ``meta.json``: small, rewritten atomically (temp file + rename) on change;
* ``transcript.jsonl``: one record per line, only ever appended. Compaction
  appends a ``summary`` record that covers the messages before it; history is
  never rewritten or deleted. A torn last line (crash mid-write) is skipped.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import msgspec

from ...errors import Conflict, NotFound, Unavailable
from ..secrets import redact_json
from ..storage import atomic_write
from ._backend import fork_session
from ._records import SessionMeta, Transcript, TranscriptRecord, new_meta

__all__ = ["SessionStore"]


_MAX_OPEN = 64


class SessionStore:
    """The :class:`~._backend.SessionBackend` on disk. Methods are synchronous and cheap;
    callers run them on the event loop (appends are small) — one writer per session is the
    caller's rule. ``_handles`` holds one open append handle per session (bounded)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        # One open append handle per session: open+close per message cost more than
        # the rest of an agent turn. Bounded; closed on delete and close().
        self._handles: dict[str, BinaryIO] = {}
        self._enc = msgspec.json.Encoder()
        self._meta_dec = msgspec.json.Decoder(SessionMeta)
        self._rec_dec = msgspec.json.Decoder(TranscriptRecord)
        self._error: str | None = None

    def _dir(self, session_id: str) -> Path:
        # Ids are ours (``20261121-114421-c79025``); anything a file name cannot be is
        # simply not one of them (R3), not an OS error.
        if (not session_id or len(session_id) > 128 or "/" in session_id or "\0" in session_id
                or session_id.startswith(".")):
            shown = session_id if len(session_id) <= 64 else session_id[:64] + "…"
            raise NotFound(f"no session {shown!r}")
        return self.root / session_id

    def health(self) -> tuple[bool, str | None]:
        """(ok, the last write error): a store that cannot write makes the daemon degraded."""
        return self._error is None, self._error

    @contextlib.contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        """OS errors of a write become :class:`Unavailable` naming the cause (R5: a full
        disk), and mark the store unhealthy until a write succeeds again."""
        try:
            yield
        except OSError as exc:
            self._error = f"cannot write {what}: {exc.strerror or exc} (errno {exc.errno})"
            raise Unavailable(f"the session store {self._error}") from exc
        self._error = None

    def create(self, *, workspace: str, model: str, approval_mode: str, title: str = "",
               parent_id: str | None = None) -> SessionMeta:
        meta = new_meta(workspace, model, approval_mode, title, parent_id)
        with self._writing(f"session {meta.id}"):
            self._dir(meta.id).mkdir(parents=True, mode=0o700)
        self.save_meta(meta)
        return meta

    def save_meta(self, meta: SessionMeta) -> None:
        # Not fsynced: everything in it but todos and read files is rebuilt from the
        # transcript, and an fsync per save would dominate the agent loop.
        with self._writing(f"session {meta.id} metadata"):
            atomic_write(self._dir(meta.id) / "meta.json", redact_json(self._enc.encode(meta)),
                         0o600, durable=False)

    def get(self, session_id: str) -> SessionMeta:
        path = self._dir(session_id) / "meta.json"
        try:
            return self._meta_dec.decode(path.read_bytes())
        except FileNotFoundError:
            raise NotFound(f"no session {session_id!r}") from None
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise Conflict(f"session {session_id} metadata is corrupt ({path}): {exc}") from exc

    def exists(self, session_id: str) -> bool:
        try:
            return (self._dir(session_id) / "meta.json").exists()
        except NotFound:
            return False

    def list(self) -> list[SessionMeta]:
        metas = []
        for child in self.root.iterdir():
            meta_path = child / "meta.json"
            if meta_path.exists():
                try:
                    metas.append(self._meta_dec.decode(meta_path.read_bytes()))
                except (msgspec.DecodeError, msgspec.ValidationError):
                    continue
        return sorted(metas, key=lambda m: m.updated_at, reverse=True)

    def delete(self, session_id: str) -> None:
        directory = self._dir(session_id)
        if not directory.exists():
            raise NotFound(f"no session {session_id!r}")
        fh = self._handles.pop(session_id, None)
        if fh is not None:
            fh.close()
        shutil.rmtree(directory)

    def append(self, session_id: str, records: builtins.list[TranscriptRecord], *, durable: bool = False) -> None:
        try:
            with self._writing(f"session {session_id} transcript"):
                self._append(session_id, records, durable)
        except Unavailable:
            # The handle's buffer may hold part of what failed: drop it, so the next append
            # reopens the file instead of flushing a torn or repeated line later.
            fh = self._handles.pop(session_id, None)
            if fh is not None:
                with contextlib.suppress(OSError):
                    fh.close()
            raise

    def _append(self, session_id: str, records: builtins.list[TranscriptRecord], durable: bool) -> None:
        fh = self._handles.get(session_id)
        if fh is None:
            if len(self._handles) >= _MAX_OPEN:
                self._handles.pop(next(iter(self._handles))).close()
            fd = os.open(self._dir(session_id) / "transcript.jsonl",
                         os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            size = os.fstat(fd).st_size
            torn = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
            fh = os.fdopen(fd, "ab")
            self._handles[session_id] = fh
            if torn:
                # A crash mid-write left a torn last line: end it (readers skip it) so the
                # next record starts a line of its own instead of joining it and being lost.
                fh.write(b"\n")
        fh.write(b"".join(redact_json(self._enc.encode(r)) + b"\n" for r in records))
        fh.flush()  # to the OS on every append: a daemon crash loses nothing written
        if durable:
            os.fsync(fh.fileno())

    def last_modified(self, session_id: str) -> float:
        try:
            return (self._dir(session_id) / "transcript.jsonl").stat().st_mtime
        except OSError:
            return 0.0

    def close(self) -> None:
        for fh in self._handles.values():
            fh.close()
        self._handles.clear()

    def load(self, session_id: str) -> Transcript:
        path = self._dir(session_id) / "transcript.jsonl"
        transcript = Transcript(messages=[], summaries=[], started=set())
        if not path.exists():
            return transcript
        with path.open("rb") as fh:
            for line in fh:
                try:
                    record = self._rec_dec.decode(line)
                except (msgspec.DecodeError, msgspec.ValidationError):
                    continue  # torn last line after a crash; later lines stay readable
                transcript.add(record)
        return transcript

    def fork(self, session_id: str, at_message: int | None = None) -> SessionMeta:
        return fork_session(self, session_id, at_message)
