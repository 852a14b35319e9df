"""``codetether swarm "task"`` and ``codetether swarm status|resume|cancel|list [ID]``.

A swarm runs in the daemon; this command starts (or resumes) it and shows its progress
as it happens: the plan and its stages, each subtask starting, its tools, its end, the
merge-back, then the answer on stdout and one line per subtask (steps, tokens, diff).
On a terminal a status line says which subtasks are running. Ctrl-C cancels the swarm
(it is saved; ``swarm resume ID`` goes on). ``--json`` prints every event and then the
final state as JSON lines.
"""

from __future__ import annotations

import json
import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..client import Client

__all__ = ["ACTIONS", "cmd_swarm"]

ACTIONS = ("status", "resume", "cancel", "list")
CANCEL_GRACE = 10.0
_EXIT = {"completed": 0, "cancelled": 130}


def cmd_swarm(args: Any, paths: Any) -> int:
    from ..client import Client

    words: list[str] = args.words
    action = words[0] if words[0] in ACTIONS and len(words) <= 2 else None
    with Client(paths) as client:
        if action is None:
            from ..wire.api import forwarded_env

            params: dict[str, Any] = {"task": " ".join(words), "workspace": os.getcwd(),
                                      "strategy": args.strategy, "env": forwarded_env(os.environ)}
            for key, value in (("max_subagents", args.max_subagents), ("concurrency", args.concurrency),
                               ("approval_mode", args.mode), ("model", args.model),
                               ("execution", args.execution)):
                if value is not None:
                    params[key] = value
            if args.fail_fast:
                params["fail_fast"] = True
            return _follow(client, "swarm/start", params, as_json=args.json)
        if action == "list":
            rows = client.call("swarm/list", {})
            if args.json:
                print(json.dumps(rows, indent=2))
            for row in [] if args.json else rows:
                print(f"{row['id']:<20} {row['status']:<12} {_ago(row.get('updated_at'))}  {row['task'][:60]}")
            if not rows and not args.json:
                print('no swarms yet (start one with `codetether swarm "task"`)')
            return 0
        if len(words) != 2:
            raise SystemExit(f"codetether swarm {action}: give the swarm's id")
        swarm_id = words[1]
        if action == "status":
            state = client.call("swarm/status", {"swarm_id": swarm_id})
            if args.json:
                print(json.dumps(state, indent=2))
            else:
                _summary(state, sys.stdout)
            return 0
        if action == "cancel":
            out = client.call("swarm/cancel", {"swarm_id": swarm_id})
            print("cancelled" if out["cancelled"] else f"swarm {swarm_id} is not running")
            return 0
        from ..wire.api import forwarded_env

        return _follow(client, "swarm/resume", {"swarm_id": swarm_id, "env": forwarded_env(os.environ)},
                       as_json=args.json)


class _Progress:
    """Prints a swarm's events as lines on stderr, with a status line on a terminal."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.tty = sys.stderr.isatty() and not as_json
        self.running: set[str] = set()
        self.done = 0
        self.total = 0
        self.swarm_id = ""
        self._status_shown = False

    def event(self, event: dict[str, Any]) -> None:
        self.swarm_id = event.get("swarm_id") or self.swarm_id
        if self.as_json:
            print(json.dumps({"type": "swarm_event", **event}), flush=True)
            return
        line = self._line(event)
        self._clear()
        if line:
            sys.stderr.write(line + "\n")
        self._status()
        sys.stderr.flush()

    def _line(self, e: dict[str, Any]) -> str | None:
        from ..wire.swarm import describe_progress

        phase, sub, detail = e["phase"], e.get("subtask"), e.get("detail", "")
        if phase == "planned":
            self.total = sum(len(s.split(", ")) for s in detail.split(" | ")) if detail else 0
        elif phase == "started":
            self.running.add(sub or "")
        elif phase in ("done", "failed", "cancelled", "skipped") and sub:
            self.running.discard(sub)
            self.done += 1
        elif phase == "approval":
            approval_id, _, rest = detail.partition(" ")
            return f"  {sub} asks to run {rest}: `codetether approvals allow {approval_id}`"
        return describe_progress(e)

    def _status(self) -> None:
        if self.tty and self.running:
            shown = ", ".join(sorted(self.running))
            sys.stderr.write(f"\r[{self.done}/{self.total or '?'} finished; running: {shown}]")
            self._status_shown = True

    def _clear(self) -> None:
        if self._status_shown:
            sys.stderr.write("\r\033[K")
            self._status_shown = False


def _follow(client: Client, method: str, params: dict[str, Any], *, as_json: bool) -> int:
    from ..errors import CodetetherError

    progress = _Progress(as_json)
    req_id = client.send(method, params)
    assert req_id is not None

    def on_note(frame: dict[str, Any]) -> None:
        if frame.get("method") == "swarm/event":
            progress.event(frame["params"]["event"])

    try:
        state = client.wait(req_id, on_note)
    except KeyboardInterrupt:
        progress._clear()
        sys.stderr.write("\ncancelling…\n")
        try:
            if progress.swarm_id:
                client.call("swarm/cancel", {"swarm_id": progress.swarm_id})
            client.wait(req_id, lambda _frame: None, timeout=CANCEL_GRACE)
        except (CodetetherError, KeyboardInterrupt, TimeoutError):
            pass
        sys.stderr.write(f"cancelled; go on with `codetether swarm resume {progress.swarm_id}`\n"
                         if progress.swarm_id else "cancelled\n")
        return 130
    progress._clear()
    if as_json:
        print(json.dumps({"type": "result", **state}), flush=True)
    else:
        if state.get("answer"):
            print(state["answer"])
        _summary(state, sys.stderr)
    return _EXIT.get(state["status"], 1)


def _summary(state: dict[str, Any], out: Any) -> None:
    out.write(f"swarm {state['id']}: {state['status']}"
              f"{' (' + state['error'] + ')' if state.get('error') else ''}\n")
    for level in state.get("stages") or []:
        for name in level:
            r = (state.get("results") or {}).get(name)
            if r is None:
                out.write(f"  {name:<20} not run\n")
                continue
            diff = r.get("diff") or {}
            count = len(diff.get("files") or [])
            changed = f", {count} files +{diff.get('added', 0)} -{diff.get('removed', 0)}" if count else ""
            why = f" — {r['error']}" if r.get("error") and r["status"] != "done" else ""
            out.write(f"  {name:<20} {r['status']:<9} {r.get('steps', 0)} steps, "
                      f"{r.get('tokens_in', 0)}/{r.get('tokens_out', 0)} tokens{changed}{why}\n")
    merge = state.get("merge") or {}
    for o in merge.get("outcomes") or []:
        if o["status"] not in ("merged", "unchanged"):
            files = f" ({', '.join(o.get('files') or [])})" if o.get("files") else ""
            out.write(f"  merge {o['subtask']}: {o['status']}{files}; branch {o['branch']} kept\n")
    if merge.get("refused"):
        out.write(f"  merge refused: {merge['refused']}\n")
    out.flush()


def _ago(ts: float | None) -> str:
    if not ts:
        return "-"
    s = max(0, int(time.time() - ts))
    return f"{s}s ago" if s < 120 else f"{s // 60}m ago" if s < 7200 else f"{s // 3600}h ago"
