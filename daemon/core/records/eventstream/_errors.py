"""Errors of the event stream, as subclasses of the one codetether error tree.

Each inherits its wire codes from its parent in :data:`codetether.daemon.errors.ERROR_TABLE`.
"""

from __future__ import annotations

from ....errors import CodetetherError, NotFound, Unavailable


class EventNotFound(NotFound, KeyError):
    """No event with this seq in the stream (also a ``KeyError``, like a mapping)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.message


class CorruptEvent(CodetetherError):
    """The bytes stored for one event are not a valid record; other events stay readable."""


class StreamClosed(Unavailable):
    """The stream or store was used after ``close()``."""


class ArchiveError(Unavailable):
    """Object storage refused or failed an archive operation; the message names bucket and key."""


class ArchiveNotFound(NotFound):
    """No archived stream under this session id (or the bucket does not exist)."""
