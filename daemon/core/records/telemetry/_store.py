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
it logs one error, keeps counting in memory, buffers up to ``max_executions``
encoded lines (the oldest dropped first) and retries every ``retry_seconds`` on the
next record. Torn tails and the backlog are :class:`~codetether.daemon.core.storage.JsonlLog`'s.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from ....errors import Unavailable
from ...storage import JsonlLog, atomic_write
from ._privacy import Redactor, TelemetrySettings
from ._records import Record, Summary, TokenRecord, ToolRecord, export_stats, stats_dict

__all__ = ["TelemetryStore"]

log = logging.getLogger("codetether.daemon.telemetry")

SUMMARY = "summary.json"
_PREFIX, _SUFFIX = "telemetry-", ".jsonl"
EXPORT_EXECUTIONS = 500  # as the seed's telemetry.json

_encoder = msgspec.json.Encoder()
_decoder: msgspec.json.Decoder[Record] = msgspec.json.Decoder(Record)


def _segment_number(path: Path) -> int | None:
    stem = path.name[len(_PREFIX) : -len(_SUFFIX)]
    return int(stem) if stem.isdigit() else None


class TelemetryStore:
    """Persistent (or, with ``persist=False``, purely in-memory) telemetry records.

    ``_lock`` guards the log (its descriptor, the current segment's size as its
    ``end``, the pending buffer and the degraded state), the segment number, the
    summary, the sequence counter and the in-memory lines: records may arrive from
    worker threads as well as the event loop.
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
        self._since_summary = 0
        self._closed = False
        limit = max(1, self.settings.max_executions)
        # Every recent line when not persisting (the log's backlog holds those not yet on disk).
        self._memory: collections.deque[bytes] = collections.deque(maxlen=limit)
        self._log: JsonlLog[bytes] = JsonlLog(
            self._segment_path(),
            backlog_limit=limit,
            drop="oldest",
            retry_seconds=retry_seconds,
            clock=clock,
            # The buffered line may be half in the file: reopening ends it with a newline
            # (replay skips it, and the seq of the copy rewritten later wins).
            close_on_failure=True,
            on_open=self._log_opened,
            on_degraded=self._degraded,
            on_recovered=self._recovered,
        )
        if self._persist:
            try:
                self._load()
                self._log.path = self._segment_path()
                self._log.open()
            except OSError as exc:
                self._log.fail(exc)

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

    def _segment_path(self) -> Path:
        return self.directory / f"{_PREFIX}{self._segment:06d}{_SUFFIX}"

    def _log_opened(self) -> None:
        self._log.terminate()  # start after a torn last line

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
            self._memory.append(line)
            return
        if self._log.append(line) == "written":
            self._after_write()

    def _after_write(self) -> None:
        self._since_summary += 1
        if self._log.end >= self.segment_bytes:
            self._rotate()
        elif self._since_summary >= self.summary_every:
            self._write_summary()

    def _degraded(self, exc: OSError) -> None:
        log.error("%s; keeping telemetry in memory and retrying every %gs", self._why(exc), self.retry_seconds)

    def _why(self, exc: OSError) -> str:
        return f"telemetry log in {self.directory} is not writable: {exc}"

    def _recovered(self) -> None:
        dropped = self._log.dropped
        log.warning(
            "telemetry log writable again; buffered records written%s",
            f" ({dropped} dropped while the buffer was full)" if dropped else "",
        )
        self._log.dropped = 0

    def _retry(self) -> bool:
        """Reopen the log and write the buffered lines. True when healthy again."""
        if not self._log.flush():
            return False
        self._after_write()
        return True

    def _rotate(self) -> None:
        self._log.close_file()
        self._segment += 1
        self._log.path = self._segment_path()
        try:
            self._log.open()
            self._write_summary()  # covers every record so far: old segments may go
            for number, path in self._segments()[: -self.keep_segments]:
                if number < self._segment:
                    path.unlink(missing_ok=True)
        except OSError as exc:
            self._log.fail(exc)

    def _write_summary(self) -> None:
        self._since_summary = 0
        self._summary.segment = self._segment
        self._summary.refresh_costs()
        try:
            atomic_write(self.directory / SUMMARY, self.redactor(_encoder.encode(self._summary)), 0o600)
        except OSError as exc:
            self._log.fail(exc)

    # -- reading ----------------------------------------------------------------------------

    def retry(self) -> bool:
        """Try a degraded store's writes now instead of at the next record."""
        with self._lock:
            return not self._log.degraded or self._retry()

    def health(self) -> tuple[bool, str | None]:
        """``(True, None)``, or ``(False, reason)`` while writes fail."""
        error = self._log.error
        if error is None:
            return True, None
        return False, f"{self._why(error)}; {len(self._log.held)} record(s) buffered in memory"

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
            chunks.append(b"\n".join(self._log.held if self._persist else self._memory))
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
            return _decode_dict(self.redactor(data))
        summary = Summary()
        for record in self.records(since):
            summary.fold(record)
        return _decode_dict(self.redactor(_encoder.encode(stats_dict(summary, since))))

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
        return _decode_dict(self.redactor(_encoder.encode(data)))

    def close(self) -> None:
        """Write the summary and close the log. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if not self._persist:
                return
            if self._log.degraded:
                self._retry()
            if not self._log.degraded:
                self._write_summary()
            try:
                self._log.close_file()
            except OSError as exc:
                log.error("telemetry: closing the log failed: %s", exc)


def _decode_dict(data: bytes) -> dict[str, Any]:
    decoded: dict[str, Any] = msgspec.json.decode(data, type=dict[str, Any])
    return decoded
