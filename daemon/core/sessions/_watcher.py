"""Watch the files sessions have read and tell the model when they change.

One ``watchfiles.awatch`` task per workspace root with live sessions, filtered to
the paths some session has read. Writes by the agent's own tools update the
recorded mtime first, so only outside changes become notes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from ._runtime import SessionRuntime

__all__ = ["FileWatcher"]

log = logging.getLogger("codetether.watcher")


class FileWatcher:
    """``_tasks`` maps a workspace root to its watch task; ``_sessions`` maps a root to
    the runtimes in it. ``_stop`` ends every watch task.

    ``enabled`` is asked each time a session is tracked (the owner passes, for example,
    ``lambda: app.config.session.watch_files``), so a config reload takes effect for the
    next session without the watcher knowing the config.
    """

    def __init__(self, enabled: Callable[[], bool]) -> None:
        self._enabled = enabled
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._sessions: dict[str, set[SessionRuntime]] = {}
        self._stop = asyncio.Event()

    @property
    def enabled(self) -> bool:
        """Whether newly tracked workspaces get a watch (asked of the owner every time)."""
        return bool(self._enabled())

    def track(self, rt: SessionRuntime) -> None:
        root = rt.meta.workspace
        self._sessions.setdefault(root, set()).add(rt)
        if self.enabled and root not in self._tasks and not self._stop.is_set():
            self._tasks[root] = asyncio.create_task(self._watch(root), name=f"watch-files:{root}")

    def untrack(self, rt: SessionRuntime) -> None:
        root = rt.meta.workspace
        sessions = self._sessions.get(root, set())
        sessions.discard(rt)
        if not sessions:
            self._sessions.pop(root, None)
            task = self._tasks.pop(root, None)
            if task is not None:
                task.cancel()

    async def _watch(self, root: str) -> None:
        import watchfiles  # deferred: the CLI never needs it

        def interesting(_change: object, path: str) -> bool:
            # This root's sessions only: nested workspaces each have their own watch.
            return any(path in rt.meta.read_files for rt in self._sessions.get(root, ()))

        try:
            async for changes in watchfiles.awatch(root, watch_filter=interesting,
                                                   stop_event=self._stop, debounce=200,
                                                   recursive=True):
                for _change, path in changes:
                    for rt in list(self._sessions.get(root, ())):
                        await rt.file_changed(Path(path))
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a broken watch must not take the daemon down
            log.exception("watching %s failed; file change notes are off for it", root)

    async def aclose(self) -> None:
        self._stop.set()
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
