"""``codetether undo [SESSION] [--to N] [--dry-run] [--json]``: restore the files an agent
changed, from the session's recorded changes, newest first (``session/undo``).

Without SESSION, the latest session of this workspace; without ``--to``, the changes of its
last prompt; ``--to N`` keeps the session's first N changes and undoes the rest
(``--to 0``: all of them). If any file changed since the agent's edit nothing is written:
the conflict is shown and the exit code is 1.
"""

from __future__ import annotations

import json
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

__all__ = ["add_arguments", "cmd_undo", "render"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments (the parser is made by ``cli/args.py``)."""
    from .args import _count

    parser.description = ("Restore the files the agent changed in SESSION (default: this workspace's "
                          "latest), from its recorded changes, newest first: the changes of its last "
                          "prompt, or with --to N every change after the N-th. Nothing is written if a "
                          "file changed since; the conflict is shown (exit 1).")
    parser.add_argument("session", nargs="?", help="the session's id (default: the latest here)")
    parser.add_argument("--to", type=_count, metavar="N",
                        help="keep the session's first N file changes, undo the rest (0: all)")
    parser.add_argument("--dry-run", "-n", action="store_true", help="only show what would be restored")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


_VERBS = {"restored": "restored", "already": "already undone", "conflict": "CONFLICT", "kept": "kept"}


def render(result: dict[str, Any], dry_run: bool) -> str:
    """The human form: one line per change (with a conflict's detail), then the verdict."""
    from .colour import Palette

    c = Palette(sys.stdout)
    lines = [f"session {result['session_id']} in {result['workspace']}:"]
    colours = {"restored": "green", "already": "dim", "conflict": "red"}
    for ch in result["changes"]:
        verb = "would restore" if ch["status"] == "restored" and not result["applied"] else _VERBS[ch["status"]]
        lines.append(f"  #{ch['number']:<3} {ch['kind']:<6} {ch['path']}  ({ch['tool']}): "
                     + c.style(verb, colours.get(ch["status"], "dim")))
        if ch["status"] == "conflict" or (ch["detail"] and ch["status"] != "already"):
            lines += [f"       {line}" for line in ch["detail"].splitlines()]
    conflicts = sum(ch["status"] == "conflict" for ch in result["changes"])
    if conflicts:
        lines.append(c.style(f"nothing was changed: {conflicts} file change(s) conflict with the files "
                             "as they are now", "red", "bold"))
    elif dry_run:
        lines.append("dry run: nothing was changed")
    return "\n".join(lines)


def cmd_undo(args: Any, paths: Any) -> int:
    """Undo through the daemon and show what happened."""
    from ..client import Client
    from ..errors import NotFound

    with Client(paths) as client:
        session_id = args.session
        if session_id is None:
            here = os.getcwd()
            found = [s for s in client.call("session/list", {"workspace": here, "limit": 50})
                     if s.get("role", "main") == "main"]
            if not found:
                raise NotFound(f"no session in {here}; name one: codetether undo SESSION")
            session_id = found[0]["id"]
        params: dict[str, Any] = {"session_id": session_id, "dry_run": args.dry_run}
        if args.to is not None:
            params["to"] = args.to
        result = client.call("session/undo", params)
    print(json.dumps(result, indent=2) if args.json else render(result, args.dry_run))
    return 1 if any(ch["status"] == "conflict" for ch in result["changes"]) else 0
