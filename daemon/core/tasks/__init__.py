"""Tasks: A2A tasks as agent work. A durable store behind one small interface
(:class:`TaskStore`; :class:`SqliteTaskStore` is the file backend in the data dir,
:class:`MemoryTaskStore` the in-memory one), the records it keeps, and the paging of
ListTasks.
"""

from ._memory import (
    MemoryTaskStore,
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
    "MemoryTaskStore",
    "PushConfigRecord",
    "SqliteTaskStore",
    "TaskPage",
    "TaskQuery",
    "TaskRecord",
    "TaskStore",
]
