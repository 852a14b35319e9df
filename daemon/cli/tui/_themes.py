"""The seed's themes as Textual themes, and which one the config asks for.

``[ui] theme`` comes from the daemon's effective config (``config/get``); no ``ui``
section or an unknown name means the default, ``marketing``: cyan on near-black, like
the CodeTether site. :func:`file_theme` reads the same key from the file itself, so the
app can tell when the daemon has not yet reloaded a file that just changed."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from textual.theme import Theme

__all__ = ["DEFAULT_THEME", "NAMES", "THEMES", "file_theme", "theme_from_config"]

DEFAULT_THEME = "marketing"

THEMES: tuple[Theme, ...] = (
    Theme(name="marketing", primary="#22d3ee", secondary="#0ea5e9", accent="#67e8f9",
          foreground="#e6f6fb", background="#05080b", surface="#0b1117", panel="#101b24",
          warning="#fbbf24", error="#f87171", success="#34d399", dark=True),
    Theme(name="dark", primary="#7aa2f7", secondary="#bb9af7", accent="#7dcfff",
          foreground="#c0caf5", background="#16161e", surface="#1a1b26", panel="#24283b",
          warning="#e0af68", error="#f7768e", success="#9ece6a", dark=True),
    Theme(name="light", primary="#0969da", secondary="#8250df", accent="#1f883d",
          foreground="#1f2328", background="#ffffff", surface="#f6f8fa", panel="#eaeef2",
          warning="#9a6700", error="#cf222e", success="#1a7f37", dark=False),
    Theme(name="solarized-dark", primary="#268bd2", secondary="#6c71c4", accent="#2aa198",
          foreground="#93a1a1", background="#002b36", surface="#073642", panel="#0a4050",
          warning="#b58900", error="#dc322f", success="#859900", dark=True),
    Theme(name="solarized-light", primary="#268bd2", secondary="#6c71c4", accent="#2aa198",
          foreground="#586e75", background="#fdf6e3", surface="#eee8d5", panel="#e4ddc8",
          warning="#b58900", error="#dc322f", success="#859900", dark=False),
)

NAMES = tuple(t.name for t in THEMES)


def theme_from_config(config: dict[str, Any]) -> str:
    """The theme ``[ui] theme`` names, or the default (no section, or a name we lack)."""
    ui = config.get("ui")
    name = ui.get("theme") if isinstance(ui, dict) else None
    return name if isinstance(name, str) and name in NAMES else DEFAULT_THEME


def file_theme(path: str) -> str | None:
    """``[ui] theme`` as the config file says it now (blocking I/O: call it in a thread);
    None when the file cannot be read or names no theme we have."""
    try:
        ui = tomllib.loads(Path(path).read_text()).get("ui")
    except (OSError, ValueError):
        return None
    name = ui.get("theme") if isinstance(ui, dict) else None
    return name if name in NAMES else None
