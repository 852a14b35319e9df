"""The blocking client: one connection, JSON-RPC 2.0 over newline-delimited JSON.

Stdlib only (plus our error table), for the CLI's import path: see :mod:`._spawn`.
"""

from __future__ import annotations

import json
import select
import time

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: importing typing costs the CLI ~4 ms

from ..errors import from_wire
from ._spawn import DaemonUnavailable, connect

if TYPE_CHECKING:
    import _socket
    from collections.abc import Callable, Mapping
    from typing import Any

    from ..paths import Paths

__all__ = ["Client"]


class Client:
    """One blocking connection to the daemon, started first when it is absent and
    ``autostart`` allows it (``env``: the environment the daemon starts with).

    ``call`` sends a request and reads frames until its response, handing notifications
    to ``on_notification`` meanwhile; ``send``/``read_frame``/``wait`` are its parts, for
    callers that watch the socket themselves (an approval prompt). Not thread-safe.
    """

    def __init__(self, paths: Paths, *, autostart: bool = True,
                 env: Mapping[str, str] | None = None) -> None:
        self.paths = paths
        self._sock: _socket.socket = connect(paths, autostart=autostart, env=env)
        self._buf = b""
        self._next_id = 0
        #: Frames read ahead (while an approval prompt watched the socket), handed out
        #: before anything new is read.
        self._pending: list[dict[str, Any]] = []

    def close(self) -> None:
        """Close the connection (the daemon cancels what it still runs for it)."""
        self._sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, method: str, params: Any = None, *, notify: bool = False) -> int | None:
        """Send a request (its id returned) or, with ``notify``, a notification (None)."""
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
        """The socket's descriptor, for ``select``."""
        return self._sock.fileno()

    def buffered(self) -> bool:
        """A whole frame is already received: selecting on the socket would not show it."""
        return b"\n" in self._buf

    def take_pending(self) -> list[dict[str, Any]]:
        """The frames pushed back so far, removed."""
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
        frame: dict[str, Any] = json.loads(line)
        return frame

    def wait(self, req_id: int, on_notification: Callable[[dict[str, Any]], None] | None = None,
             on_other: Callable[[dict[str, Any]], None] | None = None,
             timeout: float | None = None) -> Any:
        """Read until the response to ``req_id``: its result, or its error raised as our
        own class. Notifications go to ``on_notification``, other responses to ``on_other``."""
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
        """Send a request and wait for its result (see :meth:`wait`)."""
        req_id = self.send(method, params)
        assert req_id is not None
        return self.wait(req_id, on_notification)
