"""The Unix-socket transport: newline-delimited JSON-RPC 2.0 frames.

Only decoding and framing live here. The socket is created mode 0600 inside a
0700 directory, and each peer's uid is checked with SO_PEERCRED (where the
platform has it) before any frame is read.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
from pathlib import Path

from ..errors import MessageTooLarge
from ..rpc import Connection, Dispatcher

__all__ = ["UnixListener"]

log = logging.getLogger("codetether.unix")

_READ_CHUNK = 1 << 16


def _peer_credentials(sock: socket.socket | None) -> dict[str, int]:
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return {}
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return {"pid": pid, "uid": uid, "gid": gid}


class UnixListener:
    """Accepts connections on ``path`` and feeds frames to the dispatcher.

    ``_connections`` holds live connections so shutdown can drain them.
    """

    def __init__(self, path: Path, dispatcher: Dispatcher, *, max_message_bytes: int,
                 on_connect=None) -> None:  # type: ignore[no-untyped-def]
        self.path = path
        self.dispatcher = dispatcher
        self.max_message_bytes = max_message_bytes
        self.on_connect = on_connect
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[Connection] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._counter = 0

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path.parent, 0o700)
        if self.path.exists() or self.path.is_symlink():
            self.path.unlink()  # stale: the single-instance lock is already ours
        old_umask = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(self.path), limit=_READ_CHUNK * 2)
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)

    async def stop_accepting(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    async def drain(self, timeout: float) -> None:
        """Let in-flight requests finish for up to ``timeout`` seconds, then close."""
        waits = [asyncio.create_task(c.idle(), name=f"drain:{c.name}")
                 for c in self._connections if c.inflight]
        if waits:
            await asyncio.wait(waits, timeout=timeout)
            for task in waits:
                task.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        for conn in list(self._connections):
            await conn.close()
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=timeout)

    @property
    def connections(self) -> int:
        return len(self._connections)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            await self._serve_inner(reader, writer)
        finally:
            if task is not None:
                self._handlers.discard(task)

    async def _serve_inner(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _peer_credentials(writer.get_extra_info("socket"))
        if peer and peer.get("uid") != os.getuid():
            log.warning("refused connection from uid %s", peer.get("uid"))
            writer.close()
            return
        self._counter += 1

        async def send(frame: bytes) -> None:
            writer.write(frame + b"\n")
            await writer.drain()

        conn = Connection(self.dispatcher, send, peer=peer, name=f"unix#{self._counter}")
        conn.on_close.append(writer.close)  # ends the read loop below with EOF
        self._connections.add(conn)
        if self.on_connect is not None:
            self.on_connect(conn)
        try:
            await self._read_frames(reader, conn)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._connections.discard(conn)
            await conn.close()
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, BrokenPipeError):
                pass

    async def _read_frames(self, reader: asyncio.StreamReader, conn: Connection) -> None:
        buf = bytearray()
        discarding = False  # inside an oversized frame: drop bytes until its newline
        while not conn.closed.is_set():
            chunk = await reader.read(_READ_CHUNK)
            if not chunk:
                return
            start = 0
            while True:
                nl = chunk.find(b"\n", start)
                if nl < 0:
                    if not discarding:
                        buf += chunk[start:]
                        if len(buf) > self.max_message_bytes:
                            buf.clear()
                            discarding = True
                    break
                if not discarding:
                    buf += chunk[start:nl]
                if discarding or len(buf) > self.max_message_bytes:
                    discarding = False
                    await conn.send_error(None, MessageTooLarge(
                        f"message exceeds {self.max_message_bytes} bytes",
                        data={"limit": self.max_message_bytes}))
                elif buf.strip():
                    conn.feed(bytes(buf))
                buf.clear()
                start = nl + 1

