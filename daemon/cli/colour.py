"""Colour for the CLI's human output: on when the stream is a terminal, off on pipes and
files, off with ``NO_COLOR`` set (https://no-color.org) or ``TERM=dumb``, forced on with
``FORCE_COLOR`` (for pagers such as ``less -R``). Every command decides through
:func:`enabled`, so they agree; JSON output is never coloured.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

__all__ = ["Palette", "enabled"]

_CODES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "blue": "34",
          "magenta": "35", "cyan": "36"}


def enabled(stream: TextIO, env: dict[str, str] | None = None) -> bool:
    """Whether to colour what is written to ``stream``."""
    env = dict(os.environ) if env is None else env
    if env.get("NO_COLOR"):  # any non-empty value, as no-color.org says
        return False
    if env.get("FORCE_COLOR"):
        return True
    if env.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):  # closed or not a real file
        return False


class Palette:
    """Styles a string for one stream; every style is the identity when colour is off."""

    def __init__(self, stream: TextIO, on: bool | None = None) -> None:
        self.on = enabled(stream) if on is None else on

    def style(self, text: str, *names: str) -> str:
        """``text`` in the named styles (``bold``, ``dim``, ``red``, ``green``, ...)."""
        if not self.on or not text:
            return text
        codes = ";".join(_CODES[n] for n in names)
        return f"\033[{codes}m{text}\033[0m"

    def diff_line(self, line: str) -> str:
        """A unified diff's line, coloured as ``git diff`` does."""
        if line.startswith(("+++", "---")):
            return self.style(line, "bold")
        if line.startswith("+"):
            return self.style(line, "green")
        if line.startswith("-"):
            return self.style(line, "red")
        if line.startswith("@@"):
            return self.style(line, "cyan")
        return line

    def diff(self, text: str, indent: str = "") -> str:
        """Every line of a diff (each after ``indent``), coloured."""
        if not self.on:
            return text
        return "\n".join(indent + self.diff_line(line[len(indent):]) if line.startswith(indent) else line
                         for line in text.split("\n"))
