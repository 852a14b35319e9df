"""``codetether relay ...`` (issue 11; being built)."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

__all__ = ["add_arguments", "cmd_relay"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments (the parser is made by ``cli/args.py``)."""
    parser.add_argument("action", nargs="?", help="(not built yet)")


def cmd_relay(args: Any, paths: Any) -> int:
    raise SystemExit("codetether relay: not built yet")
