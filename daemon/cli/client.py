"""A small blocking JSON-RPC client for the daemon's Unix socket.

Stdlib only (plus our error table): the CLI imports this on every invocation and
must start nearly as fast as the interpreter. It auto-starts the daemon when the
socket is absent and waits for the daemon's readiness handshake on a pipe.
"""

from __future__ import annotations

import _socket  # not `socket`: its wrapper module costs the CLI ~5 ms to import
import json
import os
import select
import sys
import time

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: importing typing costs the CLI ~4 ms

from ..errors import CodetetherError, ConfigError, Unavailable, from_wire
from ..paths import peer_is_us

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["Client", "DaemonUnavailable", "start_daemon"]

START_TIMEOUT = 30.0
#: sun_path is 108 bytes on Linux, one of them the terminating NUL.
MAX_SOCKET_PATH = 107


class DaemonUnavailable(Unavailable):
    pass


def start_daemon(paths: Any, *, timeout: float = START_TIMEOUT) -> None:
    """Start the daemon detached and wait until it says it is listening."""
    import subprocess  # only when starting: keeps every other CLI call light

    try:
        paths.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Private like the rest of the data dir (S4); handed to the child.
        log = os.fdopen(os.open(paths.data_dir / "daemon.stdout.log",
                                os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600), "ab")
    except OSError as exc:  # C7: a home we cannot write is the user's to fix; say which
        raise ConfigError(f"cannot start the daemon: {exc.filename or paths.data_dir}: "
                          f"{exc.strerror or exc}; CODETETHER_HOME (or the data directory) must be "
                          "a directory you can write") from None
    read_fd, write_fd = os.pipe()
    env = dict(os.environ, CODETETHER_READY_FD=str(write_fd))
    try:
        subprocess.Popen(
            [sys.executable, "-m", "codetether.daemon"], stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, env=env, pass_fds=(write_fd,), start_new_session=True,
            close_fds=True)
    finally:
        os.close(write_fd)
        log.close()
    try:
        data = _read_line(read_fd, time.monotonic() + timeout)
        ready = data is not None
    finally:
        os.close(read_fd)
    data = data or b""
    if data.startswith(b"error: "):  # the daemon said why it cannot start (S8: an unsafe dir)
        raise DaemonUnavailable(f"the daemon cannot start: {data[7:].decode(errors='replace').strip()}")
    if not data.startswith(b"ready"):
        # Readable with no data means the daemon closed the pipe: it exited.
        why = ("the daemon exited during start-up" if ready
               else f"the daemon did not start within {timeout:.0f}s")
        raise DaemonUnavailable(f"{why}; see {paths.data_dir / 'daemon.stdout.log'} "
                                f"and {paths.log_file}")


def _read_line(fd: int, deadline: float) -> bytes | None:
    """The daemon's one-line handshake: ``ready`` or ``error: why``; b"" if it closed the
    pipe without a word, None if nothing came by ``deadline``."""
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return data or None
        chunk = os.read(fd, 4096)
        if not chunk:
            return data
        data += chunk
    return data


def _open(path: str) -> _socket.socket:
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(path)
        other = peer_is_us(sock)
    except OSError:
        sock.close()
        raise
    if other is not None:
        sock.close()
        raise DaemonUnavailable(f"the socket {path} is served by uid {other}, not by you: refusing to "
                                "send it anything (another user's process); remove it, or set "
                                "XDG_RUNTIME_DIR or CODETETHER_HOME to a directory of yours")
    return sock


