"""Where codetether keeps its files.

Defaults come from platformdirs; ``CODETETHER_HOME`` relocates all of them under
one directory (tests use a short temp dir: a Unix socket path must fit in 108 bytes).

The roots are kept as strings and turned into :class:`pathlib.Path` on access:
the CLI's hot path (``socket_path``) then never imports pathlib.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

__all__ = ["Paths", "ensure_private_dir", "get_paths", "peer_is_us"]

_APP = "codetether"


def _path(text: str) -> Path:
    from pathlib import Path

    return Path(text)


class Paths:
    """The three roots and the files under them."""

    __slots__ = ("_config", "_data", "_runtime")

    def __init__(self, config_dir: str | os.PathLike[str], data_dir: str | os.PathLike[str],
                 runtime_dir: str | os.PathLike[str]) -> None:
        self._config = os.fspath(config_dir)
        self._data = os.fspath(data_dir)
        self._runtime = os.fspath(runtime_dir)

    def __repr__(self) -> str:
        return f"Paths({self._config!r}, {self._data!r}, {self._runtime!r})"

    @property
    def socket_path(self) -> str:
        return os.path.join(self._runtime, "daemon.sock")

    @property
    def config_dir(self) -> Path:
        return _path(self._config)

    @property
    def data_dir(self) -> Path:
        return _path(self._data)

    @property
    def runtime_dir(self) -> Path:
        return _path(self._runtime)

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def socket(self) -> Path:
        return _path(self.socket_path)

    @property
    def lock_file(self) -> Path:
        return self.runtime_dir / "daemon.lock"

    @property
    def pid_file(self) -> Path:
        return self.runtime_dir / "daemon.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "logs" / "daemon.log"

    @property
    def sessions_dir(self) -> Path:
        return self.data_dir / "sessions"

    @property
    def approvals_dir(self) -> Path:
        return self.data_dir / "approvals"


def get_paths(env: Mapping[str, str] | None = None) -> Paths:
    source: Mapping[str, str] = os.environ if env is None else env
    home = source.get("CODETETHER_HOME")
    if home:
        root = os.path.realpath(os.path.expanduser(home))
        return Paths(os.path.join(root, "config"), os.path.join(root, "data"),
                     os.path.join(root, "run"))
    import platformdirs  # deferred: only the default path needs it

    runtime = source.get("XDG_RUNTIME_DIR")
    # Without XDG_RUNTIME_DIR (containers, ssh without a login session) platformdirs
    # warns and picks /tmp/runtime-<uid>; say nothing and use a per-user dir in /tmp.
    run_dir = (platformdirs.user_runtime_dir(_APP) if runtime
               else os.path.join("/tmp", f"codetether-{os.getuid()}"))
    return Paths(platformdirs.user_config_dir(_APP), platformdirs.user_data_dir(_APP), run_dir)


def ensure_private_dir(path: str | os.PathLike[str]) -> None:
    """Create ``path`` (0700) or check that the existing one is ours and private.

    The runtime dir holds the socket the CLI sends prompts and keys to. Without
    XDG_RUNTIME_DIR it lives in /tmp, where another local user could create it first
    (S8): a dir that is a link, not ours, or writable by others is refused with an
    error that says what to do, never used. Raises :class:`PermissionError`.
    """
    import stat

    text = os.fspath(path)
    try:
        os.makedirs(text, mode=0o700, exist_ok=True)
    except FileExistsError:
        pass  # a file or a dangling link by that name: reported below
    info = os.lstat(text)
    uid = os.getuid()
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise PermissionError(f"{text} is not a directory (a link or a file is in its place); "
                              "remove it, or set XDG_RUNTIME_DIR or CODETETHER_HOME")
    if info.st_uid != uid:
        raise PermissionError(f"{text} belongs to uid {info.st_uid}, not to you (uid {uid}): another "
                              "user created it first; remove it, or set XDG_RUNTIME_DIR or "
                              "CODETETHER_HOME to a directory of yours")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(text, 0o700)  # ours: make it private again


def peer_is_us(sock: object) -> int | None:
    """None when the process at the other end of a connected Unix socket runs as our
    uid; else its uid. Clients send prompts, buffers and keys over the socket: they
    talk only to a daemon of their own user, never to one another user planted (S8)."""
    import _socket  # the CLI's hot path: not the `socket` wrapper module
    import sys

    creds = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)  # type: ignore[attr-defined]
    uid = int.from_bytes(creds[4:8], sys.byteorder)  # struct ucred {pid, uid, gid}
    return None if uid == os.getuid() else uid
