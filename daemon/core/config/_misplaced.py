"""Say where a misplaced config file should go (E9)."""

from __future__ import annotations

import os
from pathlib import Path

from ...paths import Paths

__all__ = ["misplaced_config"]


def misplaced_config(paths: Paths) -> list[str]:
    """E9: a config.toml at the top of CODETETHER_HOME is not read; say where it goes."""
    home = os.environ.get("CODETETHER_HOME")
    stray = Path(home).expanduser() / "config.toml" if home else None
    if stray is None or not stray.is_file() or stray.resolve() == paths.config_file.resolve():
        return []
    return [f"{stray} is not read: with CODETETHER_HOME set, the config file is {paths.config_file}"]
