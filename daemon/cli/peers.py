"""``codetether spawn`` (become a daemon serving its card and polling its peers) and
``codetether peers`` (the registry, through the daemon's socket)."""

from __future__ import annotations

import json
import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["cmd_peers", "cmd_spawn"]


def cmd_spawn(args: Any, _paths: Any) -> int:
    """Become the daemon in spawn mode (exec, like ``serve``: signals and the exit code
    are its own); the runner parses the same flags again."""
    argv = [sys.executable, "-m", "codetether.daemon", "spawn", "--name", args.name,
            "--hostname", args.hostname, "--port", str(args.port)]
    if args.grpc_port is not None:
        argv += ["--grpc-port", str(args.grpc_port)]
    for peer in args.peer or []:
        argv += ["--peer", peer]
    if args.poll_interval is not None:
        argv += ["--poll-interval", str(args.poll_interval)]
    if args.no_auto_introduce:
        argv.append("--no-auto-introduce")
    if args.json:
        argv.append("--json")
    sys.stdout.flush()
    os.execv(sys.executable, argv)
    return 1  # not reached


def cmd_peers(args: Any, paths: Any) -> int:
    """The peers the daemon's registry knows."""
    from ..client import Client

    with Client(paths) as client:
        rows = client.call("peers/list")
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no peers (start one with `codetether spawn --name NAME --peer URL`)")
    now = time.time()
    for row in rows:
        seen = f"seen {now - row['last_seen']:.0f}s ago" if row.get("last_seen") else "never seen"
        intro = "introduced" if row.get("introduced") else "not introduced"
        error = f"  ({row['error']})" if row.get("error") else ""
        print(f"{row['name']:<24} {row['url']:<32} {seen}, {intro}{error}")
    return 0
