"""Open-time validation of a stream's tail, and index rebuilding.

A crash can leave the two files out of step, because each append writes the log
line first and the index entry second:

* the index ends in a partial entry (fewer than 8 bytes) -> the partial entry is cut;
  the index is derived data, the log line it described is re-indexed below;
* the log has complete lines the index misses -> entries are added for them;
* the index has entries beyond the log, or its last entry does not start a line
  -> the whole index is rebuilt from the log's complete lines (one scan);
* the log ends in a torn line (no final newline):
  - if the torn bytes are nevertheless one valid record with the next seq (the
    crash fell between the record and its newline), the newline is added and the
    record is kept;
  - otherwise the torn bytes are appended to ``events.torn`` (and fsynced) and only
    then cut from the log, with a logged warning. Nothing is dropped silently: the
    bytes stay on disk for inspection, and seqs stay gapless.

Only the tail after the last indexed entry is read in the common case, so opening a
million-event stream costs one small read.
"""

from __future__ import annotations

import logging
import os
import struct
from pathlib import Path

import msgspec

from ...storage import JsonlLog, pwrite_all
from ._record import decode_line

log = logging.getLogger("codetether.eventstream")

ENTRY = struct.Struct("<Q")
_CHUNK = 1 << 20


def _read_entry(fd: int, n: int) -> int:
    raw = os.pread(fd, ENTRY.size, n * ENTRY.size)
    return int(ENTRY.unpack(raw)[0])


def _needs_full_rebuild(log_fd: int, idx_fd: int, n: int, log_size: int) -> bool:
    last = _read_entry(idx_fd, n - 1)
    if last >= log_size:
        return True
    if last > 0 and os.pread(log_fd, 1, last - 1) != b"\n":
        return True
    return n >= 2 and _read_entry(idx_fd, n - 2) >= last


def _scan_lines(log_fd: int, start: int, end: int) -> tuple[list[int], int]:
    """Offsets of complete lines in [start, end), and where the complete lines stop."""
    starts: list[int] = []
    line_start = start
    pos = start
    while pos < end:
        chunk = os.pread(log_fd, min(_CHUNK, end - pos), pos)
        if not chunk:
            break
        i = chunk.find(b"\n")
        while i != -1:
            starts.append(line_start)
            line_start = pos + i + 1
            i = chunk.find(b"\n", i + 1)
        pos += len(chunk)
    return starts, line_start


def validate(events: JsonlLog[bytes], idx_fd: int, torn_path: Path, *, expect_session: str) -> int:
    """Bring log and index into step; return the event count (``events.end`` is set to
    the end of its complete lines)."""
    log_fd = events.fd
    assert log_fd is not None
    log_size = os.fstat(log_fd).st_size
    idx_size = os.fstat(idx_fd).st_size
    n = idx_size // ENTRY.size
    if idx_size % ENTRY.size:
        log.warning("event index of %s ends in a partial entry; cutting it", expect_session)
    if n and _needs_full_rebuild(log_fd, idx_fd, n, log_size):
        log.warning("event index of %s does not match its log; rebuilding it", expect_session)
        n = 0
    base = n - 1 if n else 0
    start = _read_entry(idx_fd, base) if n else 0
    starts, complete_end = _scan_lines(log_fd, start, log_size)
    count = base + len(starts)

    if complete_end < log_size:
        torn = os.pread(log_fd, log_size - complete_end, complete_end)
        if _is_next_record(torn, count, expect_session):
            events.end = log_size
            events.write(b"\n")
            starts.append(complete_end)
            count += 1
            complete_end = log_size + 1
            log.warning(
                "event log of %s ended without a newline; completed record %d", expect_session, count - 1
            )
        else:
            events.end = log_size
            header = f"# torn tail of events.jsonl at byte {complete_end}, {len(torn)} bytes\n".encode()
            events.set_aside(complete_end, torn_path, header)
            log.warning(
                "event log of %s ended in a torn line (%d bytes at byte %d); moved it to %s",
                expect_session,
                len(torn),
                complete_end,
                torn_path,
            )

    if count != n or idx_size != n * ENTRY.size:  # the common clean open writes nothing
        os.ftruncate(idx_fd, base * ENTRY.size)
        pwrite_all(idx_fd, b"".join(ENTRY.pack(o) for o in starts), base * ENTRY.size)
    events.end = complete_end
    return count


def _is_next_record(raw: bytes, seq: int, session_id: str) -> bool:
    try:
        record = decode_line(raw, offset=0)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return False
    return record.seq == seq and record.session_id == session_id
