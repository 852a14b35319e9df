"""The audit trail: an append-only, hash-chained JSON Lines log of what the daemon did.

Every API call, tool run, approval decision, session and config change is one
:class:`AuditEntry` line (see ``_entry`` for the canonical encoding and the
chain, ``_read`` for the torn-tail rule). The file is only ever appended to
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
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

import msgspec

from ....errors import InvalidParams, Unavailable
from ...storage import JsonlLog
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
    The file, its backlog and the retries are a :class:`~codetether.daemon.core.storage.JsonlLog`;
    the chain and the torn-tail recovery entry are this class's.

    ``_lock`` guards the log (descriptor, ``end``, backlog, health state) and the
    chain head (``_seq``, ``_prev``); readers open the file themselves and read only
    up to the log's ``end``, which only grows, so they never hold it for long.
    """

    def __init__(self, path: Path, *, secrets: Callable[[], Iterable[str]] | None = None,
                 fsync: bool = False, backlog_limit: int = 10_000, max_chars: int = 2000) -> None:
        self.path = path
        self._secrets = secrets
        self._known_secrets: tuple[str, ...] = ()
        self._red = Redactor((), max_chars)
        self._max_chars = max_chars
        self._lock = threading.Lock()
        self._closed = False
        self._seq, self._prev = 1, ""
        self._last: AuditEntry | None = None  # the entry written last
        # The line being written, what to do once it is, and whether it is the oldest
        # held entry: after a failed write, part or all of it may be in the file.
        self._inflight: tuple[bytes, Callable[[], object] | None, bool] | None = None
        self._log: JsonlLog[AuditEntry] = JsonlLog(
            path,
            self._write_held,
            fsync=fsync,
            backlog_limit=backlog_limit,
            drop="oldest",
            on_open=self._repair_tail,
            on_retry=self._settle_partial_write,
            before_drain=self._record_overflow,
            on_degraded=self._degraded,
            on_recovered=self._recovered,
        )
        with self._lock:
            self._log.flush()

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
            if self._log.append(draft) == "written" and self._last is not None:
                return self._last
            return draft

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

    def _record_overflow(self) -> None:
        """Before the held entries: one entry saying how many were dropped."""
        dropped = self._log.dropped
        if dropped:
            self._write(AuditEntry(0, time.time(), "daemon", "audit_backlog_overflow", "daemon",
                                   "failure", detail={"dropped": dropped}),
                        partial(self._forget_dropped, dropped))

    def _forget_dropped(self, count: int) -> None:
        self._log.dropped -= count

    def _write_held(self, draft: AuditEntry) -> None:
        # The log pops the entry once this returns; a settled partial write pops it there.
        self._write(draft, held=True)

    def _write(self, draft: AuditEntry, done: Callable[[], object] | None = None, *,
               held: bool = False) -> AuditEntry:
        """Seal ``draft`` onto the chain and append it; ``done()`` once it is in the file."""
        try:
            entry, line = seal(draft, self._seq, self._prev)
        except UnicodeEncodeError:
            draft = AuditEntry(**scrub_surrogates(msgspec.structs.asdict(draft)))
            entry, line = seal(draft, self._seq, self._prev)
        self._inflight = (line, done, held)
        self._log.write(line + b"\n")
        self._commit(self._log.end)
        self._last = entry
        return entry

    def _commit(self, end: int, settled: bool = False) -> None:
        assert self._inflight is not None
        line, done, held = self._inflight
        self._inflight = None
        self._seq, self._prev, self._log.end = self._seq + 1, digest(line), end
        if done is not None:
            done()
        if settled and held:
            self._log.held.popleft()

    def _degraded(self, exc: OSError) -> None:
        log.error("audit: %s; holding up to %d entries in memory until a write succeeds",
                  self._why(exc), self._log.limit)

    def _why(self, exc: OSError) -> str:
        return f"audit log {self.path} is not writable: {exc.strerror or exc}"

    def _recovered(self) -> None:
        log.warning("audit: %s is writable again; held entries written", self.path)

    # -- opening and torn tails ------------------------------------------------------

    def _repair_tail(self) -> None:
        """On open: continue the chain after the last entry; end or recover a torn tail."""
        assert self._log.fd is not None
        tail = scan_tail(self._log.fd, self._log.end)
        self._seq, self._prev = tail.next_seq, tail.prev
        if tail.missing_newline:
            self._log.write(b"\n")
        elif tail.torn_offset is not None:
            self._recover_torn(tail.torn_offset)

    def _settle_partial_write(self) -> None:
        """After a failed write: whatever part of it reached the file (or of the
        newline or recovery entry that was to end torn bytes: ``end`` stays before them)."""
        end = self._log.end
        size = self._log.size()
        if size < end:
            log.error("audit: %s shrank from %d to %d bytes behind the daemon's back",
                      self.path, end, size)
            self._log.end = size
        elif size > end:
            region = self._log.pread(size - end, end)
            line = self._inflight[0] if self._inflight else None
            if line and region.endswith(line) and region[-len(line) - 1:-len(line)] in (b"", b"\n"):
                # All but the newline got there: a whole entry (after the torn bytes
                # it names, for a recovery entry), so finish it rather than call it torn.
                self._log.write(b"\n")
                self._commit(size + 1, settled=True)
            else:
                self._recover_torn(end)
        self._inflight = None

    def _recover_torn(self, offset: int) -> None:
        size = self._log.size()
        torn = self._log.pread(size - offset, offset)
        if not torn.endswith(b"\n"):
            self._log.write(b"\n")
            torn += b"\n"
        log.warning("audit: %s has %d torn bytes at offset %d (a crash or failed write); recording "
                    "the recovery", self.path, len(torn), offset)
        # Until the recovery entry is in, the torn bytes start at end, so a retry
        # names all of them (with any half-written recovery line) again.
        self._log.end = offset + len(torn)
        try:
            self._write(AuditEntry(0, time.time(), TORN_CATEGORY, TORN_ACTION, "daemon", "success",
                                   detail={"offset": offset, "length": len(torn), "sha256": digest(torn)}))
        except OSError:
            self._log.end = offset
            raise

    # -- reading ---------------------------------------------------------------------

    def _held_and_end(self) -> tuple[list[AuditEntry], int]:
        with self._lock:
            if self._closed:
                raise Unavailable(f"audit log {self.path} is closed")
            return list(reversed(self._log.held)), self._log.end

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
            error = self._log.error
            if error is None:
                return True, None
            dropped = self._log.dropped
            lost = f"; {dropped} dropped" if dropped else ""
            return False, f"{self._why(error)}; {len(self._log.held)} entries held in memory{lost}"

    def close(self) -> None:
        """Try once more to write what is held, then close. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            lost = self._log.close()
            if lost:
                log.error("audit: closing %s with %d entries that could not be written",
                          self.path, lost)

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

