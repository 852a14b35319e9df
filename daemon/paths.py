"""Where codetether keeps its files.

Defaults come from platformdirs; ``CODETETHER_HOME`` relocates all of them under
one directory (tests use a short temp dir: a Unix socket path must fit in 108 bytes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Paths", "get_paths"]

_APP = "codetether"


@dataclass(frozen=True, slots=True)
class Paths:
    config_dir: Path
    data_dir: Path
    runtime_dir: Path

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def socket(self) -> Path:
        return self.runtime_dir / "daemon.sock"

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


def get_paths(env: dict[str, str] | None = None) -> Paths:
    env = os.environ if env is None else env
    home = env.get("CODETETHER_HOME")
    if home:
        root = Path(home).expanduser().resolve()
        return Paths(root / "config", root / "data", root / "run")
    import platformdirs  # deferred: only the default path needs it

    runtime = platformdirs.user_runtime_dir(_APP)
    return Paths(
        Path(platformdirs.user_config_dir(_APP)),
        Path(platformdirs.user_data_dir(_APP)),
        Path(runtime),
    )
