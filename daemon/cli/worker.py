"""``codetether worker`` (become a cluster worker, exec like ``serve``) and
``codetether workers`` (the live workers, through the daemon's socket)."""

from __future__ import annotations

import json
import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["cmd_worker", "cmd_workers"]


def cmd_worker(args: Any, _paths: Any) -> int:
    """Become the worker process (exec: signals and the exit code are its own); it
    parses the same flags again."""
    argv = [sys.executable, "-m", "codetether.daemon", "worker", "--bus", args.bus,
            "--max-concurrent", str(args.max_concurrent), "--port", str(args.port),
            "--ack-wait", str(args.ack_wait), "--heartbeat", str(args.heartbeat)]
    if args.name:
        argv += ["--name", args.name]
    if args.workspace:
        argv += ["--workspace", args.workspace]
    if args.no_http_server:
        argv.append("--no-http-server")
    if args.json:
        argv.append("--json")
    sys.stdout.flush()
    os.execv(sys.executable, argv)
    return 1  # not reached


def cmd_workers(args: Any, paths: Any) -> int:
    """The workers registered on the daemon's NATS server."""
    from ..client import Client

    with Client(paths) as client:
        rows = client.call("cluster/workers")
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no workers (start one with `codetether worker --bus nats://HOST:4222`)")
    now = time.time()
    for row in rows:
        active = ", ".join(row.get("active", [])) or "idle"
        seen = f"{now - row['updated_at']:.0f}s ago" if row.get("updated_at") else "?"
        print(f"{row['name']:<20} {row.get('host', ''):<20} {row.get('load', 0.0):>4.0%} "
              f"of {row.get('max_concurrent', 1)}  {active}  (beat {seen})")
    return 0
