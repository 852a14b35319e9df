"""A task store in memory: for tests and embedding; nothing survives the process."""

from __future__ import annotations

import builtins
import copy

from ...errors import Conflict
from ._store import (
    MAX_PAGE_SIZE,
    PushConfigRecord,
    TaskPage,
    TaskQuery,
    TaskRecord,
    decode_cursor,
    encode_cursor,
    trim_history,
)

__all__ = ["MemoryTaskStore"]


class MemoryTaskStore:
    """The :class:`~._store.TaskStore` interface over dicts. Records are copied in and
    out, so a caller's later changes never reach the store unsaved."""

    def __init__(self) -> None:
        self._tasks: dict[str, TaskRecord] = {}
        self._contexts: dict[str, str] = {}
        self._push: dict[tuple[str, str], PushConfigRecord] = {}

    async def create(self, record: TaskRecord, *, bind_context: bool = False) -> None:
        """Insert a new task (and bind its context to its session)."""
        if record.id in self._tasks:
            raise Conflict(f"task {record.id} exists")
        self._tasks[record.id] = copy.deepcopy(record)
        if bind_context:
            self._contexts[record.context_id] = record.session_id

    async def save(self, record: TaskRecord) -> None:
        """Insert or replace a task."""
        self._tasks[record.id] = copy.deepcopy(record)

    async def get(self, task_id: str, *, history_length: int | None = None) -> TaskRecord | None:
        """A copy of the task, its history trimmed."""
        record = self._tasks.get(task_id)
        if record is None:
            return None
        out = copy.deepcopy(record)
        out.history = trim_history(out.history, history_length)
        return out

    async def list(self, query: TaskQuery) -> TaskPage:
        """Tasks matching ``query``, newest status first."""
        rows = [r for r in self._tasks.values()
                if (not query.context_id or r.context_id == query.context_id)
                and (not query.state or r.state == query.state)
                and (query.updated_after is None or r.updated_at >= query.updated_after)]
        total = len(rows)
        rows.sort(key=lambda r: (r.updated_at, r.id), reverse=True)
        if query.page_token:
            at = decode_cursor(query.page_token)
            rows = [r for r in rows if (r.updated_at, r.id) < at]
        size = max(1, min(query.page_size, MAX_PAGE_SIZE))
        page, more = rows[:size], len(rows) > size
        out = []
        for r in page:
            c = copy.deepcopy(r)
            c.history = trim_history(c.history, query.history_length)
            if not query.include_artifacts:
                c.artifacts = []
            out.append(c)
        token = encode_cursor(page[-1].updated_at, page[-1].id) if more else ""
        return TaskPage(out, token, total)

    async def context_session(self, context_id: str) -> str | None:
        """The session serving a context."""
        return self._contexts.get(context_id)

    async def bind_context(self, context_id: str, session_id: str) -> None:
        """Map a context to its session."""
        self._contexts[context_id] = session_id

    async def put_push(self, config: PushConfigRecord) -> None:
        """Insert or replace a push config."""
        self._push[(config.task_id, config.id)] = copy.deepcopy(config)

    async def get_push(self, task_id: str, config_id: str) -> PushConfigRecord | None:
        """One push config, or None."""
        found = self._push.get((task_id, config_id))
        return copy.deepcopy(found) if found is not None else None

    async def list_push(self, task_id: str) -> builtins.list[PushConfigRecord]:
        """A task's push configs, by id."""
        return [copy.deepcopy(c) for (t, _), c in sorted(self._push.items()) if t == task_id]

    async def delete_push(self, task_id: str, config_id: str) -> bool:
        """Remove a push config."""
        return self._push.pop((task_id, config_id), None) is not None

    def health(self) -> tuple[bool, str | None]:
        """Always healthy."""
        return True, None

    def close(self) -> None:
        """Nothing to release."""
