"""Per-session event streams: append-only JSONL logs with a byte-offset index.

Each session's events go to ``<directory>/<session_id>/events.jsonl`` (one JSON
record per line, seq counting from 0) and ``events.idx`` (little-endian uint64
offset of line N at byte N*8), so any event is one index read plus one log read
away, replay starts at any seq without scanning, and a session can be rebuilt from
its events (:func:`reconstruct`). :class:`S3Archiver` moves closed streams to
S3-compatible storage and back. :class:`EventLog` and :class:`EventLogStore` are the
interfaces (Protocols) that :class:`EventStream` and :class:`EventStreamStore` implement.

Errors, all in the codetether tree (:mod:`codetether.daemon.errors`)::

    NotFound
    ├── EventNotFound (also KeyError)   unknown seq
    └── ArchiveNotFound                 no archived stream / no bucket
    Unavailable
    ├── StreamClosed                    use after close()
    └── ArchiveError                    object storage failed (names bucket and key)
    CodetetherError
    └── CorruptEvent                    one event's bytes do not decode
"""

from ._archive import ArchivedFile, ArchivedStream, S3Archiver
from ._errors import ArchiveError, ArchiveNotFound, CorruptEvent, EventNotFound, StreamClosed
from ._interface import EventLog, EventLogStore
from ._reconstruct import Reconstruction, reconstruct
from ._record import EventRecord
from ._store import EventStreamStore
from ._stream import EventStream

__all__ = [
    "ArchiveError",
    "ArchiveNotFound",
    "ArchivedFile",
    "ArchivedStream",
    "CorruptEvent",
    "EventLog",
    "EventLogStore",
    "EventNotFound",
    "EventRecord",
    "EventStream",
    "EventStreamStore",
    "Reconstruction",
    "S3Archiver",
    "StreamClosed",
    "reconstruct",
]
