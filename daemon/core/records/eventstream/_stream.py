"""One session's event stream: an append-only JSONL log plus a fixed-width offset index.

Layout under ``<directory>/<session_id>/``::

    events.jsonl   one JSON record per line (see EventRecord), seq 0 on line 0
    events.idx     little-endian uint64 byte offset of line N at byte N*8
    events.torn    torn tail bytes moved out of the log by open-time repair (rare)

Reading event N is one positioned read of the index (entries N and N+1: where the
line starts and where it ends) and one positioned read of exactly that line of the
log; nothing is scanned. Appending is one positioned write to each file.

With ``index_from`` (the store passes :data:`INDEX_FROM`) a small stream's index is
not a file: it lives in an anonymous in-memory file (``memfd``, Linux) until the log
reaches ``index_from`` bytes, and is written to ``events.idx`` then, whole. A new
session costs two inode creations instead of three (one A2A task is one session).
The index is derived data: after a crash, or on any later open of a log without
one, :func:`validate` rebuilds it from the log in one scan of at most
``index_from`` bytes. The log itself is written exactly as before.
"""

from __future__ import annotations

import bisect
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from ....errors import InvalidParams
from ....wire.events import SessionEvent
from ...storage import JsonlLog, pwrite_all
from ._errors import CorruptEvent, EventNotFound, StreamClosed
from ._record import EventRecord, _Line, decode_line, encode_line
from ._repair import ENTRY, validate

log = logging.getLogger("codetether.eventstream")

_SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

LOG_NAME = "events.jsonl"
INDEX_NAME = "events.idx"
TORN_NAME = "events.torn"

# Module-level so tests can count the positioned reads one lookup makes.
_pread = os.pread

#: Log size (bytes) from which a stream's index is a file; see the module docstring.
INDEX_FROM = 256 << 10

_memfd_create = getattr(os, "memfd_create", None)  # Linux only; elsewhere the index is a file

_REPLAY_ENTRIES = 1024
_REPLAY_BYTES = 4 << 20


