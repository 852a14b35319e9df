"""``codetether instructions [--workspace DIR] [--json]``: what a run here is told.

The project's AGENTS.md / CLAUDE.md files from the workspace up to the repository root
(the nearest last), with each file's size and whether the cap cut it, then the whole
system prompt. The daemon builds it (``instructions/get``), so this is what runs see.
"""

from __future__ import annotations

import json
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

__all__ = ["add_arguments", "cmd_instructions", "render"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments (the parser is made by ``cli/args.py``)."""
    parser.description = ("Show the system prompt a run in this workspace starts with: ours, then the "
                          "AGENTS.md / CLAUDE.md files from here up to the repository root (the nearest "
                          "last, 16 KB in all), and where each part came from.")
    parser.add_argument("--workspace", "-w", help="workspace root (default: current directory)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def render(view: dict[str, Any]) -> str:
    """The human form: one line per file, then the prompt."""
    lines = []
    for part in view["parts"]:
        cut = f", cut to {part['shown']} bytes (the {view['cap']}-byte cap)" if part["truncated"] else ""
        lines.append(f"{part['path']}  {part['size']} bytes{cut}")
    if not lines:
        lines.append(f"no AGENTS.md or CLAUDE.md from {view['workspace']} up to the repository root")
    lines += ["", "--- system prompt ---", view["system_prompt"]]
    return "\n".join(lines)


def cmd_instructions(args: Any, paths: Any) -> int:
    """Print what ``instructions/get`` says for the workspace."""
    from ..client import Client

    workspace = os.path.abspath(args.workspace or os.getcwd())
    with Client(paths) as client:
        view = client.call("instructions/get", {"workspace": workspace})
    print(json.dumps(view, indent=2) if args.json else render(view))
    return 0
