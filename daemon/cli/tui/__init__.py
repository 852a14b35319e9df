"""``codetether tui``: the interactive terminal UI, one more thin client of the daemon.

Textual (the ``[tui]`` extra) is imported only when the command runs: ``cli/args.py``
imports :func:`add_arguments` for every command line, so this module stays light.
The app is in ``_app`` (layout, events, keys), ``_chat`` (the conversation's widgets),
``_screens`` (help, the /go gate, pickers, the swarm view), ``_slash`` and ``_commands``
(slash commands), ``_themes``.
"""

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
    """Run the app until the user quits; runs started by other clients go on."""
    import os

    try:
        from ._app import TuiApp
    except ImportError as exc:  # textual is an extra
        raise SystemExit(f"codetether tui needs the [tui] extra (pip install 'codetether[tui]'): {exc}") from None
    TuiApp(paths, workspace=os.getcwd(), session_id=args.session).run()
    return 0
