"""CLI commands over the record stores: stats, telemetry, audit, events."""

from __future__ import annotations

import json
import os
import sys
import time

from ..client import Client
from ..errors import InvalidParams, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["cmd_audit", "cmd_events", "cmd_stats", "cmd_telemetry"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str | None) -> float | None:
    """``7d``, ``12h``, ``30m`` ago, or an epoch number; None for all history."""
    if not text:
        return None
    try:
        if text[-1] in _UNITS:
            return time.time() - float(text[:-1]) * _UNITS[text[-1]]
        return float(text)
    except ValueError:
        raise InvalidParams(f"--since wants e.g. 7d, 12h, 30m or epoch seconds, not {text!r}") from None


def _out(data: Any, as_json: bool, human: str) -> None:
    print(json.dumps(data, indent=2, default=str) if as_json else human)


def cmd_stats(args: Any, paths: Any) -> int:
    with Client(paths) as client:
        stats = client.call("telemetry/stats", {"since": parse_since(args.since)})
    _out(stats, args.json, _stats_text(stats))
    return 0


def _stats_text(s: dict[str, Any]) -> str:
    when = "all history" if not s.get("since") else time.strftime(
        "since %Y-%m-%d %H:%M", time.localtime(s["since"]))
    lines = [f"{when}: {s.get('total_executions', 0)} tool runs ({s.get('failed_executions', 0)} failed), "
             f"{s.get('total_requests', 0)} model requests, {s.get('total_input_tokens', 0)} in / "
             f"{s.get('total_output_tokens', 0)} out tokens, cost {s.get('cost', '?')}"]
    if s.get("tools"):
        lines += ["", f"{'tool':<14}{'runs':>6}{'failed':>8}{'avg ms':>9}{'max ms':>9}"]
        lines += [f"{name:<14}{t['count']:>6}{t['failures']:>8}{t['avg_duration_ms']:>9.1f}"
                  f"{t['max_duration_ms']:>9}" for name, t in sorted(s["tools"].items())]
    if s.get("models"):
        lines += ["", f"{'model':<40}{'requests':>9}{'in':>10}{'out':>10}  cost"]
        lines += [f"{name:<40}{m['requests']:>9}{m['input_tokens']:>10}{m['output_tokens']:>10}  {m['cost']}"
                  for name, m in sorted(s["models"].items())]
    if s.get("unpriced_models"):
        lines.append(f"\nunpriced (no cost estimate): {', '.join(s['unpriced_models'])}")
    return "\n".join(lines)


def cmd_telemetry(args: Any, paths: Any) -> int:
    with Client(paths) as client:
        if args.action == "report":
            path = _report_path(args.html)
            done = client.call("telemetry/report", {"path": path, "since": parse_since(args.since)})
            _out(done, args.json, f"wrote {done['path']} ({done['bytes']} bytes)")
        else:
            _out(client.call("telemetry/export"), True, "")
    return 0


def _report_path(text: str) -> str:
    """C12: relative is made absolute here (the daemon has its own cwd); a missing
    directory or a directory as the file is said plainly."""
    path = os.path.abspath(os.path.expanduser(text))
    parent = os.path.dirname(path)
    if os.path.isdir(path):
        raise InvalidParams(f"--html {text}: {path} is a directory; give a file name in it")
    if not os.path.isdir(parent):
        raise InvalidParams(f"--html {text}: no directory {parent} (create it first)")
    return path


def _entry_line(e: dict[str, Any]) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e["ts"]))
    return (f"{e['seq']:>6} {when} {e['category']:<9} {e['action']:<22} {e['outcome']:<8} "
            f"{e['principal']}{'  ' + e['resource'] if e.get('resource') else ''}")


