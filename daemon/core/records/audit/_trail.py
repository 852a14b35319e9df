"""The audit trail: an append-only, hash-chained JSON Lines log of what the daemon did.

Every API call, tool run, approval decision, session and config change is one
:class:`AuditEntry` line (see ``_audit_entry`` for the canonical encoding and the
chain, ``_audit_read`` for the torn-tail rule). The file is only ever appended to
(``O_APPEND``, mode 0600): never truncated, rewritten or rotated. An entry is
about 300–600 bytes, so 100,000 entries a day grow it by ~50 MB; archiving old
logs is the operator's job (move the file away while the daemon is stopped; the
next one starts a new chain).

The chain is tamper-evident, not tamper-proof: there is no key, so someone who can
write the file can rewrite the whole chain after an edit, and dropping the newest
entries leaves no trace in the file. Record :attr:`VerifyResult.head` elsewhere
to catch both.

Writes are synchronous (one ``os.write`` per entry, a few microseconds) and meant
to run on the event loop; :meth:`AuditLog.query` may read the whole file, so the
transports call it in a thread.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

import msgspec

from ....errors import InvalidParams, Unavailable
from ._entry import (
    OUTCOMES,
    AuditEntry,
    Outcome,
    Redactor,
    VerifyResult,
    digest,
    scrub_surrogates,
    seal,
)
from ._read import TORN_ACTION, TORN_CATEGORY, Filter, iter_entries_reverse, scan_tail, verify_file

__all__ = ["AuditEntry", "AuditLog", "Outcome", "VerifyResult", "verify_file"]

log = logging.getLogger("codetether.daemon.audit")

_os_write = os.write  # a seam: tests make it fail with ENOSPC
MAX_QUERY_LIMIT = 10_000


class AuditLog:
    """One audit log file, appended to through one descriptor.

    ``secrets()`` is called on every :meth:`record` and must be cheap (return a
    cached collection); each string it yields is replaced by ``[REDACTED]`` in every
    text field before anything is written.

    When a write fails (disk full, read-only, the directory is gone) the log turns
    degraded: one error is logged, :meth:`health` says so, and entries wait in a
    bounded in-memory backlog (``backlog_limit``; beyond it the oldest are dropped
    and counted, and a ``daemon``/``audit_backlog_overflow`` entry says how many).
    Each later :meth:`record` retries, writing the backlog first, in order. Entries
    are chained when written, so an entry returned while degraded has ``seq == 0``.

    ``_lock`` guards the descriptor, the chain head (``_seq``, ``_prev``, ``_end``),
    the backlog and the health state; readers open the file themselves and read
    only up to ``_end``, which only grows, so they never hold it for long.
    """

    def __init__(self, path: Path, *, secrets: Callable[[], Iterable[str]] | None = None,
                 fsync: bool = False, backlog_limit: int = 10_000, max_chars: int = 2000) -> None:
        self.path = path
        self._secrets = secrets
        self._known_secrets: tuple[str, ...] = ()
        self._red = Redactor((), max_chars)
        self._fsync = fsync
        self._max_chars = max_chars
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._closed = False
        self._seq, self._prev, self._end = 1, "", 0
        self._backlog: deque[AuditEntry] = deque(maxlen=backlog_limit)
        self._dropped = 0
        self._error: str | None = None
        # The line being written and what to do once it is: after a failed write, part
        # or all of it may be in the file.
        self._inflight: tuple[bytes, Callable[[], object] | None] | None = None
        with self._lock:
            self._flush_backlog()

    # -- writing ---------------------------------------------------------------

    def record(self, category: str, action: str, *, principal: str, outcome: Outcome,
               resource: str | None = None, detail: dict[str, Any] | None = None,
               duration_ms: float | None = None, okr_id: str | None = None,
               okr_run_id: str | None = None, relay_id: str | None = None,
               session_id: str | None = None) -> AuditEntry:
        """Append one entry; returns it as written (or, while degraded, as held)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {sorted(OUTCOMES)}, not {outcome!r}")
        red = self._redactor()
        text = red.text
        draft = AuditEntry(
            seq=0, ts=time.time(), category=text(category), action=text(action),
            principal=text(principal), outcome=outcome,
            resource=None if resource is None else text(resource),
            detail=red.value(detail) if detail else {},
            duration_ms=None if duration_ms is None else float(duration_ms),
            okr_id=None if okr_id is None else text(okr_id),
            okr_run_id=None if okr_run_id is None else text(okr_run_id),
            relay_id=None if relay_id is None else text(relay_id),
            session_id=None if session_id is None else text(session_id),
        )
        with self._lock:
            if self._closed:
                raise Unavailable(f"audit log {self.path} is closed")
            if len(self._backlog) == self._backlog.maxlen:
                self._flush_backlog()  # make room if the disk is back
                if len(self._backlog) == self._backlog.maxlen:
                    self._dropped += 1
            self._backlog.append(draft)
            written = self._flush_backlog()
            return written if written is not None and not self._backlog else draft

    def _redactor(self) -> Redactor:
        if self._secrets is not None:
            try:
                secrets = tuple(self._secrets())
            except Exception:  # keep redacting with the last list rather than fail the caller
                log.exception("audit: the secrets source failed; redacting with the last known list")
            else:
                if secrets != self._known_secrets:
                    self._known_secrets = secrets
                    self._red = Redactor(secrets, self._max_chars)
        return self._red

    def _flush_backlog(self) -> AuditEntry | None:
        """Write what is held, oldest first; the last entry written, or None."""
        last = None
        try:
            if self._fd is None:
                self._open()
            elif self._error is not None:
                self._settle_partial_write()
            if self._dropped:
                self._write(AuditEntry(0, time.time(), "daemon", "audit_backlog_overflow", "daemon",
                                       "failure", detail={"dropped": self._dropped}),
                            partial(self._forget_dropped, self._dropped))
            while self._backlog:
                last = self._write(self._backlog[0], self._backlog.popleft)
        except OSError as exc:
            self._degrade(exc)
            return last
        if self._error is not None:
            log.warning("audit: %s is writable again; held entries written", self.path)
            self._error = None
        return last

    def _forget_dropped(self, count: int) -> None:
        self._dropped -= count

    def _write(self, draft: AuditEntry, done: Callable[[], object] | None = None) -> AuditEntry:
        """Seal ``draft`` onto the chain and append it; ``done()`` once it is in the file."""
        try:
            entry, line = seal(draft, self._seq, self._prev)
        except UnicodeEncodeError:
            draft = AuditEntry(**scrub_surrogates(msgspec.structs.asdict(draft)))
            entry, line = seal(draft, self._seq, self._prev)
        self._inflight = (line, done)
        self._write_bytes(line + b"\n")
        self._commit(self._end + len(line) + 1)
        return entry

    def _commit(self, end: int) -> None:
        assert self._inflight is not None
        line, done = self._inflight
        self._inflight = None
        self._seq, self._prev, self._end = self._seq + 1, digest(line), end
        if done is not None:
            done()

    def _write_bytes(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        while view:
            view = view[_os_write(self._fd, view):]
        if self._fsync:
            os.fsync(self._fd)

    def _degrade(self, exc: OSError) -> None:
        message = f"audit log {self.path} is not writable: {exc.strerror or exc}"
        if self._error is None:
            log.error("audit: %s; holding up to %d entries in memory until a write succeeds",
                      message, self._backlog.maxlen)
        self._error = message

    # -- opening and torn tails ------------------------------------------------------

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._fd = fd
        try:
            self._end = os.fstat(fd).st_size
            tail = scan_tail(fd, self._end)
            self._seq, self._prev = tail.next_seq, tail.prev
            if tail.missing_newline:
                self._write_bytes(b"\n")
                self._end += 1
            elif tail.torn_offset is not None:
                self._recover_torn(tail.torn_offset)
        except OSError:
            # Half-repaired: open afresh next time, which reads the tail again.
            self._fd = None
            os.close(fd)
            raise

    def _settle_partial_write(self) -> None:
        """After a failed write: whatever part of it reached the file (or of the
        newline or recovery entry that was to end torn bytes: ``_end`` stays before them)."""
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        if size < self._end:
            log.error("audit: %s shrank from %d to %d bytes behind the daemon's back",
                      self.path, self._end, size)
            self._end = size
        elif size > self._end:
            region = os.pread(self._fd, size - self._end, self._end)
            line = self._inflight[0] if self._inflight else None
            if line and region.endswith(line) and region[-len(line) - 1:-len(line)] in (b"", b"\n"):
                # All but the newline got there: a whole entry (after the torn bytes
                # it names, for a recovery entry), so finish it rather than call it torn.
                self._write_bytes(b"\n")
                self._commit(size + 1)
            else:
                self._recover_torn(self._end)
        self._inflight = None

    def _recover_torn(self, offset: int) -> None:
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        torn = os.pread(self._fd, size - offset, offset)
        if not torn.endswith(b"\n"):
            self._write_bytes(b"\n")
            torn += b"\n"
        log.warning("audit: %s has %d torn bytes at offset %d (a crash or failed write); recording "
                    "the recovery", self.path, len(torn), offset)
        # Until the recovery entry is in, the torn bytes start at _end, so a retry
        # names all of them (with any half-written recovery line) again.
        self._end = offset + len(torn)
        try:
            self._write(AuditEntry(0, time.time(), TORN_CATEGORY, TORN_ACTION, "daemon", "success",
                                   detail={"offset": offset, "length": len(torn), "sha256": digest(torn)}))
        except OSError:
            self._end = offset
            raise

    # -- reading ---------------------------------------------------------------------

    def _held_and_end(self) -> tuple[list[AuditEntry], int]:
        with self._lock:
            if self._closed:
                raise Unavailable(f"audit log {self.path} is closed")
            return list(reversed(self._backlog)), self._end

    def recent(self, limit: int = 50) -> list[AuditEntry]:
        """The newest ``limit`` entries, newest first (held ones, ``seq == 0``, first);
        reads backwards from the end of the file, not the whole file."""
        return self.query(limit=limit)

    def query(self, *, principal: str | None = None, action: str | None = None,
              resource: str | None = None, category: str | None = None,
              outcome: str | None = None, session_id: str | None = None,
              okr_id: str | None = None, okr_run_id: str | None = None, relay_id: str | None = None,
              since: float | None = None, until: float | None = None,
              limit: int = 100) -> list[AuditEntry]:
        """Entries matching every given filter, newest first, at most ``limit``.

        ``resource`` is a glob; ``since <= ts < until``. Reads backwards and stops at
        ``limit`` matches, so a rare match can mean reading the whole file.
        """
        if not 1 <= limit <= MAX_QUERY_LIMIT:
            raise InvalidParams(f"limit must be between 1 and {MAX_QUERY_LIMIT}, not {limit}")
        match = Filter(principal, action, resource, category, outcome, session_id,
                       okr_id, okr_run_id, relay_id, since, until)
        held, end = self._held_and_end()
        out = [e for e in held if match(e)][:limit]
        if len(out) < limit:
            for entry in iter_entries_reverse(self.path, end):
                if match(entry):
                    out.append(entry)
                    if len(out) == limit:
                        break
        return out

    def verify(self) -> VerifyResult:
        """Check the file's chain (entries still held in memory are not in it)."""
        return verify_file(self.path)

    # -- state -----------------------------------------------------------------------

    def health(self) -> tuple[bool, str | None]:
        """``(True, None)``, or ``(False, why)`` while writes fail."""
        with self._lock:
            if self._error is None:
                return True, None
            lost = f"; {self._dropped} dropped" if self._dropped else ""
            return False, f"{self._error}; {len(self._backlog)} entries held in memory{lost}"

    def close(self) -> None:
        """Try once more to write what is held, then close. Idempotent."""
        with self._lock:
            if self._closed:
                return
            if self._backlog:
                self._flush_backlog()
                if self._backlog:
                    log.error("audit: closing %s with %d entries that could not be written",
                              self.path, len(self._backlog))
            self._closed = True
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

