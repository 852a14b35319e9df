"""``codetether bus tail [--topic PATTERN ...] [--replay] [--json]``: watch the agent bus;
``codetether agents [--role R] [--all] [--json]``: the registry of agents.

One line per envelope (time, topic, sender, kind, what it says) until Ctrl-C; ``--json``
prints each envelope as a JSON line. ``--replay`` first shows the durable envelopes the
bus kept (coordination kinds: task updates, results, swarm events, agents coming and going).
"""

from __future__ import annotations

import json
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["cmd_agents", "cmd_bus", "describe_envelope"]


def describe_envelope(env: dict[str, Any]) -> str:
    """One line for a person: what the message says, by kind."""
    msg = env.get("message") or {}
    kind = msg.get("kind", "?")
    fields = {k: v for k, v in msg.items() if k != "kind"}
    if kind == "swarm_event":
        text = f"{fields.get('phase')} {fields.get('subtask') or ''} {fields.get('detail') or ''}".strip()
    elif kind in ("agent_message", "artifact_update"):
        parts = fields.get("parts") or []
        text = " ".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))[:200]
    else:
        text = " ".join(f"{k}={v}" for k, v in fields.items() if v not in (None, "", [], {}))[:200]
    stamp = time.strftime("%H:%M:%S", time.localtime(env.get("timestamp") or 0))
    return f"{stamp} {env.get('topic')} {env.get('sender_id')} {kind} {text}".rstrip()


def cmd_bus(args: Any, paths: Any) -> int:
    from ..client import Client

    topics = ",".join(args.topic or [">"])
    params: dict[str, Any] = {"topics": topics, "replay": bool(args.replay)}
    with Client(paths) as client:
        req_id = client.send("bus/tail", params)
        assert req_id is not None
        shown = [0]

        def on_note(frame: dict[str, Any]) -> None:
            if frame.get("method") != "bus/event":
                return
            note = frame["params"]
            if args.json:
                print(json.dumps(note["envelope"]), flush=True)
                return
            mark = "(kept) " if note.get("replayed") else ""
            print(mark + describe_envelope(note["envelope"]), flush=True)
            dropped = int(note.get("dropped") or 0)
            if dropped > shown[0]:
                sys.stderr.write(f"(this tail fell behind: {dropped - shown[0]} envelope(s) dropped)\n")
                shown[0] = dropped

        try:
            end = client.wait(req_id, on_note)
        except KeyboardInterrupt:
            return 130
        except BrokenPipeError:
            from .exits import EXIT_PIPE, silence_stdout

            silence_stdout()
            return EXIT_PIPE
    sys.stderr.write(f"the bus closed ({end['delivered']} seen, {end['dropped']} dropped)\n")
    return 0


def cmd_agents(args: Any, paths: Any) -> int:
    """The daemon's registry: one line per agent (role, status, name, where, what it does)."""
    from ..client import Client

    params: dict[str, Any] = {"include_gone": bool(args.all)}
    if args.role:
        params["role"] = args.role
    with Client(paths) as client:
        rows = client.call("agents/list", params)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    now = time.time()
    for row in rows:
        seen = f", seen {now - row['last_seen']:.0f}s ago" if row.get("last_seen") else ""
        busy = f", {row['active_tasks']} active" if row.get("active_tasks") else ""
        parent = f", child of {row['parent_id']}" if row.get("parent_id") else ""
        detail = f" ({row['detail']})" if row.get("detail") else ""
        print(f"{row['role']:<9} {row['status']:<11} {row['name'][:28]:<28} {row['url']}{parent}{busy}{seen}{detail}")
    return 0