def cmd_audit(args: Any, paths: Any) -> int:
    if args.action == "verify" and args.file:
        from ..core.records.audit import verify_file

        path = os.path.abspath(args.file)
        if not os.path.isfile(path):  # C6: nothing to verify is not "intact"
            what = "is not a file" if os.path.exists(path) else "does not exist"
            raise NotFound(f"audit verify --file: {path} {what}")
        result = verify_file(path)
        data = {k: getattr(result, k) for k in ("ok", "entries", "first_bad_line", "reason")}
    else:
        with Client(paths) as client:
            if args.action == "verify":
                data = client.call("audit/verify")
            elif args.action == "recent":
                rows = client.call("audit/recent", {"limit": args.limit})
                _out(rows, args.json, "\n".join(_entry_line(e) for e in rows) or "no audit entries")
                return 0
            else:
                params = {k: getattr(args, k) for k in ("principal", "action_name", "resource",
                                                          "category", "outcome", "session")
                          if getattr(args, k)}
                if "action_name" in params:
                    params["action"] = params.pop("action_name")
                if "session" in params:
                    params["session_id"] = params.pop("session")
                params.update(since=parse_since(args.since), until=parse_since(args.until),
                              limit=args.limit)
                rows = client.call("audit/query", params)
                _out(rows, args.json, "\n".join(_entry_line(e) for e in rows) or "no matching entries")
                return 0
    human = (f"audit log intact: {data['entries']} entries" if data["ok"] else
             f"audit log broken at line {data['first_bad_line']}: {data['reason']}")
    _out(data, args.json, human)
    return 0 if data["ok"] else 1


def cmd_events(args: Any, paths: Any) -> int:
    with Client(paths) as client:
        if args.action == "show":
            rows = client.call("events/replay", {"session_id": args.session, "from_seq": args.from_seq,
                                                 "limit": args.limit})
            start = rows[0]["ts"] if rows else 0.0
            if rows and rows[0]["seq"] > 0:  # C4: times count from the session's first event
                start = client.call("events/read", {"session_id": args.session, "seq": 0})["ts"]
            _out(rows, args.json, "\n".join(
                f"{r['seq']:>6} {_since(r['ts'] - start):>9} {r['kind']:<18} {json.dumps(r['data'])[:100]}"
                for r in rows) or "no events")
            if rows and len(rows) == args.limit and not args.json:
                # Say there is more, and how to see it (found trying it as a user).
                more = client.call("events/replay", {"session_id": args.session,
                                                     "from_seq": rows[-1]["seq"] + 1, "limit": 1})
                if more:
                    print(f"… more events from {rows[-1]['seq'] + 1}: add --from {rows[-1]['seq'] + 1} "
                          f"(or a larger --limit)", file=sys.stderr)
        elif args.action == "archive":
            done = client.call("events/archive", {"session_id": args.session})
            _out(done, args.json, "\n".join(f"uploaded s3://{done['bucket']}/{f['key']} ({f['size']} bytes)"
                                            for f in done["files"]))
        elif args.action == "read":
            _out(client.call("events/read", {"session_id": args.session, "seq": args.seq}), True, "")
        else:
            rec = client.call("events/reconstruct", {"session_id": args.session})
            human = "\n".join(_message_line(m) for m in rec.get("messages", []))
            human += "".join(f"\n  changed {c.get('path')} ({c.get('kind')})"
                             for c in rec.get("file_changes", []))
            _out(rec, args.json, human)
    return 0


def _since(seconds: float) -> str:
    """Time since the first event: +125ms, +3.2s, +4m05s (C4: not a byte offset)."""
    seconds = max(0.0, seconds)
    if seconds < 1:
        return f"+{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"+{seconds:.1f}s"
    return f"+{int(seconds // 60)}m{int(seconds % 60):02d}s"


def _message_line(m: dict[str, Any]) -> str:
    """One reconstructed message (C2: user/assistant carry ``text``, tools ``output``)."""
    role = m.get("role")
    if role == "tool":
        mark = "✗" if m.get("is_error") else "✓"
        lines = str(m.get("output") or "").strip().splitlines() or [""]
        more = f"  (+{len(lines) - 1} lines)" if len(lines) > 1 else ""
        return f"  [{m.get('name')}] {mark} {lines[0][:200]}{more}"
    if role == "error":
        return f"error: {m.get('message', '')}"
    return f"{role}: {str(m.get('text') or m.get('content') or '')[:200]}"
