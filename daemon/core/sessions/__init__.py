"""Sessions: the session store behind one small interface (:class:`SessionBackend`, with a
file backend :class:`SessionStore` and an in-memory one :class:`MemorySessionStore`), the
records a transcript is made of, the live runtime of one session and its event hub, the
watcher that notices files changed under a session, and what an interrupted run left to do.
"""

from ._backend import (
    SessionBackend,
)
from ._hub import (
    EventHub,
    Subscriber,
)
from ._memory import (
    MemorySessionStore,
)
from ._pending import (
    has_pending_work,
)
from ._records import (
    CallStarted,
    MessageRecord,
    SessionMeta,
    SummaryRecord,
    Transcript,
    TranscriptRecord,
)
from ._runtime import (
    SessionRuntime,
)
from ._store import (
    SessionStore,
)
from ._watcher import (
    FileWatcher,
)

__all__ = [
    "CallStarted",
    "EventHub",
    "FileWatcher",
    "MemorySessionStore",
    "MessageRecord",
    "SessionBackend",
    "SessionMeta",
    "SessionRuntime",
    "SessionStore",
    "Subscriber",
    "SummaryRecord",
    "Transcript",
    "TranscriptRecord",
    "has_pending_work",
]
