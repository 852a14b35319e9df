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

__all__ = ["Paths", "get_paths"]

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
