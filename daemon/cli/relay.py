"""``codetether relay list|status ID|resume ID|cancel ID [--json]``, and ``codetether run
"/autochat [N] task"`` (routed here by run.py).

A relay runs in the daemon as its own job: this command starts (or resumes, or attaches
to) it and shows its progress as lines on stderr (each turn, its tools, each baton), then
the last baton on stdout. Leaving (Ctrl-C, a closed terminal) does **not** stop the relay:
it goes on in the daemon, ``relay status ID`` shows it and ``relay cancel ID`` stops it.
``--json`` prints every event and then the final checkpoint as JSON lines. Exit codes: 0
completed, 1 failed, 3 still running (the daemon stopped under it: ``relay resume ID``),
130 cancelled or left with Ctrl-C.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from ..client import Client

__all__ = ["ACTIONS", "add_arguments", "autochat", "cmd_relay", "is_autochat", "parse_autochat"]

ACTIONS = ("list", "status", "resume", "cancel")
_EXIT = {"completed": 0, "failed": 1, "running": 3, "planning": 3, "cancelled": 130}
_AUTOCHAT = re.compile(r"/autochat(?:\s+(?P<n>[0-9]+)(?=\s|$))?(?P<task>.*)", re.S)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments (the parser is made by ``cli/args.py``)."""
    parser.description = ('The /autochat relay (start one with `codetether run "/autochat [N] task"`): '
                          "relay list; relay status|resume|cancel ID.")
    parser.add_argument("action", choices=ACTIONS, help="what to do")
    parser.add_argument("id", nargs="?", help="the relay's id (status, resume, cancel)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def is_autochat(text: str) -> bool:
    """``text`` is a ``/autochat`` command (what run.py routes here)."""
    return text == "/autochat" or bool(re.match(r"/autochat\s", text))


def parse_autochat(text: str) -> tuple[int | None, str]:
    """``/autochat [N] task`` -> (N or None, task); the task may be empty."""
    m = _AUTOCHAT.fullmatch(text.strip())
    if m is None:
        return None, ""
    return (int(m["n"]) if m["n"] else None), m["task"].strip()


def autochat(paths: Any, text: str, *, workspace: str, mode: str | None, model: str | None,
             as_json: bool) -> int:
    """``codetether run "/autochat [N] task"``: start a relay and follow it."""
    from ..client import Client
    from ..wire.api import forwarded_env

    agents, task = parse_autochat(text)
    if not task:
        print('codetether run: error: /autochat needs a task: "/autochat [N] task"', file=sys.stderr)
        return 2
    if agents is not None and not 1 <= agents <= 8:
        print("codetether run: error: /autochat N: between 1 and 8 specialists", file=sys.stderr)
        return 2
    params: dict[str, Any] = {"task": task, "workspace": workspace, "env": forwarded_env(os.environ)}
    for key, value in (("agents", agents), ("approval_mode", mode), ("model", model)):
        if value is not None:
            params[key] = value
    with Client(paths) as client:
        return _follow(client, "relay/start", params, as_json=as_json)


def cmd_relay(args: Any, paths: Any) -> int:
    """``codetether relay ...``."""
    from ..client import Client

    if args.action != "list" and not args.id:
        raise SystemExit(f"codetether relay {args.action}: give the relay's id")
    with Client(paths) as client:
        if args.action == "list":
            rows = client.call("relay/list", {})
            if args.json:
                print(json.dumps(rows, indent=2))
                return 0
            for row in rows:
                print(f"{row['relay_id']:<24} {_status(row):<22} {len(row.get('turns') or []):>3} turns  "
                      f"{_ago(row.get('updated_at'))}  {row['task'][:50]}")
            if not rows:
                print('no relays yet (start one with `codetether run "/autochat task"`)')
            return 0
        if args.action == "status":
            cp = client.call("relay/status", {"relay_id": args.id})
            if args.json:
                print(json.dumps(cp, indent=2))
            else:
                _summary(cp, sys.stdout, transcript=True)
            return 0
        if args.action == "cancel":
            out = client.call("relay/cancel", {"relay_id": args.id})
            print("cancelled" if out["cancelled"] else f"relay {args.id} is not running")
            return 0
        from ..wire.api import forwarded_env

        return _follow(client, "relay/resume", {"relay_id": args.id, "env": forwarded_env(os.environ)},
                       as_json=args.json)


def _follow(client: Client, method: str, params: dict[str, Any], *, as_json: bool) -> int:
    from ..client import DaemonUnavailable
    from ..wire.relay import describe_relay_progress

    seen = {"id": str(params.get("relay_id") or "")}
    req_id = client.send(method, params)
    assert req_id is not None

    def on_note(frame: dict[str, Any]) -> None:
        if frame.get("method") != "relay/event":
            return
        event = frame["params"]["event"]
        seen["id"] = event.get("relay_id") or seen["id"]
        if as_json:
            print(json.dumps({"type": "relay_event", **event}), flush=True)
            return
        line = describe_relay_progress(event)
        if line:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()

    try:
        cp = client.wait(req_id, on_note)
    except KeyboardInterrupt:
        where = seen["id"] or "(see `codetether relay list`)"
        sys.stderr.write(f"\nleft the relay; it goes on in the daemon: `codetether relay status {where}`, "
                         f"stop it with `codetether relay cancel {where}`\n")
        return 130
    except DaemonUnavailable:
        raise DaemonUnavailable(f"the daemon stopped during the relay; its checkpoint survives: go on with "
                                f"`codetether relay resume {seen['id']}`") from None
    if as_json:
        print(json.dumps({"type": "result", **cp}), flush=True)
    else:
        if cp.get("status") == "completed" and cp.get("baton"):
            print(cp["baton"])
        _summary(cp, sys.stderr, transcript=False)
    return _EXIT.get(cp["status"], 1)


def _status(cp: dict[str, Any]) -> str:
    status = str(cp["status"])
    if status == "completed":
        return f"completed ({cp.get('stop_reason')})"
    if status in ("running", "planning") and not cp.get("live"):
        return f"{status} (not live)"
    return status


def _summary(cp: dict[str, Any], out: Any, *, transcript: bool) -> None:
    error = f" ({cp['error']})" if cp.get("error") else ""
    out.write(f"relay {cp['relay_id']}: {_status(cp)}{error}; round {min(cp['round'], cp['max_rounds'])} "
              f"of {cp['max_rounds']}: {' → '.join(cp.get('order') or []) or 'not planned yet'}\n")
    for turn in cp.get("turns") or []:
        first = (turn["text"].strip().splitlines() or ["(no reply)"])[0][:80]
        tools = f", {turn.get('tool_calls', 0)} tool calls" if turn.get("tool_calls") else ""
        out.write(f"  {turn['round']}.{turn['index'] + 1} {turn['profile']:<14} {first}{tools}\n")
        if transcript and turn["text"].strip() != first:
            for line in turn["text"].strip().splitlines()[1:]:
                out.write(f"      {line}\n")
    if cp["status"] in ("running", "planning", "failed", "cancelled") and not cp.get("live"):
        out.write(f"  go on with `codetether relay resume {cp['relay_id']}`\n")
    out.flush()


def _ago(ts: float | None) -> str:
    if not ts:
        return "-"
    s = max(0, int(time.time() - ts))
    return f"{s}s ago" if s < 120 else f"{s // 60}m ago" if s < 7200 else f"{s // 3600}h ago"
