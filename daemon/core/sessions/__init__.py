"""Sessions: the on-disk store (transcripts and metadata), the live runtime of one session, its
event hub, and the watcher that notices files changed under a session.
"""


from ._hub import (
    EventHub,
    Subscriber,
)
from ._pending import (
    has_pending_work,
)
from ._runtime import (
    SessionRuntime,
)
from ._store import (
    CallStarted,
    MemorySessionStore,
    MessageRecord,
    SessionMeta,
    SessionStore,
    SummaryRecord,
    Transcript,
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
    "SessionMeta",
    "SessionRuntime",
    "SessionStore",
    "Subscriber",
    "SummaryRecord",
    "Transcript",
    "has_pending_work",
]
