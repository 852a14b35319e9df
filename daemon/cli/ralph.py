"""``codetether ralph create-prd|run|status|cancel``: the PRD loop, run by the daemon.

``create-prd --feature X`` has the model draft a prd.json (``--out``, default
./prd.json). ``run --prd prd.json`` works through it story by story and shows the
progress as it happens (on stderr): each iteration's story, the agent's tools, each
check, pass or fail, the commit; then a summary on stdout. Ctrl-C cancels the run
(what passes is kept in prd.json: ``ralph run`` again goes on). ``status`` shows the
stories and the last run. ``--json`` prints every event and then the result as JSON lines. ``run --parallel N`` lets
an iteration run up to N ready stories together, each in its own git worktree.

Exit status of ``run``: 0 every story passes (or the run was stopped by its owner), 1
stories are left (max iterations) or the run failed, 130 cancelled.
"""

from __future__ import annotations

import json
import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from ..client import Client

__all__ = ["add_arguments", "cmd_ralph"]

CANCEL_GRACE = 10.0
_EXIT = {"completed": 0, "stopped": 0, "cancelled": 130}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments (the parser is made by ``cli/args.py``)."""
    parser.description = ("The PRD loop: a prd.json's stories worked through one fresh agent at a time, each "
                          "done when its quality checks and verification steps pass.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True, title="actions",
                                    parser_class=type(parser))
    create = actions.add_parser("create-prd", help="have the model draft a prd.json for a feature")
    create.add_argument("--feature", required=True, help="the feature to plan")
    create.add_argument("--project-name", default="", metavar="P", help="the project's name")
    create.add_argument("--description", default="", help="more about the feature")
    create.add_argument("--out", default="prd.json", help="where to write it (default ./prd.json)")
    create.add_argument("--force", action="store_true", help="overwrite an existing file")
    create.add_argument("-m", "--model", help="the model that drafts it")
    create.add_argument("--json", action="store_true", help="machine-readable output")
    run = actions.add_parser("run", help="work through a prd.json story by story")
    run.add_argument("-p", "--prd", default="prd.json", help="the prd.json (default ./prd.json)")
    run.add_argument("--max-iterations", type=_positive, default=10, metavar="N",
                     help="most iterations (fresh agents) in this run (default 10)")
    run.add_argument("-m", "--model", help="the model of every iteration's agent")
    run.add_argument("--mode", choices=["ask", "auto", "plan"], default=None,
                     help="the agents' approval mode (default: the configured one)")
    run.add_argument("--workspace", help="where the agents work and checks run (default: the PRD's directory)")
    run.add_argument("--parallel", type=_positive, default=1, metavar="N",
                     help="run up to N ready stories per iteration together, each in its own git worktree, "
                          "merged back in priority order (default 1: one at a time)")
    run.add_argument("--json", action="store_true", help="machine-readable output")
    for name, what in (("status", "a PRD's stories and its last run"), ("cancel", "cancel a PRD's running loop")):
        p = actions.add_parser(name, help=what)
        p.add_argument("-p", "--prd", default="prd.json", help="the prd.json, or a PRD id (default ./prd.json)")
        p.add_argument("--json", action="store_true", help="machine-readable output")


def _positive(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _prd_arg(text: str) -> str:
    """An id stays as it is; a path becomes absolute (the daemon has another cwd)."""
    if text.startswith("prd-") and "/" not in text and not os.path.exists(text):
        return text
    return os.path.abspath(os.path.expanduser(text))


def cmd_ralph(args: Any, paths: Any) -> int:
    """Run ``codetether ralph ACTION``."""
    from ..client import Client
    from ..wire.api import forwarded_env

    with Client(paths) as client:
        if args.action == "create-prd":
            params: dict[str, Any] = {"feature": args.feature, "project_name": args.project_name,
                                      "description": args.description, "out": _prd_arg(args.out),
                                      "overwrite": args.force, "env": forwarded_env(os.environ)}
            if args.model:
                params["model"] = args.model
            out = client.call("ralph/create_prd", params)
            if args.json:
                print(json.dumps(out, indent=2))
                return 0
            prd = out["prd"]
            print(f"wrote {out['path']}: {prd['project']} — {prd['feature']}, "
                  f"{len(prd['user_stories'])} stories{' (repaired once)' if out.get('repaired') else ''}")
            for story in prd["user_stories"]:
                deps = f" (after {', '.join(story['depends_on'])})" if story.get("depends_on") else ""
                print(f"  {story['id']:<10} p{story.get('priority', 1)}  {story['title']}{deps}")
            print(f"run it: codetether ralph run --prd {args.out}")
            return 0
        if args.action == "status":
            status = client.call("ralph/status", {"prd": _prd_arg(args.prd)})
            if args.json:
                print(json.dumps(status, indent=2))
            else:
                _status(status, sys.stdout)
            return 0
        if args.action == "cancel":
            out = client.call("ralph/cancel", {"prd": _prd_arg(args.prd)})
            print("cancelled" if out["cancelled"] else "no Ralph run on that PRD is running")
            return 0
        params = {"prd": _prd_arg(args.prd), "max_iterations": args.max_iterations,
                  "env": forwarded_env(os.environ)}
        if args.parallel > 1:
            params["parallel"] = args.parallel
        for key, value in (("model", args.model), ("approval_mode", args.mode)):
            if value is not None:
                params[key] = value
        if args.workspace:
            params["workspace"] = os.path.abspath(args.workspace)
        return _follow(client, params, as_json=args.json)


def _follow(client: Client, params: dict[str, Any], *, as_json: bool) -> int:
    from ..errors import CodetetherError
    from ..wire.ralph import describe_progress

    req_id = client.send("ralph/run", params)
    assert req_id is not None

    def on_note(frame: dict[str, Any]) -> None:
        if frame.get("method") != "ralph/event":
            return
        event = frame["params"]["event"]
        if as_json:
            print(json.dumps({"type": "ralph_event", **event}), flush=True)
            return
        line = describe_progress(event)
        if line:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()

    try:
        state = client.wait(req_id, on_note)
    except KeyboardInterrupt:
        sys.stderr.write("\ncancelling…\n")
        try:
            client.call("ralph/cancel", {"prd": params["prd"]})
            client.wait(req_id, lambda _frame: None, timeout=CANCEL_GRACE)
        except (CodetetherError, KeyboardInterrupt, TimeoutError):
            pass
        sys.stderr.write("cancelled; what passes is saved in the PRD: `codetether ralph run` goes on\n")
        return 130
    if as_json:
        print(json.dumps({"type": "result", **state}), flush=True)
    else:
        _summary(state, sys.stdout)
    return _EXIT.get(state["status"], 1)


def _summary(state: dict[str, Any], out: Any) -> None:
    error = f" ({state['error']})" if state.get("error") else ""
    out.write(f"ralph {state['prd_id']}: {state['status']}{error}: {state.get('stories_passed', 0)} of "
              f"{state.get('stories_total', 0)} stories pass after {state.get('iteration', 0)} iterations\n")
    for it in state.get("iterations") or []:
        why = f" — {it['failed_check']} failed" if it.get("failed_check") else ""
        if it.get("merge") not in (None, "merged", "unchanged"):
            why = f" — {it['merge']}, branch kept: {it.get('branch')}"
        commit = f", commit {it['commit'][:12]}" if it.get("commit") else ""
        out.write(f"  {it['iteration']:>3}. {it['story_id']:<10} {it['outcome']}{why}{commit}\n")
    out.flush()


def _status(status: dict[str, Any], out: Any) -> None:
    out.write(f"PRD {status['prd_path']} ({status['prd_id']})"
              f"{': ' + status['project'] + ' — ' + status['feature'] if status.get('project') else ''}\n")
    if status.get("prd_error"):
        out.write(f"  prd.json cannot be read now: {status['prd_error']}\n")
    marks = {"passes": "✓", "ready": "·", "blocked": "–"}
    for s in status.get("stories") or []:
        waits = f" (waits on {', '.join(s['depends_on'])})" if s["status"] == "blocked" else ""
        out.write(f"  {marks[s['status']]} {s['id']:<10} {s['status']:<8} {s['title']}{waits}\n")
    if status.get("total"):
        nxt = f"; next: {status['next_story']}" if status.get("next_story") else ""
        out.write(f"{status.get('passed', 0)} of {status['total']} stories pass{nxt}\n")
    run = status.get("run")
    if run is None:
        out.write("never run (start it with `codetether ralph run`)\n")
    else:
        current = f", on {run['current_story']}" if run.get("current_story") else ""
        out.write(f"last run: {run['status']}{current}, {run.get('iteration', 0)} of {run['max_iterations']} "
                  f"iterations ({_ago(run.get('updated_at'))})\n")
    out.flush()


def _ago(ts: float | None) -> str:
    if not ts:
        return "-"
    s = max(0, int(time.time() - ts))
    return f"{s}s ago" if s < 120 else f"{s // 60}m ago" if s < 7200 else f"{s // 3600}h ago"
