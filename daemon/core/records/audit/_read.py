"""Reading an audit log: backwards for recent/query, forwards for verification.

Torn-tail rule (shared by the writer, the readers and the verifier):

* A crash mid-write leaves a prefix of a JSON line. A prefix of a JSON object is
  never valid JSON, so only lines that are **not JSON at all** can be torn. A line
  that is JSON is always held to the chain, even when it is the last one.
* The rare cut just before the newline leaves a complete entry; the writer ends it
  with a newline and it counts like any other.
* When the writer opens a log whose last lines are not JSON, it appends a newline
  if one is missing, then a chained ``daemon``/``torn_tail_recovered`` entry whose
  detail is ``{"offset": O, "length": L, "sha256": H}``: the torn bytes are exactly
  ``[O, O+L)`` (they end where the recovery line starts), hashed to ``H``. The
  recovery entry's ``prev`` names the last entry before the torn bytes, so the
  chain runs over them. Nothing is truncated: the torn bytes stay for inspection.
* The verifier accepts a run of non-JSON lines only when the next line is a
  recovery entry naming exactly that run, or when the run is at the end of the
  file (a crash the daemon has not reopened after yet; ``ok`` with a note).
  Anything else is reported at the run's first line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from fnmatch import fnmatchcase
from pathlib import Path

import msgspec

from ._entry import AuditEntry, VerifyResult, decoder, digest, unseal

__all__ = ["Filter", "TailState", "iter_entries_reverse", "iter_lines_reverse", "scan_tail", "verify_file"]

TORN_CATEGORY = "daemon"
TORN_ACTION = "torn_tail_recovered"
_BLOCK = 1 << 16
_pread = os.pread  # a seam for tests that count bytes read


def iter_lines_reverse(fd: int, end: int) -> Iterator[tuple[int, bytes, bool]]:
    """``(offset, line without newline, terminated)`` for the bytes ``[0, end)``,
    last line first, reading 64 KiB blocks from the end."""
    if end <= 0:
        return
    terminated = _pread(fd, 1, end - 1) == b"\n"
    pos = end - 1 if terminated else end
    buf = b""
    hi = 0  # buf[:hi] holds the unyielded bytes [pos, pos + hi)
    while True:
        i = buf.rfind(b"\n", 0, hi)
        if i >= 0:
            yield pos + i + 1, buf[i + 1:hi], terminated
            hi, terminated = i, True
            continue
        if pos == 0:
            yield 0, buf[:hi], terminated
            return
        n = min(_BLOCK, pos)
        pos -= n
        buf = _pread(fd, n, pos) + buf[:hi]
        hi = len(buf)


def _decode(line: bytes) -> AuditEntry | None:
    try:
        return decoder.decode(line)
    except msgspec.DecodeError:
        return None


def iter_entries_reverse(path: Path, end: int | None = None) -> Iterator[AuditEntry]:
    """Entries newest first; lines that are not entries are skipped."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        stop = os.fstat(fd).st_size if end is None else end
        for _, line, _ in iter_lines_reverse(fd, stop):
            entry = _decode(line)
            if entry is not None:
                yield entry
    finally:
        os.close(fd)


class Filter(msgspec.Struct, frozen=True):
    """Query predicates; ``None`` matches anything. ``resource`` is a glob
    (``fnmatch``, case-sensitive, ``*`` also matches ``/``); ``since <= ts < until``."""

    principal: str | None = None
    action: str | None = None
    resource: str | None = None
    category: str | None = None
    outcome: str | None = None
    session_id: str | None = None
    okr_id: str | None = None
    okr_run_id: str | None = None
    relay_id: str | None = None
    since: float | None = None
    until: float | None = None

    def __call__(self, e: AuditEntry) -> bool:
        return (
            (self.principal is None or e.principal == self.principal)
            and (self.action is None or e.action == self.action)
            and (self.category is None or e.category == self.category)
            and (self.outcome is None or e.outcome == self.outcome)
            and (self.session_id is None or e.session_id == self.session_id)
            and (self.okr_id is None or e.okr_id == self.okr_id)
            and (self.okr_run_id is None or e.okr_run_id == self.okr_run_id)
            and (self.relay_id is None or e.relay_id == self.relay_id)
            and (self.since is None or e.ts >= self.since)
            and (self.until is None or e.ts < self.until)
            and (self.resource is None
                 or (e.resource is not None and fnmatchcase(e.resource, self.resource)))
        )


