"""The one append-only JSON Lines log: torn tails, degraded writes, a bounded backlog.

Audit, telemetry and event streams each append one JSON record per line to a file
that is never rewritten. What they share lives here:

* **Opening.** The file is opened once (mode 0600, its directory 0700) and written
  through that descriptor; ``end`` is where the next line goes. A crash can leave a
  *torn tail*: bytes after the last newline. :meth:`JsonlLog.torn_tail` finds them;
  what to do with them is the store's rule, run by the ``on_open`` hook (telemetry
  ends them with a newline, the event stream moves them aside with
  :meth:`JsonlLog.set_aside`, the audit trail chains a recovery entry after them).
* **Writing.** Either ``O_APPEND`` writes (``positioned=False``), or positioned writes
  at ``end`` for a log whose offsets are indexed elsewhere: then a write that fails
  part way is cut back to ``end``, so the next line lands where the index says.
  ``fsync=True`` syncs after every write.
* **Degrading.** When a write fails (disk full, read-only, directory gone) the log is
  *degraded*: items wait, in order, in a bounded in-memory backlog and are retried
  (at every append, or at most every ``retry_seconds``) until a write succeeds.
  When the backlog is full the oldest (``drop="oldest"``) or the new item
  (``drop="newest"``) is dropped and counted in ``dropped``. :meth:`JsonlLog.health`
  reports it. The store decides what an item is and how it is written (``write``):
  a line, or an entry sealed onto a hash chain at write time.

Not thread-safe by itself: each store holds its own lock around every call.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Generic, Literal, TypeVar, cast

__all__ = ["Appended", "JsonlLog", "pwrite_all"]

T = TypeVar("T")

Appended = Literal["written", "held", "dropped"]
"""What :meth:`JsonlLog.append` did with an item."""

_os_write = os.write  # a seam: tests make appends fail with ENOSPC, or part way
_BLOCK = 1 << 16


def pwrite_all(fd: int, data: bytes, offset: int) -> None:
    """``os.pwrite`` until every byte is written (a short write is retried, none is an error)."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        if written <= 0:
            raise OSError("short write")
        view = view[written:]
        offset += written


def _write_rest(fd: int, data: bytes, written: int) -> None:
    view = memoryview(data)[written:]
    while view:
        written = _os_write(fd, view)
        if written <= 0:
            raise OSError("short write")
        view = view[written:]


