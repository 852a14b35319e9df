"""``codetether tui``: the interactive terminal UI, one more thin client of the daemon
(Textual, the ``[tui]`` extra; imported only when the command runs). Being built (issue 12)."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

__all__ = ["add_arguments", "cmd_tui"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments (the parser is made by ``cli/args.py``)."""
    parser.add_argument("--session", help="attach to this session (default: a new one in this workspace)")


def cmd_tui(args: Any, paths: Any) -> int:
    raise SystemExit("codetether tui: not built yet")