class EventStream:
    """The event stream of one session; see the module docstring for the file layout.

    ``_lock`` guards the log (its descriptor, end and in-memory backlog: a
    :class:`~codetether.daemon.core.storage.JsonlLog`), the index descriptor and ``_count``, so appends from threads stay ordered and reads see whole
    records.

    When a write fails (disk full, read-only file system) the stream turns
    *degraded*: it logs one error, keeps the event (already numbered) in a bounded
    in-memory backlog and retries the whole backlog, in order, before the next event
    is written. Past ``max_backlog`` events it drops the new event, counts it in
    ``dropped`` and returns ``-1`` instead of a seq, so the seqs on disk never skip.
    Backlogged events are readable (``read``, ``replay``, ``tail``) with
    ``offset == -1``. ``seq`` counts from 0.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        session_id: str,
        *,
        fsync: bool = False,
        max_backlog: int = 10_000,
        index_from: int = 0,
    ) -> None:
        self.session_id = check_session_id(session_id)
        self.path = Path(directory) / session_id
        self.fsync = fsync
        self.max_backlog = max_backlog
        # One mkdir in the common case (the directory of streams exists): a new session
        # per A2A task opens a stream on the request path.
        fresh = True  # we made the directory: both files are new and empty
        try:
            os.mkdir(self.path, 0o700)
        except FileNotFoundError:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                self.path.mkdir(mode=0o700)
            except FileExistsError:
                fresh = False
        except FileExistsError:
            fresh = False
        self._lock = threading.Lock()
        # The line is numbered before it is held, so a dropped event is the new one
        # (seqs on disk never skip); the index is repaired by validate(), not on open.
        self._log: JsonlLog[bytes] = JsonlLog(
            self.path / LOG_NAME,
            self._write,
            fsync=fsync,
            positioned=True,
            backlog_limit=max_backlog,
            drop="newest",
            on_degraded=self._degraded,
            on_recovered=self._recovered,
        )
        self._log.open()
        assert self._log.fd is not None
        self._log_fd = self._log.fd
        # Where the index lives: a file, or (a small stream, see the module docstring)
        # memory until the log reaches ``index_from`` bytes.
        self._index_from = index_from if _memfd_create is not None and index_from > 0 else 0
        try:
            self._idx_fd = self._open_index(fresh)
        except BaseException:
            self._log.close_file()
            raise
        try:
            # A directory we just made holds nothing to validate (the log's end is 0).
            self._count = 0 if fresh else validate(self._log, self._idx_fd, self.path / TORN_NAME,
                                                   expect_session=session_id)
        except BaseException:
            self._close_fds()
            raise
        self._closed = False

    # -- writing -----------------------------------------------------------------

    def _open_index(self, fresh: bool) -> int:
        """The index descriptor: ``events.idx``, or an in-memory file (``_index_from`` set
        while the stream is small). Keeps ``_index_from`` at 0 once the index is a file."""
        path = self.path / INDEX_NAME
        if self._index_from and not fresh:
            try:  # an existing index file stays the index
                fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
            except FileNotFoundError:
                if self._log.end >= self._index_from:
                    self._index_from = 0
            else:
                self._index_from = 0
                return fd
        if self._index_from:
            assert _memfd_create is not None
            try:
                return int(_memfd_create(f"events.idx:{self.session_id}", os.MFD_CLOEXEC))
            except OSError as exc:  # ENOSYS/EPERM in some sandboxes and old kernels: a file, as before
                log.debug("event index of %s is a file: no memfd (%s)", self.session_id, exc)
                self._index_from = 0
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def _index_to_file(self) -> None:
        """Write the in-memory index to ``events.idx`` (the log reached ``index_from``).

        The file is complete before it replaces the memory copy; if it cannot be
        written, the memory copy stays and the next append tries again."""
        entries = os.pread(self._idx_fd, self._count * ENTRY.size, 0)
        fd = -1
        try:
            fd = os.open(self.path / INDEX_NAME, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            pwrite_all(fd, entries, 0)
            if self.fsync:
                os.fsync(fd)
        except OSError as exc:
            if fd >= 0:
                os.close(fd)
            log.debug("event index of %s stays in memory for now: %s", self.session_id, exc)
            return
        os.close(self._idx_fd)
        self._idx_fd = fd
        self._index_from = 0

    def append(
        self,
        kind: str,
        data: dict[str, Any],
        *,
        ts: float | None = None,
        okr_id: str | None = None,
        okr_run_id: str | None = None,
        relay_id: str | None = None,
    ) -> int:
        """Append one event and return its seq (``-1`` if dropped while degraded)."""
        with self._lock:
            self._check_open()
            seq = self._count + len(self._log.held)
            line = encode_line(
                _Line(
                    seq=seq,
                    ts=time.time() if ts is None else ts,
                    session_id=self.session_id,
                    kind=kind,
                    data=data,
                    okr_id=okr_id,
                    okr_run_id=okr_run_id,
                    relay_id=relay_id,
                )
            )
            if self._log.append(line) == "dropped":
                return -1
            return seq

    def append_event(
        self,
        event: SessionEvent,
        *,
        ts: float | None = None,
        okr_id: str | None = None,
        okr_run_id: str | None = None,
        relay_id: str | None = None,
    ) -> int:
        """Append a wire event (``TextChunk``, ``ToolCallEnd``, ...) under its tag as kind."""
        data = msgspec.to_builtins(event)
        kind = data.pop("type")
        return self.append(kind, data, ts=ts, okr_id=okr_id, okr_run_id=okr_run_id, relay_id=relay_id)

    def _write(self, line: bytes) -> None:
        """The line into the log, then its offset into the index; both or neither."""
        start = self._log.write(line)
        try:
            pwrite_all(self._idx_fd, ENTRY.pack(start), self._count * ENTRY.size)
            if self.fsync:
                os.fsync(self._idx_fd)
        except OSError:
            self._log.cut(start)
            raise
        self._count += 1
        if self._index_from and self._log.end >= self._index_from:
            self._index_to_file()

    def _degraded(self, exc: OSError) -> None:
        log.error(
            "event stream %s degraded: cannot write %s: %s; keeping up to %d events in memory",
            self.session_id,
            self.path / LOG_NAME,
            exc,
            self.max_backlog,
        )

    def _recovered(self) -> None:
        log.warning(
            "event stream %s recovered: wrote its backlog (%d events dropped while degraded)",
            self.session_id,
            self.dropped,
        )

    # -- health ------------------------------------------------------------------

    @property
    def degraded(self) -> bool:
        return self._log.degraded

    @property
    def dropped(self) -> int:
        """Events dropped (never numbered on disk) because the backlog was full."""
        return self._log.dropped

    def health(self) -> tuple[bool, str | None]:
        """(True, None) when every event is on disk, else (False, why)."""
        with self._lock:
            error = self._log.error
            if error is None:
                return True, None
            return False, (
                f"{self.session_id}: {error.strerror or error}; "
                f"{len(self._log.held)} events pending in memory, {self.dropped} dropped"
            )

    # -- reading -----------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            return self._count + len(self._log.held)

    def read(self, seq: int) -> EventRecord:
        """The event with this seq: one index read, one log read.

        Raises :class:`EventNotFound` for an unknown seq and :class:`CorruptEvent`
        when that event's bytes do not decode (other events stay readable).
        """
        with self._lock:
            self._check_open()
            count = self._count
            held = self._log.held
            if seq < 0 or seq >= count + len(held):
                raise EventNotFound(f"session {self.session_id} has no event {seq}")
            if seq >= count:
                return decode_line(held[seq - count], offset=-1)
            want = 2 * ENTRY.size if seq + 1 < count else ENTRY.size
            raw = _pread(self._idx_fd, want, seq * ENTRY.size)
            start = ENTRY.unpack_from(raw)[0]
            end = ENTRY.unpack_from(raw, ENTRY.size)[0] if len(raw) == 2 * ENTRY.size else self._log.end
            line = _pread(self._log_fd, end - start, start)
        return self._decode(seq, line, start)

    def _decode(self, seq: int, line: bytes, offset: int) -> EventRecord:
        try:
            record = decode_line(line, offset=offset)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise CorruptEvent(
                f"event {seq} of session {self.session_id} (bytes {offset}..{offset + len(line)} "
                f"of {LOG_NAME}) is not a valid record: {exc}",
                data={"session_id": self.session_id, "seq": seq, "offset": offset},
            ) from exc
        if record.seq != seq:
            raise CorruptEvent(
                f"event {seq} of session {self.session_id} is stored as seq {record.seq}; "
                "the index does not match the log, or the record was altered",
                data={"session_id": self.session_id, "seq": seq, "offset": offset},
            )
        return record

    def replay(self, from_seq: int = 0, *, skip_corrupt: bool = False) -> Iterator[EventRecord]:
        """Events from ``from_seq`` on, in order, read sequentially in batches.

        Events appended during the iteration are included. A corrupt event raises
        :class:`CorruptEvent`, or with ``skip_corrupt`` is logged and skipped.
        """
        seq = max(from_seq, 0)
        while True:
            batch = self._read_batch(seq)
            if not batch:
                return
            for item in batch:
                if isinstance(item, CorruptEvent):
                    if not skip_corrupt:
                        raise item
                    log.warning("skipping corrupt event: %s", item.message)
                else:
                    yield item
            seq += len(batch)

    def _read_batch(self, seq: int) -> list[EventRecord | CorruptEvent]:
        with self._lock:
            self._check_open()
            count = self._count
            if seq >= count:
                return [self._decode(s, line, -1) for s, line in enumerate(self._log.held, count) if s >= seq]
            last = min(seq + _REPLAY_ENTRIES, count)
            raw = _pread(self._idx_fd, (last - seq) * ENTRY.size, seq * ENTRY.size)
            offsets = [o for (o,) in ENTRY.iter_unpack(raw)]
            offsets.append(_pread_entry(self._idx_fd, last) if last < count else self._log.end)
            # Cap the bytes read at once: tool outputs can make single lines large.
            stop = max(1, bisect.bisect_right(offsets, offsets[0] + _REPLAY_BYTES) - 1)
            offsets = offsets[: stop + 1]
            blob = _pread(self._log_fd, offsets[-1] - offsets[0], offsets[0])
        out: list[EventRecord | CorruptEvent] = []
        base = offsets[0]
        for i in range(len(offsets) - 1):
            start, end = offsets[i], offsets[i + 1]
            try:
                out.append(self._decode(seq + i, blob[start - base : end - base], start))
            except CorruptEvent as exc:
                out.append(exc)
        return out

    def tail(self, n: int) -> list[EventRecord]:
        """The last ``n`` events, oldest first."""
        return list(self.replay(max(len(self) - n, 0))) if n > 0 else []

    # -- maintenance and lifecycle -------------------------------------------------

    def rebuild_index(self) -> int:
        """Rebuild the index from every complete line of the log (one scan); returns the count."""
        with self._lock:
            self._check_open()
            os.ftruncate(self._idx_fd, 0)
            self._count = validate(self._log, self._idx_fd, self.path / TORN_NAME, expect_session=self.session_id)
            return self._count

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Flush what the backlog can still write, then close the files. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            lost = 0
            try:
                lost = self._log.close()
            except OSError:
                pass
            finally:
                self._close_fds()
            if lost:
                log.error(
                    "event stream %s closed while degraded: %d events could not be written",
                    self.session_id,
                    lost,
                )

    def _close_fds(self) -> None:
        try:
            self._log.close_file()
        except OSError:
            pass
        try:
            os.close(self._idx_fd)
        except OSError:
            pass

    def _check_open(self) -> None:
        if self._closed:
            raise StreamClosed(f"event stream {self.session_id} is closed")

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "degraded" if self._log.degraded else "open"
        return f"<EventStream {self.session_id} {state} events={len(self) if not self._closed else '?'}>"


def check_session_id(session_id: str) -> str:
    """Session ids become directory names: letters, digits, ``.``, ``_``, ``-`` only."""
    if not isinstance(session_id, str) or not _SESSION_ID.fullmatch(session_id):
        raise InvalidParams(f"invalid session id for an event stream: {session_id!r}")
    return session_id


def _pread_entry(fd: int, n: int) -> int:
    return int(ENTRY.unpack(_pread(fd, ENTRY.size, n * ENTRY.size))[0])
