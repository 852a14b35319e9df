"""Tool executions and the file changes they make, plus an in-memory tracker.

Records are msgspec Structs because they are persisted (one JSON line each).
Field names follow the seed's ``telemetry.json`` so exports stay compatible.
"""

from __future__ import annotations

import enum
import itertools
import threading
import time
from collections import deque
from typing import Any

import msgspec

from ._tokens import TokenCounts

__all__ = [
    "FileChange",
    "FileChangeType",
    "ToolExecution",
    "ToolExecutionStats",
    "ToolExecutionTracker",
]

_ids = itertools.count(1)  # next() on a count is atomic under the GIL


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _line_count(text: str) -> int:
    return len(text.splitlines())


class FileChangeType(enum.Enum):
    CREATE = "create"
    MODIFY = "modify"
    DELETE = "delete"
    RENAME = "rename"
    READ = "read"


class FileChange(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One file touched by a tool. ``lines_affected`` is 1-indexed (start, end)."""

    change_type: FileChangeType
    path: str
    old_path: str | None = None
    lines_affected: tuple[int, int] | None = None
    before: str | None = None
    after: str | None = None
    diff: str | None = None
    size_before: int | None = None
    size_after: int | None = None
    timestamp: int = msgspec.field(default_factory=now_ms)

    @classmethod
    def create(cls, path: str, content: str) -> FileChange:
        return cls(
            change_type=FileChangeType.CREATE,
            path=path,
            lines_affected=(1, _line_count(content)),
            after=content,
            size_after=len(content.encode()),
        )

    @classmethod
    def modify(
        cls, path: str, before: str, after: str, lines: tuple[int, int] | None = None, diff: str | None = None
    ) -> FileChange:
        return cls(
            change_type=FileChangeType.MODIFY,
            path=path,
            lines_affected=lines,
            before=before,
            after=after,
            diff=diff,
            size_before=len(before.encode()),
            size_after=len(after.encode()),
        )

    @classmethod
    def modify_with_diff(
        cls, path: str, before: str, after: str, diff: str, lines: tuple[int, int] | None = None
    ) -> FileChange:
        return cls.modify(path, before, after, lines, diff)

    @classmethod
    def delete(cls, path: str, content: str) -> FileChange:
        return cls(
            change_type=FileChangeType.DELETE, path=path, before=content, size_before=len(content.encode())
        )

    @classmethod
    def read(cls, path: str, lines: tuple[int, int] | None = None) -> FileChange:
        return cls(change_type=FileChangeType.READ, path=path, lines_affected=lines)

    @classmethod
    def rename(cls, old_path: str, new_path: str) -> FileChange:
        return cls(change_type=FileChangeType.RENAME, path=new_path, old_path=old_path)

    def summary(self) -> str:
        """``+ a.py``, ``M a.py (L3-9)``, ``- a.py``, ``R old -> new``, ``R a.py (L1-5)``."""
        lines = f" (L{self.lines_affected[0]}-{self.lines_affected[1]})" if self.lines_affected else ""
        match self.change_type:
            case FileChangeType.CREATE:
                return f"+ {self.path}"
            case FileChangeType.MODIFY:
                return f"M {self.path}{lines}"
            case FileChangeType.DELETE:
                return f"- {self.path}"
            case FileChangeType.RENAME:
                return f"R {self.old_path or '?'} -> {self.path}"
            case _:
                return f"R {self.path}{lines}"


class ToolExecution(msgspec.Struct, kw_only=True):
    """One tool call. Build with :meth:`start`, finish with :meth:`complete_success`
    or :meth:`complete_error`; the ``with_*`` and ``complete_*`` methods return self."""

    id: int
    tool_name: str
    input: Any = None
    output: str | None = None
    success: bool = False
    error: str | None = None
    started_at: int = 0  # Unix ms
    duration_ms: int = 0
    files_affected: list[FileChange] = msgspec.field(default_factory=list)
    tokens: TokenCounts | None = None
    parent_id: int | None = None
    session_id: str | None = None
    model: str | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)

    @classmethod
    def start(cls, tool_name: str, input: Any = None) -> ToolExecution:
        return cls(id=next(_ids), tool_name=tool_name, input=input, started_at=now_ms())

    def _finish(self, duration_ms: float | None) -> None:
        if duration_ms is None:
            duration_ms = max(0, now_ms() - self.started_at)
        self.duration_ms = max(0, int(duration_ms))

    def complete_success(self, output: str | None, duration_ms: float | None = None) -> ToolExecution:
        """Mark success. Without ``duration_ms`` the wall time since :meth:`start` is used."""
        self.output = output
        self.success = True
        self.error = None
        self._finish(duration_ms)
        return self

    def complete_error(self, error: str, duration_ms: float | None = None) -> ToolExecution:
        self.error = error
        self.success = False
        self._finish(duration_ms)
        return self

    def add_file_change(self, change: FileChange) -> None:
        self.files_affected.append(change)

    def with_parent(self, parent_id: int) -> ToolExecution:
        self.parent_id = parent_id
        return self

    def with_session(self, session_id: str) -> ToolExecution:
        self.session_id = session_id
        return self

    def with_model(self, model: str) -> ToolExecution:
        self.model = model
        return self


class ToolExecutionStats(msgspec.Struct, kw_only=True):
    total_executions: int = 0
    successful_executions: int = 0
    failed_executions: int = 0
    total_duration_ms: int = 0
    avg_duration_ms: int = 0
    executions_by_tool: dict[str, int] = msgspec.field(default_factory=dict)
    unique_files_affected: int = 0

    def summary(self) -> str:
        rate = 100.0 * self.successful_executions / self.total_executions if self.total_executions else 100.0
        return (
            f"{self.total_executions} executions ({rate:.1f}% success), "
            f"{self.unique_files_affected} files, avg {self.avg_duration_ms}ms"
        )


class ToolExecutionTracker:
    """The last ``capacity`` executions, indexed by id, tool and file.

    ``_lock`` guards every field: the deque, both indexes and the lifetime counters.
    Counters cover every execution ever recorded; lookups and
    ``unique_files_affected`` cover the retained ones (as in the seed).
    """

    def __init__(self, capacity: int = 1000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._lock = threading.Lock()
        self._executions: deque[ToolExecution] = deque()
        self._by_id: dict[int, ToolExecution] = {}
        self._total = 0
        self._failed = 0
        self._duration = 0
        self._by_tool: dict[str, int] = {}

    def record(self, execution: ToolExecution) -> None:
        with self._lock:
            if len(self._executions) >= self.capacity:
                old = self._executions.popleft()
                self._by_id.pop(old.id, None)
            self._executions.append(execution)
            self._by_id[execution.id] = execution
            self._total += 1
            self._failed += not execution.success
            self._duration += execution.duration_ms
            self._by_tool[execution.tool_name] = self._by_tool.get(execution.tool_name, 0) + 1

    def __len__(self) -> int:
        return len(self._executions)

    def get(self, id: int) -> ToolExecution | None:
        with self._lock:
            return self._by_id.get(id)

    def by_tool(self, tool_name: str) -> list[ToolExecution]:
        with self._lock:
            return [e for e in self._executions if e.tool_name == tool_name]

    def by_file(self, path: str) -> list[ToolExecution]:
        with self._lock:
            return [
                e for e in self._executions if any(f.path == path or f.old_path == path for f in e.files_affected)
            ]

    def recent(self, count: int) -> list[ToolExecution]:
        """The last ``count`` executions, newest first."""
        with self._lock:
            return list(itertools.islice(reversed(self._executions), max(0, count)))

    def all_file_changes(self) -> list[tuple[int, FileChange]]:
        with self._lock:
            return [(e.id, f) for e in self._executions for f in e.files_affected]

    def stats(self) -> ToolExecutionStats:
        with self._lock:
            files = {f.path for e in self._executions for f in e.files_affected}
            return ToolExecutionStats(
                total_executions=self._total,
                successful_executions=self._total - self._failed,
                failed_executions=self._failed,
                total_duration_ms=self._duration,
                avg_duration_ms=self._duration // self._total if self._total else 0,
                executions_by_tool=dict(self._by_tool),
                unique_files_affected=len(files),
            )
