"""The asyncio client: many requests in flight on one connection, reconnecting when the
daemon restarts (the next request opens a new connection and ``on_reconnect`` lets the
caller re-subscribe).

Connecting (and starting the daemon) is :func:`._spawn.connect`, run in a worker
thread: the same handshake, start-race retry and peer check as the blocking client.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import socket
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..errors import from_wire
from ..paths import Paths
from ._spawn import DaemonUnavailable, connect

__all__ = ["AsyncClient", "Notify"]

log = logging.getLogger("codetether.daemon.client")

#: Receives each notification the daemon sends: its method and params.
Notify = Callable[[str, Any], None]

#: A frame may carry a whole file (a buffer, an edit proposal's before and after).
_FRAME_LIMIT = 1 << 24


class AsyncClient:
    """One connection to the daemon, opened (and the daemon started, when ``autostart``
    allows it, with ``env`` as its environment) by the first request, and again by the
    first request after the connection was lost.

    ``_pending`` maps request ids to the futures awaiting their responses; the reader
    task fails them all when the connection closes. ``_lock`` serialises (re)connecting,
    so concurrent first requests share one connection.
    """

    def __init__(self, paths: Paths, on_notification: Notify, *, autostart: bool = True,
                 on_reconnect: Callable[[], Awaitable[None]] | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self.paths = paths
        self.on_notification = on_notification
        self.on_reconnect = on_reconnect
        self.autostart = autostart
        self.env = env
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()
        self._connected_once = False

    async def _connect(self) -> socket.socket:
        loop = asyncio.get_running_loop()
        opening = loop.run_in_executor(None, lambda: connect(self.paths, autostart=self.autostart,
                                                             env=self.env))
        try:
            raw = await asyncio.shield(opening)
        except asyncio.CancelledError:
            # The thread goes on connecting: close what it opens, or the socket leaks.
            opening.add_done_callback(_close_opened)
            raise
        return socket.socket(fileno=raw.detach())

    async def _ensure(self) -> asyncio.StreamWriter:
        async with self._lock:
            if self._writer is not None and not self._writer.is_closing():
                return self._writer
            sock = await self._connect()
            reader, writer = await asyncio.open_unix_connection(sock=sock, limit=_FRAME_LIMIT)
            self._writer = writer
            self._reader_task = asyncio.create_task(self._read(reader), name="client:daemon-reader")
            reconnected = self._connected_once
            self._connected_once = True
        if reconnected and self.on_reconnect is not None:
            await self.on_reconnect()
        return writer

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while line := await reader.readline():
                msg = json.loads(line)
                if "method" in msg:
                    self.on_notification(msg["method"], msg.get("params"))
                    continue
                fut = self._pending.pop(msg.get("id"), None)
                if fut is not None and not fut.done():
                    if "error" in msg:
                        fut.set_exception(from_wire(msg["error"]))
                    else:
                        fut.set_result(msg.get("result"))
        except (ConnectionError, json.JSONDecodeError) as exc:
            log.warning("daemon connection lost: %s", exc)
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(DaemonUnavailable("the daemon connection closed"))
            self._pending.clear()
            if self._writer is not None:
                self._writer.close()
            self._writer = None

    async def request(self, method: str, params: Any = None) -> Any:
        """Send a request and await its result; the daemon's error is raised as our own
        class. Cancelling the await sends ``$/cancelRequest`` for it."""
        writer = await self._ensure()
        req_id = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = fut
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": req_id, "method": method}
        if params is not None:
            msg["params"] = params
        writer.write(json.dumps(msg).encode() + b"\n")
        await writer.drain()
        try:
            return await fut
        except asyncio.CancelledError:
            if self._writer is not None and not self._writer.is_closing():
                self._writer.write(json.dumps({"jsonrpc": "2.0", "method": "$/cancelRequest",
                                               "params": {"id": req_id}}).encode() + b"\n")
            raise

    async def close(self) -> None:
        """Close the connection and wait for the reader task to end."""
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
            await asyncio.gather(self._reader_task, return_exceptions=True)


def _close_opened(opening: asyncio.Future[Any]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        opening.result().close()
