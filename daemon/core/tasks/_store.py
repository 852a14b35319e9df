"""The interface every task store implements, the records it keeps, and what backends share.

A task is kept as a row of indexed columns (id, context, session, state, status time)
and JSON documents (status, artifacts, history, metadata) in the A2A 1.0 JSON shape:
the store never interprets them, the manager converts them to and from the wire
Structs. Two backends: :class:`~._sqlite.SqliteTaskStore` (a file in the data dir)
and :class:`~._memory.MemoryTaskStore` (tests, embedding). One contract suite
(``tests/contract/test_task_store_contract.py``) runs against each.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from ...errors import InvalidParams

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "PushConfigRecord",
    "TaskPage",
    "TaskQuery",
    "TaskRecord",
    "TaskStore",
    "decode_cursor",
    "encode_cursor",
    "trim_history",
]

#: ListTasks' page size when the caller names none, and the most it returns at once.
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100


@dataclass(slots=True)
class TaskRecord:
    """One task. ``state`` is the status' state (``"TASK_STATE_WORKING"``); ``updated_at``
    its timestamp (epoch seconds), the order of ListTasks. The JSON documents are
    A2A 1.0 JSON (camelCase): ``status`` a TaskStatus, ``artifacts`` Artifacts,
    ``history`` Messages."""

    id: str
    context_id: str
    session_id: str
    state: str
    status: dict[str, Any]
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(slots=True)
class PushConfigRecord:
    """A push notification config of one task (A2A ``TaskPushNotificationConfig``);
    ``authentication`` is ``{"scheme": ..., "credentials": ...}`` or None."""

    task_id: str
    id: str
    url: str
    token: str = ""
    authentication: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class TaskQuery:
    """ListTasks' filters (A2A 1.0 section 3.1.4). Empty strings and None match all;
    ``updated_after`` keeps tasks whose status time is at or after it;
    ``history_length`` None keeps all history, 0 none."""

    context_id: str = ""
    state: str = ""
    updated_after: float | None = None
    page_size: int = DEFAULT_PAGE_SIZE
    page_token: str = ""
    history_length: int | None = None
    include_artifacts: bool = False


@dataclass(slots=True)
class TaskPage:
    """One page of ListTasks: ``next_page_token`` is "" on the last page; ``total_size``
    counts every task the filters match, before paging."""

    tasks: list[TaskRecord]
    next_page_token: str
    total_size: int


class TaskStore(Protocol):
    """A durable task store. Every method is a coroutine (a backend may do I/O in a
    thread or over a network); a store that cannot be read or written raises
    :class:`~codetether.daemon.errors.Unavailable` saying why. Concurrent writers are
    safe; the last save of a task wins."""

    async def create(self, record: TaskRecord, *, bind_context: bool = False) -> None:
        """Insert a new task (:class:`~codetether.daemon.errors.Conflict` if its id exists);
        with ``bind_context``, also :meth:`bind_context` its context to its session, in the
        same write (both or neither)."""
        ...

    async def save(self, record: TaskRecord) -> None:
        """Insert or replace the task ``record.id``."""
        ...

    async def get(self, task_id: str, *, history_length: int | None = None) -> TaskRecord | None:
        """The task, its history cut to the last ``history_length`` messages; None if unknown."""
        ...

    async def list(self, query: TaskQuery) -> TaskPage:
        """Tasks matching ``query``, newest status first (ties: higher id first); a
        malformed page token is :class:`~codetether.daemon.errors.InvalidParams`."""
        ...

    async def context_session(self, context_id: str) -> str | None:
        """The agent session that serves ``context_id``, if it has one."""
        ...

    async def bind_context(self, context_id: str, session_id: str) -> None:
        """``context_id`` is served by ``session_id`` from now on."""
        ...

    async def put_push(self, config: PushConfigRecord) -> None:
        """Insert or replace the push config ``(config.task_id, config.id)``."""
        ...

    async def get_push(self, task_id: str, config_id: str) -> PushConfigRecord | None:
        """One push config of a task, or None."""
        ...

    async def list_push(self, task_id: str) -> builtins.list[PushConfigRecord]:
        """Every push config of a task, by id."""
        ...

    async def delete_push(self, task_id: str, config_id: str) -> bool:
        """Remove one push config; False if there was none."""
        ...

    def health(self) -> tuple[bool, str | None]:
        """(ok, the last error) for ``daemon/status``."""
        ...

    def close(self) -> None:
        """Release the store; idempotent."""
        ...


def trim_history(history: list[dict[str, Any]], length: int | None) -> list[dict[str, Any]]:
    """The last ``length`` messages (None: all; 0 or less: none)."""
    if length is None:
        return history
    return history[-length:] if length > 0 else []


def encode_cursor(updated_at: float, task_id: str) -> str:
    """An opaque page token: where the previous page ended."""
    raw = json.dumps([updated_at, task_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[float, str]:
    """The position a page token names (:class:`InvalidParams` if it is not ours)."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        updated_at, task_id = json.loads(raw)
        if not isinstance(task_id, str) or not isinstance(updated_at, int | float):
            raise ValueError("bad cursor")
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidParams("pageToken: not a token this server gave out",
                            data={"field": "pageToken"}) from exc
    return float(updated_at), task_id
