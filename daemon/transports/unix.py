"""The Unix-socket transport: newline-delimited JSON-RPC 2.0 frames.

Only decoding and framing live here. The socket is created mode 0600 inside a
0700 directory, and each peer's uid is checked with SO_PEERCRED (where the
platform has it) before any frame is read.

What a peer can make the daemon hold is bounded, so a buggy or hostile client
cannot exhaust it: at most ``max_connections`` connections (the next one is told
-31010 and closed), one partial frame of at most ``max_message_bytes`` per
connection (a longer one is skipped up to its newline and answered -32600), at
most ``max_buffered_bytes`` in all partial frames together (past that a frame is
skipped and answered -31010), and a partial frame is kept only while bytes keep coming: ``frame_timeout`` seconds
of silence mid-frame close the connection, so a half-open peer pins nothing.
An idle connection between frames holds no buffer and is never timed out (the
language server waits on its subscriptions for hours).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import struct
from collections.abc import Callable
from pathlib import Path

import msgspec

from ..errors import CodetetherError, InvalidRequest, MessageTooLarge, Unavailable
from ..rpc import Caller, Connection

__all__ = ["UnixListener"]

log = logging.getLogger("codetether.unix")

_READ_CHUNK = 1 << 16
MAX_CONNECTIONS = 256
FRAME_TIMEOUT = 30.0  # seconds without a byte in the middle of a frame
CLOSE_GRACE = 1.0  # seconds to flush answers to a closing connection


def _peer_credentials(sock: socket.socket | None) -> dict[str, int]:
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return {}
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return {"pid": pid, "uid": uid, "gid": gid}


class UnixListener:
    """Accepts connections on ``path`` and feeds frames to the API.

    ``_connections`` holds live connections so shutdown can drain them and
    ``max_connections`` can be enforced; ``_handlers`` holds every connection's
    serving task, refused ones included, so shutdown can wait for them;
    ``_buffered`` counts the bytes of all partial frames, for ``max_buffered_bytes``.
    """

    def __init__(self, path: Path, api: Caller, *, max_message_bytes: int,
                 max_connections: int = MAX_CONNECTIONS, frame_timeout: float = FRAME_TIMEOUT,
                 max_buffered_bytes: int | None = None,
                 on_connect: Callable[[Connection], None] | None = None) -> None:
        self.path = path
        self.api = api
        self.max_message_bytes = max_message_bytes
        self.max_connections = max_connections
        self.frame_timeout = frame_timeout
        # Partial frames of every connection together: a flood of big frames is
        # refused (-31010) before it can exhaust memory.
        self.max_buffered_bytes = max_buffered_bytes or 4 * max_message_bytes
        self._buffered = 0
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

    @property
    def buffered(self) -> int:
        """Bytes held in partial frames, all connections together."""
        return self._buffered

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
        if len(self._connections) >= self.max_connections:
            log.info("refused a connection: %d open (limit %d)", len(self._connections),
                     self.max_connections)
            await _refuse(writer, Unavailable(
                f"too many connections to the daemon (limit {self.max_connections})",
                data={"limit": self.max_connections}))
            return
        self._counter += 1

        async def send(frame: bytes) -> None:
            writer.write(frame + b"\n")
            await writer.drain()

        conn = Connection(self.api, send, peer=peer, name=f"unix#{self._counter}", transport="unix")
        conn.on_close.append(functools.partial(_close_soon, writer))  # ends the read loop below
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
            await _close(writer)

    async def _read_frames(self, reader: asyncio.StreamReader, conn: Connection) -> None:
        buf = bytearray()
        refused: CodetetherError | None = None  # set inside a frame skipped up to its newline
        try:
            while not conn.closed.is_set():
                # Silence is fine between frames; in the middle of one it is a stalled
                # or half-open peer, and its partial frame must not be held forever.
                try:
                    async with asyncio.timeout(self.frame_timeout if buf or refused else None):
                        chunk = await reader.read(_READ_CHUNK)
                except TimeoutError:
                    log.info("%s: no data for %.0f s inside a frame: closing", conn.name, self.frame_timeout)
                    await conn.send_error(None, InvalidRequest(
                        f"incomplete frame: no newline after {self.frame_timeout:g} s without data",
                        data={"timeout": self.frame_timeout}))
                    return
                if not chunk:
                    return
                start = 0
                while True:
                    nl = chunk.find(b"\n", start)
                    end = len(chunk) if nl < 0 else nl
                    if refused is None and end > start:
                        refused = self._refusal(len(buf) + end - start, end - start)
                        if refused is None:
                            buf += chunk[start:end]
                            self._buffered += end - start
                        else:  # give the memory back now, not at the newline
                            self._buffered -= len(buf)
                            buf = bytearray()
                    if nl < 0:
                        break
                    if refused is not None:
                        await conn.send_error(None, refused)
                        refused = None
                    elif buf and not buf.isspace():
                        # No copy (strip() or bytes() would double an 8 MB frame): the
                        # frame is decoded before receive() first yields, and buf is
                        # replaced, not reused, below.
                        await conn.receive(buf)
                    self._buffered -= len(buf)
                    buf = bytearray()
                    start = nl + 1
        finally:
            self._buffered -= len(buf)

    def _refusal(self, frame_size: int, more: int) -> CodetetherError | None:
        """Why a frame growing to ``frame_size`` (by ``more`` bytes) cannot be kept, if so."""
        if frame_size > self.max_message_bytes:
            return MessageTooLarge(f"message exceeds {self.max_message_bytes} bytes",
                                   data={"limit": self.max_message_bytes})
        if self._buffered + more > self.max_buffered_bytes:
            log.info("partial frames hold %d bytes (limit %d): refusing one", self._buffered,
                     self.max_buffered_bytes)
            return Unavailable("the daemon's input buffers are full; send the request again",
                               data={"limit": self.max_buffered_bytes})
        return None


async def _refuse(writer: asyncio.StreamWriter, err: Unavailable) -> None:
    """Answer a connection we will not serve with one error frame, then close it."""
    try:
        writer.write(msgspec.json.encode({"jsonrpc": "2.0", "id": None, "error": err.to_wire()}) + b"\n")
        async with asyncio.timeout(1.0):  # a peer that does not read is not waited for
            await writer.drain()
    except (ConnectionError, TimeoutError):
        pass
    await _close(writer)


def _close_soon(writer: asyncio.StreamWriter) -> None:
    """Close now; abort if the queued answers are not flushed within CLOSE_GRACE (a
    read loop blocked writing to a peer that does not read is then released)."""
    writer.close()
    asyncio.get_running_loop().call_later(CLOSE_GRACE, writer.transport.abort)


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close, flushing what is queued for at most CLOSE_GRACE seconds, then abort.

    A peer that never reads its answers would otherwise hold the close (and the
    daemon's shutdown, which runs this inside cancelled tasks) forever.
    """
    writer.close()
    try:
        async with asyncio.timeout(CLOSE_GRACE):
            await writer.wait_closed()
    except (ConnectionError, TimeoutError):
        writer.transport.abort()
