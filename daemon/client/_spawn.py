"""Starting the daemon and opening its socket: the one connect-or-start path.

Both clients come here (the async one from a worker thread), so the readiness
handshake, the start-race retry and the peer check cannot drift apart. Stdlib only,
and light: the CLI imports this on every invocation and must start nearly as fast
as the interpreter.
"""

from __future__ import annotations

import _socket  # not `socket`: its wrapper module costs the CLI ~5 ms to import
import os
import select
import sys
import time

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: importing typing costs the CLI ~4 ms

from ..errors import ConfigError, Unavailable
from ..paths import peer_is_us

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..paths import Paths

__all__ = ["MAX_SOCKET_PATH", "START_TIMEOUT", "DaemonUnavailable", "connect", "start_daemon"]

START_TIMEOUT = 30.0
#: sun_path is 108 bytes on Linux, one of them the terminating NUL.
MAX_SOCKET_PATH = 107
#: How long a client that lost the race to start a daemon waits for the winner to listen.
RACE_WAIT = 5.0


class DaemonUnavailable(Unavailable):
    """The daemon is not running (and may not be started), could not start, went away,
    or its socket is served by another user."""


def start_daemon(paths: Paths, *, env: Mapping[str, str] | None = None,
                 timeout: float = START_TIMEOUT) -> None:
    """Start the daemon detached and wait until it says it is listening.

    ``env`` is the daemon's whole environment (default: ours); it must locate the same
    files as ``paths`` (e.g. carry the same ``CODETETHER_HOME``). Raises
    :class:`DaemonUnavailable` when the daemon exits, refuses to start or stays silent
    for ``timeout`` s, and :class:`ConfigError` when its data dir cannot be written.
    """
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
    child_env = dict(os.environ if env is None else env, CODETETHER_READY_FD=str(write_fd))
    try:
        # Through a shell that backgrounds it and exits at once: the daemon is not our
        # child, so a long-lived caller (the language server) neither keeps a zombie when
        # it exits nor drops a live Popen (a ResourceWarning).
        subprocess.run(
            ["/bin/sh", "-c", '"$@" &', "sh", sys.executable, "-m", "codetether.daemon"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=child_env,
            pass_fds=(write_fd,), start_new_session=True, close_fds=True, check=False)
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
    if other is not None:  # never send prompts, buffers or keys to another user's process (S8)
        sock.close()
        raise DaemonUnavailable(f"the socket {path} is served by uid {other}, not by you: refusing to "
                                "send it anything (another user's process); remove it, or set "
                                "XDG_RUNTIME_DIR or CODETETHER_HOME to a directory of yours")
    return sock


def connect(paths: Paths, *, autostart: bool = True,
            env: Mapping[str, str] | None = None) -> _socket.socket:
    """A blocking socket connected to our user's daemon, started first (with ``env``, see
    :func:`start_daemon`) when its socket is absent and ``autostart`` allows it.

    Raises :class:`DaemonUnavailable` (not running, cannot connect, another user's
    socket) or :class:`ConfigError` (a socket path over the kernel's limit).
    """
    path = paths.socket_path
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
    start_daemon(paths, env=env)
    # Ready means listening; only when two clients raced to start a daemon did ours
    # lose and report "ready" early, so retry briefly for the winner.
    deadline = time.monotonic() + RACE_WAIT
    delay = 0.005
    while True:
        try:
            return _open(path)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            if time.monotonic() > deadline:
                raise DaemonUnavailable(f"cannot connect to the daemon at {path}") from exc
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
