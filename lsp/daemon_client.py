"""An asyncio JSON-RPC client for the daemon's Unix socket.

It starts the daemon when its socket is absent (the same readiness handshake as
the CLI), and reconnects when the daemon restarts: the next request opens a new
connection and ``on_reconnect`` lets the server re-subscribe.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from codetether.daemon.cli.client import start_daemon
from codetether.daemon.errors import Unavailable, from_wire
from codetether.daemon.paths import Paths, peer_is_us

__all__ = ["DaemonClient"]

log = logging.getLogger("codetether.lsp.daemon")

Notify = Callable[[str, Any], None]


class DaemonClient:
    """``_pending`` maps request ids to the futures awaiting their responses;
    ``_lock`` serialises (re)connecting."""

    def __init__(self, paths: Paths, on_notification: Notify, *, autostart: bool = True,
                 on_reconnect: Callable[[], Awaitable[None]] | None = None) -> None:
        self.paths = paths
        self.on_notification = on_notification
        self.on_reconnect = on_reconnect
        self.autostart = autostart
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()
        self._connected_once = False

    async def _ensure(self) -> asyncio.StreamWriter:
        async with self._lock:
            if self._writer is not None and not self._writer.is_closing():
                return self._writer
            try:
                reader, writer = await asyncio.open_unix_connection(self.paths.socket_path, limit=1 << 24)
            except (FileNotFoundError, ConnectionRefusedError):
                if not self.autostart:
                    raise Unavailable(
                        f"the codetether daemon is not running ({self.paths.socket_path})") from None
                await asyncio.to_thread(start_daemon, self.paths)
                reader, writer = await asyncio.open_unix_connection(self.paths.socket_path, limit=1 << 24)
            other = peer_is_us(writer.get_extra_info("socket"))
            if other is not None:  # never send buffers or prompts to another user's process (S8)
                writer.close()
                raise Unavailable(f"the socket {self.paths.socket_path} is served by uid {other}, not "
                                  "by you: refusing to use it; remove it, or set XDG_RUNTIME_DIR or "
                                  "CODETETHER_HOME to a directory of yours")
            self._writer = writer
            self._reader_task = asyncio.create_task(self._read(reader), name="lsp:daemon-reader")
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
                    fut.set_exception(Unavailable("the daemon connection closed"))
            self._pending.clear()
            if self._writer is not None:
                self._writer.close()
            self._writer = None

    async def request(self, method: str, params: Any = None) -> Any:
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
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
            await asyncio.gather(self._reader_task, return_exceptions=True)
