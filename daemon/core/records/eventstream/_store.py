"""The directory of every session's event stream, with a bounded cache of open streams."""

from __future__ import annotations

import collections
import os
import shutil
import threading
from pathlib import Path
from typing import Any

from ....errors import Unavailable
from ._errors import StreamClosed
from ._stream import INDEX_FROM, LOG_NAME, EventStream, check_session_id


class EventStreamStore:
    """Event streams under ``<directory>/<session_id>/``.

    A small stream's index stays in memory (``index_from``, see :class:`EventStream`).
    ``open`` returns a cached stream; at most ``max_open`` stay open (least recently
    used closed first; a degraded stream is never evicted, so its backlog survives).
    Callers should not keep a stream across long waits: ``store.open(sid)`` is a dict
    lookup, and :meth:`append` does it for them. Using an evicted or closed stream
    raises :class:`StreamClosed`.

    ``_lock`` guards the cache (``_open``) and ``_closed``.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        max_open: int = 64,
        fsync: bool = False,
        max_backlog: int = 10_000,
        index_from: int = INDEX_FROM,
    ) -> None:
        self.directory = Path(directory)
        self.index_from = index_from
        self.max_open = max(1, max_open)
        self.fsync = fsync
        self.max_backlog = max_backlog
        self._open: collections.OrderedDict[str, EventStream] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._closed = False

    def open(self, session_id: str) -> EventStream:
        """The session's stream, created on first use (validated and repaired on open)."""
        with self._lock:
            if self._closed:
                raise StreamClosed("the event stream store is closed")
            stream = self._open.get(session_id)  # a cached id was checked when it was opened
            if stream is not None and not stream.closed:  # closed behind our back: reopen
                self._open.move_to_end(session_id)
                return stream
            check_session_id(session_id)
            try:
                stream = EventStream(
                    self.directory, session_id, fsync=self.fsync, max_backlog=self.max_backlog,
                    index_from=self.index_from,
                )
            except OSError as exc:
                raise Unavailable(f"cannot open the event stream of {session_id}: {exc}") from exc
            self._open[session_id] = stream
            self._evict()
            return stream

    def append(self, session_id: str, kind: str, data: dict[str, Any], **fields: Any) -> int:
        """``open(session_id).append(kind, data, **fields)``."""
        return self.open(session_id).append(kind, data, **fields)

    def _evict(self) -> None:
        if len(self._open) <= self.max_open:  # the common case: no copy of the keys
            return
        for sid in list(self._open)[:-1]:  # never the stream just opened
            if len(self._open) <= self.max_open:
                return
            stream = self._open[sid]
            if stream.degraded:
                continue
            del self._open[sid]
            stream.close()

    def release(self, session_id: str) -> None:
        """Close one session's stream (e.g. before archiving it); reopened on next use."""
        with self._lock:
            stream = self._open.pop(session_id, None)
        if stream is not None:
            stream.close()

    def list(self) -> list[str]:
        """Ids of every session with a stream on disk, sorted."""
        if not self.directory.is_dir():
            return []
        return sorted(p.parent.name for p in self.directory.glob(f"*/{LOG_NAME}"))

    def delete(self, session_id: str) -> bool:
        """Close and remove a session's stream; False if it had none."""
        check_session_id(session_id)
        self.release(session_id)
        path = self.directory / session_id
        if not path.is_dir():
            return False
        shutil.rmtree(path)
        return True

    def health(self) -> tuple[bool, str | None]:
        """(True, None), or (False, why) naming every degraded stream."""
        with self._lock:
            streams = list(self._open.values())
        problems = [why for ok, why in (s.health() for s in streams) if not ok and why]
        if not problems:
            return True, None
        return False, "event streams degraded: " + "; ".join(problems)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close every open stream (each flushes what it can). Idempotent."""
        with self._lock:
            self._closed = True
            streams = list(self._open.values())
            self._open.clear()
        for stream in streams:
            stream.close()

    def __enter__(self) -> EventStreamStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> EventStreamStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
