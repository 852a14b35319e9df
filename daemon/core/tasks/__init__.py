"""Tasks: A2A tasks as agent work. The :class:`TaskManager` runs each task as an agent
session (through :class:`AgentSessions`, which the API layer implements) and maps its
events to A2A updates; a durable store behind one small interface (:class:`TaskStore`;
:class:`SqliteTaskStore` is the file backend in the data dir, :class:`MemoryTaskStore`
the in-memory one); :class:`PushDelivery` posts each update to the task's webhooks. With
``CODETETHER_A2A_CONFORMANCE=1`` (:func:`conformance_enabled`) tasks follow the A2A
TCK's scripted scenarios instead of running the agent (:class:`ConformanceSessions`).
"""

from ._conformance import (
    ConformanceSessions,
    conformance_enabled,
)
from ._live import (
    SLOW_READER_SECONDS,
    SUBSCRIBER_QUEUE,
)
from ._manager import (
    TaskManager,
)
from ._memory import (
    MemoryTaskStore,
)
from ._push import (
    Audit,
    PushDelivery,
)
from ._run import (
    AgentSessions,
)
from ._sqlite import (
    SqliteTaskStore,
)
from ._store import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    PushConfigRecord,
    TaskPage,
    TaskQuery,
    TaskRecord,
    TaskStore,
)

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "SLOW_READER_SECONDS",
    "SUBSCRIBER_QUEUE",
    "AgentSessions",
    "Audit",
    "ConformanceSessions",
    "MemoryTaskStore",
    "PushConfigRecord",
    "PushDelivery",
    "SqliteTaskStore",
    "TaskManager",
    "TaskPage",
    "TaskQuery",
    "TaskRecord",
    "TaskStore",
    "conformance_enabled",
]