class Client:
    """One connection. ``call`` sends a request and reads frames until its response,
    handing notifications to ``on_notification`` meanwhile."""

    def __init__(self, paths: Any, *, autostart: bool = True) -> None:
        self.paths = paths
        self._sock = self._connect(autostart)
        self._buf = b""
        self._next_id = 0
        #: Frames read ahead (while an approval prompt watched the socket), handed out
        #: before anything new is read.
        self._pending: list[dict[str, Any]] = []

    def _connect(self, autostart: bool) -> _socket.socket:
        path = self.paths.socket_path
        if len(os.fsencode(path)) > MAX_SOCKET_PATH:  # C7: the kernel's limit, said plainly
            raise ConfigError(f"the daemon's socket path is {len(os.fsencode(path))} bytes, over the "
                              f"{MAX_SOCKET_PATH}-byte limit of Unix sockets: {path}; set "
                              "CODETETHER_HOME to a shorter directory")
        try:
            return _open(path)
        except (FileNotFoundError, NotADirectoryError, ConnectionRefusedError) as exc:
            if not autostart:
                raise DaemonUnavailable(f"the daemon is not running (no socket at {path})") from exc
        except OSError as exc:  # EACCES and the like: say what and where, no traceback (C7)
            raise DaemonUnavailable(f"cannot connect to the daemon at {path}: "
                                    f"{exc.strerror or exc}") from exc
        start_daemon(self.paths)
        # Ready means listening; only when two clients raced to start a daemon did ours
        # lose and report "ready" early, so retry briefly for the winner.
        deadline = time.monotonic() + 5.0
        delay = 0.005
        while True:
            try:
                return _open(path)
            except (FileNotFoundError, ConnectionRefusedError) as exc:
                if time.monotonic() > deadline:
                    raise DaemonUnavailable(f"cannot connect to the daemon at {path}") from exc
                time.sleep(delay)
                delay = min(delay * 2, 0.2)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, method: str, params: Any = None, *, notify: bool = False) -> int | None:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        req_id = None
        if not notify:
            self._next_id += 1
            req_id = msg["id"] = self._next_id
        try:
            self._sock.sendall(json.dumps(msg, separators=(",", ":")).encode() + b"\n")
        except OSError as exc:  # EPIPE/ECONNRESET: the daemon went away, not our stdout
            raise DaemonUnavailable("the daemon closed the connection") from exc
        return req_id

    def fileno(self) -> int:
        return self._sock.fileno()

    def buffered(self) -> bool:
        """A whole frame is already received: selecting on the socket would not show it."""
        return b"\n" in self._buf

    def take_pending(self) -> list[dict[str, Any]]:
        frames, self._pending = self._pending, []
        return frames

    def push_back(self, frame: dict[str, Any]) -> None:
        """Hand ``frame`` out again, after those already pushed back."""
        self._pending.append(frame)

    def read_frame(self, timeout: float | None = None) -> dict[str, Any]:
        """The next frame; ``TimeoutError`` when none is complete within ``timeout`` s."""
        if self._pending:
            return self._pending.pop(0)
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._buf:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self._sock], [], [], left)[0]:
                    raise TimeoutError
            try:
                chunk = self._sock.recv(1 << 16)
            except OSError as exc:
                raise DaemonUnavailable("the daemon closed the connection") from exc
            if not chunk:
                raise DaemonUnavailable("the daemon closed the connection")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def wait(self, req_id: int, on_notification: Callable[[dict[str, Any]], None] | None = None,
             on_other: Callable[[dict[str, Any]], None] | None = None,
             timeout: float | None = None) -> Any:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            frame = self.read_frame(None if deadline is None else deadline - time.monotonic())
            if "method" in frame:
                if on_notification is not None:
                    on_notification(frame)
                continue
            if frame.get("id") is None and "error" in frame:
                # Not an answer to any one request: the connection itself was refused
                # (e.g. the daemon's connection limit). Say why instead of "closed".
                raise from_wire(frame["error"])
            if frame.get("id") != req_id:
                if on_other is not None:
                    on_other(frame)
                continue
            if "error" in frame:
                raise from_wire(frame["error"])
            return frame.get("result")

    def call(self, method: str, params: Any = None,
             on_notification: Callable[[dict[str, Any]], None] | None = None) -> Any:
        req_id = self.send(method, params)
        assert req_id is not None
        return self.wait(req_id, on_notification)


def error_message(exc: CodetetherError) -> str:
    return exc.message
