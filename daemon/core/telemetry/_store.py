"""Append-only telemetry log: JSON Lines segments plus a compacted ``summary.json``.

Layout of ``directory``::

    telemetry-000001.jsonl   one record per line ({"type": "tool"|"tokens", "seq": ...})
    telemetry-000002.jsonl   the current segment, appended through one open handle
    summary.json             running totals up to a watermark seq, rewritten atomically

Each record costs one encode and one buffered write + flush: nothing is ever
rewritten per record (the seed re-serialized its whole JSON file on every call).
The summary is rewritten every ``summary_every`` records, on rotation and on
close. A segment over ``segment_bytes`` is closed and a new one started; only the
newest ``keep_segments`` are kept, and totals survive in the summary. On start
the summary is loaded and only records past its watermark are replayed; an
unreadable line (a write torn by a crash) is skipped with one warning.

When a write fails (disk full, directory gone or read-only) the store degrades:
it logs one error, keeps counting in memory, buffers up to ``max_pending``
encoded lines and retries every ``retry_seconds`` on the next record.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from ...errors import Unavailable
from .._fs import atomic_write
from ._privacy import Redactor, TelemetrySettings
from ._records import Record, Summary, TokenRecord, ToolRecord, export_stats, stats_dict

__all__ = ["TelemetryStore"]

log = logging.getLogger("codetether.daemon.telemetry")

SUMMARY = "summary.json"
_PREFIX, _SUFFIX = "telemetry-", ".jsonl"
EXPORT_EXECUTIONS = 500  # as the seed's telemetry.json

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Record)  # type: ignore[arg-type]


def _segment_number(path: Path) -> int | None:
    stem = path.name[len(_PREFIX) : -len(_SUFFIX)]
    return int(stem) if stem.isdigit() else None


class TelemetryStore:
    """Persistent (or, with ``persist=False``, purely in-memory) telemetry records.

    ``_lock`` guards the file handle, segment number and size, the summary, the
    sequence counter, the pending buffer and the degraded state: records may
    arrive from worker threads as well as the event loop.
    """

    def __init__(
        self,
        directory: Path,
        settings: TelemetrySettings | None = None,
        *,
        segment_bytes: int = 4 << 20,
        keep_segments: int = 8,
        summary_every: int = 1000,
        retry_seconds: float = 30.0,
        redactor: Redactor | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = Path(directory)
        self.settings = settings or TelemetrySettings()
        self.segment_bytes = segment_bytes
        self.keep_segments = max(1, keep_segments)
        self.summary_every = max(1, summary_every)
        self.retry_seconds = retry_seconds
        self.redactor = redactor or Redactor()
        self._clock = clock
        self._lock = threading.Lock()
        self._persist = self.settings.persist
        self._summary = Summary()
        self._seq = 0
        self._segment = 1
        self._size = 0
        self._fh: BinaryIO | None = None
        self._since_summary = 0
        self._closed = False
        # Encoded lines not yet on disk (degraded), or every recent line when not persisting.
        self._pending: collections.deque[bytes] = collections.deque(maxlen=max(1, self.settings.max_executions))
        self._dropped = 0
        self._error: str | None = None
        self._next_retry = 0.0
        if self._persist:
            try:
                self._load()
                self._open()
            except OSError as exc:
                self._fail(exc)

    # -- start-up ---------------------------------------------------------------------------

    def _segments(self) -> list[tuple[int, Path]]:
        found = []
        for path in self.directory.glob(f"{_PREFIX}*{_SUFFIX}"):
            number = _segment_number(path)
            if number is not None:
                found.append((number, path))
        return sorted(found)

    def _load(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            self._summary = msgspec.json.decode((self.directory / SUMMARY).read_bytes(), type=Summary)
        except FileNotFoundError:
            pass
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.warning("telemetry summary unreadable (%s); rebuilding from the retained segments", exc)
        self._seq = self._summary.watermark
        segments = self._segments()
        skipped = 0
        for number, path in segments:
            if number < self._summary.segment:
                continue
            for record in self._read(path.read_bytes()):
                if record is None:
                    skipped += 1
                elif record.seq > self._seq:  # also drops lines written twice around a failure
                    self._summary.fold(record)
                    self._seq = record.seq
        if skipped:
            log.warning("telemetry: skipped %d unreadable line(s) in %s (torn write after a crash?)", skipped, self.directory)
        if segments:
            self._segment = max(segments[-1][0], self._summary.segment)
        else:
            self._segment = max(1, self._summary.segment)

    @staticmethod
    def _read(data: bytes) -> Iterator[Record | None]:
        for line in data.split(b"\n"):
            if line.strip():
                try:
                    yield _decoder.decode(line)
                except (msgspec.DecodeError, msgspec.ValidationError):
                    yield None

    def _open(self) -> None:
        path = self.directory / f"{_PREFIX}{self._segment:06d}{_SUFFIX}"
        # Private like everything under the data dir; held open for the store's life.
        fh = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600), "ab")
        try:
            self._size = fh.tell()
            if self._size and not _ends_with_newline(path):
                fh.write(b"\n")  # start after a torn last line
                fh.flush()
                self._size += 1
        except BaseException:
            fh.close()
            raise
        self._fh = fh

    # -- writing ----------------------------------------------------------------------------

    def append_execution(self, execution: Any) -> None:
        with self._lock:
            self._check_open()
            self._seq += 1
            self._append(ToolRecord(seq=self._seq, ts=self._clock(), execution=execution))

    def append_tokens(self, model: str, operation: str | None, input: int, output: int) -> None:
        with self._lock:
            self._check_open()
            self._seq += 1
            self._append(
                TokenRecord(seq=self._seq, ts=self._clock(), model=model, operation=operation, input=input, output=output)
            )

    def _check_open(self) -> None:
        if self._closed:
            raise Unavailable("telemetry store is closed")

    def _append(self, record: Record) -> None:
        self._summary.fold(record)
        line = self.redactor(_encoder.encode(record)) + b"\n"
        if not self._persist:
            self._pending.append(line)
            return
        if self._error is not None:
            self._buffer(line)
            if self._clock() >= self._next_retry:
                self._retry()
            return
        assert self._fh is not None
        try:
            self._fh.write(line)
            self._fh.flush()
        except OSError as exc:
            self._fail(exc)
            self._buffer(line)
            return
        self._size += len(line)
        self._after_write()

    def _after_write(self) -> None:
        self._since_summary += 1
        if self._size >= self.segment_bytes:
            self._rotate()
        elif self._since_summary >= self.summary_every:
            self._write_summary()

    def _buffer(self, line: bytes) -> None:
        if len(self._pending) == self._pending.maxlen:
            self._dropped += 1
        self._pending.append(line)

    def _fail(self, exc: OSError) -> None:
        first = self._error is None
        self._error = f"telemetry log in {self.directory} is not writable: {exc}"
        self._next_retry = self._clock() + self.retry_seconds
        if self._fh is not None:
            try:
                self._fh.close()
            except OSError:
                pass  # the buffered bytes are in _pending; a torn line is skipped on replay
            self._fh = None
        if first:
            log.error("%s; keeping telemetry in memory and retrying every %gs", self._error, self.retry_seconds)

    def _retry(self) -> bool:
        """Reopen the log and write the buffered lines. True when healthy again."""
        try:
            if self._fh is None:
                self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
                self._open()
            assert self._fh is not None
            while self._pending:
                line = self._pending[0]
                self._fh.write(line)
                self._fh.flush()
                self._pending.popleft()
                self._size += len(line)
        except OSError as exc:
            self._fail(exc)
            return False
        log.warning(
            "telemetry log writable again; buffered records written%s",
            f" ({self._dropped} dropped while the buffer was full)" if self._dropped else "",
        )
        self._error, self._dropped = None, 0
        self._after_write()
        return True

    def _rotate(self) -> None:
        assert self._fh is not None
        self._fh.close()
        self._fh = None
        self._segment += 1
        try:
            self._open()
            self._write_summary()  # covers every record so far: old segments may go
            for number, path in self._segments()[: -self.keep_segments]:
                if number < self._segment:
                    path.unlink(missing_ok=True)
        except OSError as exc:
            self._fail(exc)

    def _write_summary(self) -> None:
        self._since_summary = 0
        self._summary.segment = self._segment
        self._summary.refresh_costs()
        try:
            atomic_write(self.directory / SUMMARY, self.redactor(_encoder.encode(self._summary)), 0o600)
        except OSError as exc:
            self._fail(exc)

    # -- reading ----------------------------------------------------------------------------

    def retry(self) -> bool:
        """Try a degraded store's writes now instead of at the next record."""
        with self._lock:
            return self._error is None or self._retry()

    def health(self) -> tuple[bool, str | None]:
        """``(True, None)``, or ``(False, reason)`` while writes fail."""
        error = self._error
        if error is None:
            return True, None
        return False, f"{error}; {len(self._pending)} record(s) buffered in memory"

    def records(self, since: float | None = None) -> Iterator[Record]:
        """Retained records (redacted, as persisted) with ``ts >= since``, oldest first.

        A line written twice around a write failure is yielded once.
        """
        with self._lock:
            chunks = []
            for _, path in self._segments_safe() if self._persist else ():
                try:
                    chunks.append(path.read_bytes())
                except OSError:
                    continue  # rotated away meanwhile
            chunks.append(b"\n".join(self._pending))
        seen: set[int] = set()
        for chunk in chunks:
            for record in self._read(chunk):
                if record is None or record.seq in seen:
                    continue
                seen.add(record.seq)
                if since is None or record.ts >= since:
                    yield record

    def _segments_safe(self) -> list[tuple[int, Path]]:
        try:
            return self._segments()
        except OSError:
            return []

    def stats(self, since: float | None = None) -> dict[str, Any]:
        if since is None:
            with self._lock:
                data = _encoder.encode(stats_dict(self._summary, None))
            return msgspec.json.decode(self.redactor(data))
        summary = Summary()
        for record in self.records(since):
            summary.fold(record)
        return msgspec.json.decode(self.redactor(_encoder.encode(stats_dict(summary, since))))

    def export(self) -> dict[str, Any]:
        """The seed's ``telemetry.json``: last 500 executions, aggregate stats, last update (ms)."""
        executions = collections.deque(
            (r.execution for r in self.records() if isinstance(r, ToolRecord)),
            maxlen=EXPORT_EXECUTIONS,
        )
        with self._lock:
            stats = export_stats(self._summary)
            last = self._summary.last_ts
        data = {
            "executions": list(executions),
            "stats": stats,
            "last_updated": int((last or self._clock()) * 1000),
        }
        return msgspec.json.decode(self.redactor(_encoder.encode(data)))

    def close(self) -> None:
        """Write the summary and close the log. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if not self._persist:
                return
            if self._error is not None:
                self._retry()
            if self._error is None:
                self._write_summary()
            if self._fh is not None:
                try:
                    self._fh.close()
                except OSError as exc:
                    log.error("telemetry: closing the log failed: %s", exc)
                self._fh = None


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(-1, 2)
        return fh.read(1) == b"\n"
