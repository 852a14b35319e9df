"""Reload ``config.toml`` when it changes on disk."""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
import os
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from ...errors import ConfigError
from ._load import LoadedConfig, load_config_bytes, read_config_bytes
from ._schema import Config

__all__ = ["ConfigWatcher", "WatcherState"]

log = logging.getLogger("codetether.daemon.config")

_T = TypeVar("_T")
OnChange = Callable[[LoadedConfig], Awaitable[None] | None]
OnError = Callable[[ConfigError], Awaitable[None] | None]


#: (device, inode, size, mtime) of a file, or None when there is none.
_Identity = tuple[int, int, int, int] | None


def _identity(path: Path) -> _Identity:
    try:
        return _stamp(os.stat(path))
    except OSError:
        return None


def _stamp(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _read_with_identity(path: Path) -> tuple[bytes | None, _Identity]:
    """The file's bytes (None: missing) and the identity of the very file they came from."""
    try:
        with open(path, "rb") as f:
            stamp = _stamp(os.fstat(f.fileno()))  # before the read: a write during it shows as a change
            return f.read(), stamp
    except FileNotFoundError:
        return None, None
    except OSError:
        return read_config_bytes(path), _identity(path)  # raises ConfigError, saying why


class WatcherState(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    CLOSED = "closed"


class ConfigWatcher:
    """Watch the config file and report every change.

    ``async with ConfigWatcher(path, on_change, on_error) as watcher:`` watches the
    file's directory (the file may not exist yet; the directory is created). It
    starts from ``initial`` or, without one, from the file as it is on entry (a bad
    file then goes to ``on_error`` and the defaults stand in until it is fixed). After
    each debounced burst of changes to the file it reloads; a valid file replaces
    :attr:`current` and is passed to ``on_change``; an invalid one is passed to
    ``on_error`` as a :class:`ConfigError` and :attr:`current` keeps the previous
    configuration. Deleting the file reverts to the defaults. A write that leaves
    the bytes unchanged reports nothing. Callbacks may be plain functions or
    coroutine functions; an exception in one is logged and watching goes on.

    The watch runs in one task, ``"config-watcher:<path>"``, owned by this object
    and awaited on exit. ``_stop`` (an :class:`asyncio.Event`) is the only signal to
    that task: watchfiles' worker thread polls it and returns within ``step_ms``.
    """

    def __init__(
        self,
        path: Path,
        on_change: OnChange,
        on_error: OnError,
        *,
        initial: LoadedConfig | None = None,
        debounce_ms: int = 1600,
        step_ms: int = 50,
    ) -> None:
        self._path = Path(path).absolute()
        self._on_change = on_change
        self._on_error = on_error
        self._current = initial
        self._debounce_ms = debounce_ms
        self._step_ms = step_ms
        self._state = WatcherState.NEW
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_bytes: bytes | None = None

    @property
    def state(self) -> WatcherState:
        return self._state

    @property
    def current(self) -> LoadedConfig:
        """The last valid configuration (available once entered)."""
        if self._current is None:
            raise RuntimeError("ConfigWatcher has not been entered")
        return self._current

    async def __aenter__(self) -> ConfigWatcher:
        if self._state is not WatcherState.NEW:
            raise RuntimeError(f"ConfigWatcher is {self._state.value}; create a new one")
        from watchfiles import awatch  # deferred: only a watching daemon pays for it

        self._path.parent.mkdir(parents=True, exist_ok=True)
        changes = awatch(
            self._path.parent,
            watch_filter=self._is_ours,
            stop_event=self._stop,
            debounce=self._debounce_ms,
            step=self._step_ms,
            recursive=False,
        )
        self._task = asyncio.create_task(self._run(changes), name=f"config-watcher:{self._path}")
        # awatch creates its OS watch synchronously in the generator's first step, before
        # its first await; one turn of the loop runs that step, so from here on no edit is
        # missed. Reading the file only now means an edit in between is seen either way.
        await asyncio.sleep(0)
        if self._task.done():  # the watch could not be set up: raise why
            self._state = WatcherState.CLOSED
            task, self._task = self._task, None
            await task
        self._state = WatcherState.RUNNING
        try:
            await self._load_initial()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def _load_initial(self) -> None:
        try:
            self._last_bytes = await asyncio.to_thread(read_config_bytes, self._path)
            loaded = load_config_bytes(self._last_bytes, self._path)
        except ConfigError as err:
            # Same contract as a bad edit: report it, keep what we have (the defaults
            # when nothing was given), and pick up the fix when it is saved.
            if self._current is None:
                self._current = LoadedConfig(Config())
            await self._call(self._on_error, err)
            return
        if self._current is None:
            self._current = loaded

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._state = WatcherState.CLOSED
        self._stop.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # we are being cancelled, not just our task

    def _is_ours(self, _change: object, changed: str) -> bool:
        return Path(changed) == self._path

    async def _run(self, changes: AsyncGenerator[set[tuple[Any, str]], None]) -> None:
        try:
            async with aclosing(changes):
                async for _batch in changes:
                    await self._reload()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the watch itself failed (inotify limit, directory gone)
            if self._state is WatcherState.NEW:
                raise  # still in __aenter__, which raises it to the caller
            log.exception("config watcher stopped")
            await self._call(self._on_error, ConfigError(f"{self._path}: stopped watching: {exc}"))

    async def _reload(self) -> None:
        try:
            data, read = await asyncio.to_thread(_read_with_identity, self._path)
        except ConfigError as err:
            await self._call(self._on_error, err)
            return
        if read != _identity(self._path):
            # Replaced while we read (a `config --set` wrote and applied a newer file):
            # what we hold is older than what is in force, so applying it would undo that
            # change until the next event. The newer write's own event reloads it.
            return
        if data == self._last_bytes:
            return
        self._last_bytes = data
        try:
            loaded = load_config_bytes(data, self._path)
        except ConfigError as err:
            log.warning("config not reloaded: %s", err.message)
            await self._call(self._on_error, err)
            return
        self._current = loaded
        log.info("config reloaded from %s", self._path)
        await self._call(self._on_change, loaded)

    async def _call(self, callback: Callable[[_T], Awaitable[None] | None], arg: _T) -> None:
        try:
            result = callback(arg)
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("config watcher callback %r failed", callback)