class JsonlLog(Generic[T]):
    """One append-only JSON Lines file and the backlog of items not yet in it.

    ``write(item)`` puts one item in the file through :meth:`write` (raising
    ``OSError`` when it cannot); without it, items are bytes lines written as they are.
    Hooks, each optional: ``on_open()`` after the file is opened (repair its tail),
    ``on_retry()`` before a degraded log retries with its file still open (settle a
    write that failed part way), ``before_drain()`` before held items are written,
    ``on_degraded(exc)`` on the first failure of a run, ``on_recovered()`` once the
    backlog is written again. ``close_on_failure`` closes the file when a write fails,
    so the retry reopens it (and ``on_open`` repairs whatever the failure left).

    No lock of its own: the descriptor, ``end``, the backlog (``held``) and the
    health state (``error``, ``dropped``) are guarded by the store's lock, held
    around every call.
    """

    def __init__(
        self,
        path: Path,
        write: Callable[[T], object] | None = None,
        *,
        fsync: bool = False,
        positioned: bool = False,
        backlog_limit: int = 10_000,
        drop: Literal["oldest", "newest"] = "oldest",
        retry_seconds: float = 0.0,
        clock: Callable[[], float] | None = None,
        close_on_failure: bool = False,
        on_open: Callable[[], None] | None = None,
        on_retry: Callable[[], None] | None = None,
        before_drain: Callable[[], None] | None = None,
        on_degraded: Callable[[OSError], None] | None = None,
        on_recovered: Callable[[], None] | None = None,
    ) -> None:
        self.path = path
        self.fsync = fsync
        self.positioned = positioned
        self.limit = max(0, backlog_limit)
        self.drop = drop
        self.retry_seconds = retry_seconds
        self.fd: int | None = None
        self.end = 0
        self.error: OSError | None = None
        self.dropped = 0
        self.held: deque[T] = deque()
        # Without a writer, items are bytes: write them as they are (one call less per append).
        self._write_item: Callable[[T], object] = write if write is not None else cast(
            "Callable[[T], object]", self.write)
        self._clock = clock
        self._next_retry = 0.0
        self._close_on_failure = close_on_failure
        self._on_open = on_open
        self._on_retry = on_retry
        self._before_drain = before_drain
        self._on_degraded = on_degraded
        self._on_recovered = on_recovered
        self._suspect_tail = False  # positioned: bytes past ``end`` may be a failed write's

    # -- the file ----------------------------------------------------------------------------

    def open(self) -> None:
        """Open (creating) the file, set ``end`` to its size and run ``on_open``."""
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | (0 if self.positioned else os.O_APPEND)
        try:  # the directory is there but the first time: one syscall, not three
            fd = os.open(self.path, flags, 0o600)
        except FileNotFoundError:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, flags, 0o600)
        self.fd = fd
        try:
            self.end = os.fstat(fd).st_size
            if self._on_open is not None:
                self._on_open()
        except BaseException:
            # Half-repaired: open afresh next time, which reads the tail again.
            self.fd = None
            os.close(fd)
            raise

    def close_file(self) -> None:
        """Close the descriptor (the backlog stays); the next flush reopens it."""
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)

    def size(self) -> int:
        assert self.fd is not None
        return os.fstat(self.fd).st_size

    def pread(self, n: int, offset: int) -> bytes:
        assert self.fd is not None
        return os.pread(self.fd, n, offset)

    def torn_tail(self) -> int | None:
        """Offset of the bytes after the last newline before ``end``, or None when the file
        is empty or ends in a newline. Reads backwards, 64 KiB at a time."""
        assert self.fd is not None
        pos = self.end
        if pos == 0 or os.pread(self.fd, 1, pos - 1) == b"\n":
            return None
        while pos > 0:
            n = min(_BLOCK, pos)
            pos -= n
            i = os.pread(self.fd, n, pos).rfind(b"\n")
            if i >= 0:
                return pos + i + 1
        return 0

    def terminate(self) -> bool:
        """End a torn last line with a newline (it stays, as a line readers skip); True if it did."""
        if self.torn_tail() is None:
            return False
        self.write(b"\n")
        return True

    def set_aside(self, offset: int, torn_path: Path, header: bytes) -> bytes:
        """Move the bytes ``[offset, end)`` to ``torn_path`` (after ``header``) and cut them.

        The copy is appended and fsynced before the cut: a crash in between leaves the
        bytes in both places, never in neither. Returns the bytes moved.
        """
        assert self.fd is not None
        torn = os.pread(self.fd, self.end - offset, offset)
        fd = os.open(torn_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, header + torn + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.ftruncate(self.fd, offset)
        os.fsync(self.fd)
        self.end = offset
        return torn

    def write(self, data: bytes) -> int:
        """Write ``data`` whole at ``end`` (fsynced if asked); returns where it starts.

        Raises ``OSError``. A positioned log cuts a failed write back to ``end``; an
        ``O_APPEND`` one leaves what got through for the store to settle.
        """
        fd = self.fd
        assert fd is not None
        start = self.end
        if not self.positioned:
            written = _os_write(fd, data)
            if written != len(data):
                _write_rest(fd, data, written)
            if self.fsync:
                os.fsync(fd)
            self.end = start + len(data)
            return start
        try:
            if self._suspect_tail and os.fstat(fd).st_size != start:
                # Bytes past the end are ours: a write that failed part way, whose item
                # is still held. Drop them so the retry lands where the index says.
                os.ftruncate(fd, start)
            self._suspect_tail = False
            pwrite_all(fd, data, start)
            if self.fsync:
                os.fsync(fd)
        except OSError:
            self.cut(start)
            raise
        self.end = start + len(data)
        return start

    def cut(self, offset: int) -> None:
        """Take back what was written from ``offset`` on (positioned logs: a line whose
        index entry failed). If the cut fails too, it is retried before the next write."""
        assert self.fd is not None
        self.end = offset
        try:
            os.ftruncate(self.fd, offset)
        except OSError:
            self._suspect_tail = True

    # -- appending, degrading, retrying ------------------------------------------------------

    def append(self, item: T) -> Appended:
        """Write ``item`` now, or hold it while degraded (retrying first when due)."""
        if self.error is None and not self.held and self.fd is not None:
            try:
                self._write_item(item)
            except OSError as exc:
                self.fail(exc)
                self.held.append(item)
                return "held"
            return "written"
        if len(self.held) >= self.limit:
            if not (self._due() and self.flush()):  # make room if the disk is back
                self.dropped += 1
                if self.drop == "newest" or not self.held:
                    return "dropped"
                self.held.popleft()
        self.held.append(item)
        if self._due() and self.flush():
            return "written"
        return "held"

    def _due(self) -> bool:
        return self._clock is None or self._clock() >= self._next_retry

    def flush(self) -> bool:
        """Reopen or settle the file if needed, then write what is held, oldest first.
        True once nothing is held and the log is healthy."""
        try:
            if self.fd is None:
                self.open()
            elif self.error is not None and self._on_retry is not None:
                self._on_retry()
            if self._before_drain is not None:
                self._before_drain()
            while self.held:
                self._write_item(self.held[0])
                self.held.popleft()
        except OSError as exc:
            self.fail(exc)
            return False
        if self.error is not None:
            self.error = None
            if self._on_recovered is not None:
                self._on_recovered()
        return True

    def fail(self, exc: OSError) -> None:
        """Enter (or stay in) the degraded state because of ``exc``."""
        first = self.error is None
        self.error = exc
        if self._clock is not None:
            self._next_retry = self._clock() + self.retry_seconds
        if self._close_on_failure and self.fd is not None:
            try:
                self.close_file()
            except OSError:
                self.fd = None
        if first and self._on_degraded is not None:
            self._on_degraded(exc)

    @property
    def degraded(self) -> bool:
        return self.error is not None

    def health(self, noun: str = "items") -> tuple[bool, str | None]:
        """``(True, None)``, or ``(False, why)`` while writes fail."""
        if self.error is None:
            return True, None
        lost = f", {self.dropped} dropped" if self.dropped else ""
        return False, f"{self.path}: {self.error.strerror or self.error}; {len(self.held)} {noun} held{lost}"

    def close(self) -> int:
        """Try once more to write what is held, then close the file; returns how many
        items could not be written (they are lost). Idempotent."""
        if self.held:
            self.flush()
        lost = len(self.held)
        self.close_file()
        return lost