class TailState(msgspec.Struct):
    """Where the writer continues: the chain head and the torn bytes, if any."""

    next_seq: int = 1
    prev: str = ""
    missing_newline: bool = False  # the last line is a whole entry without its "\n"
    torn_offset: int | None = None  # first byte of the trailing non-JSON lines


def scan_tail(fd: int, end: int) -> TailState:
    """Read backwards past any torn lines to the last entry."""
    state = TailState()
    head: str | None = None
    for offset, line, terminated in iter_lines_reverse(fd, end):
        try:
            entry = decoder.decode(line)
        except msgspec.ValidationError:
            # JSON but not an entry: the chain still runs through it (verify will
            # report it); keep looking back for a sequence number.
            if head is None:
                head, state.missing_newline = digest(line), not terminated
            continue
        except msgspec.DecodeError:
            if head is None:
                state.torn_offset = offset
            continue
        if head is None:
            head, state.missing_newline = digest(line), not terminated
        state.prev, state.next_seq = head, entry.seq + 1
        return state
    state.prev = head or ""
    return state


def verify_file(path: Path) -> VerifyResult:
    """Recompute the chain from line 1 and report the first line that breaks it."""
    entries = 0
    prev, seq = "", 1
    run: tuple[int, int] | None = None  # (line number, offset) of the current non-JSON run
    offset = 0
    lineno = 0
    last_raw = b""

    def bad(n: int, reason: str) -> VerifyResult:
        return VerifyResult(False, entries, n, f"line {n}: {reason}", prev)

    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return VerifyResult(True, 0, None, "ok (no log yet)")
    with fh:
        for raw in fh:
            lineno += 1
            start, offset = offset, offset + len(raw)
            last_raw = raw
            line = raw[:-1] if raw.endswith(b"\n") else raw
            try:
                entry = decoder.decode(line)
            except msgspec.ValidationError as exc:
                return bad(lineno, f"JSON but not an audit entry ({exc})")
            except msgspec.DecodeError:
                run = run or (lineno, start)
                continue
            expected_hash, canonical = unseal(entry)
            if entry.hash != expected_hash:
                return bad(lineno, "hash mismatch: the entry was edited")
            if canonical != line:
                return bad(lineno, "not in canonical form: the line was edited")
            if entry.category == TORN_CATEGORY and entry.action == TORN_ACTION:
                if run is None:
                    return bad(lineno, "torn_tail_recovered entry without torn bytes before it")
                reason = _check_recovery(path, entry, run[1], start)
                if reason:
                    return bad(run[0], reason)
                run = None
            elif run is not None:
                return bad(run[0], "not JSON, and no torn_tail_recovered entry follows")
            if entry.prev != prev:
                return bad(lineno, "prev mismatch: an entry before this line was deleted, "
                                   "inserted or moved")
            if entry.seq != seq:
                return bad(lineno, f"seq {entry.seq}, expected {seq}")
            prev, seq = digest(line), seq + 1
            entries += 1
    if run is not None:
        note = "" if not last_raw.endswith(b"\n") else " (terminated)"
        return VerifyResult(True, entries, None,
                            f"ok; torn tail{note} of {offset - run[1]} bytes at offset {run[1]} from "
                            "a crash mid-write, recorded as recovered when the daemon next opens the log",
                            prev)
    return VerifyResult(True, entries, None, "ok", prev)


def _check_recovery(path: Path, entry: AuditEntry, run_offset: int, own_offset: int) -> str:
    d = entry.detail
    if d.get("offset") != run_offset or d.get("length") != own_offset - run_offset:
        return (f"torn bytes at offset {run_offset} (length {own_offset - run_offset}) do not match "
                f"the recovery entry's offset {d.get('offset')} and length {d.get('length')}")
    with open(path, "rb") as again:
        again.seek(run_offset)
        if digest(again.read(own_offset - run_offset)) != d.get("sha256"):
            return "torn bytes do not match the recovery entry's sha256"
    return ""
