"""``codetether okr list|status ID|create|runs [ID]|export ID|stats|report [ID]``.

A thin client of the daemon's ``okr/*`` methods. ``create`` takes an OKR three ways:
from flags (``--title``, ``--description``, ``--kr`` repeated), from ``--file okr.json``
(the shape of ``okr/create``'s params), or, with neither and a terminal on stdin, by
asking for the title, description and each key result in turn. A key result flag is

    --kr "title:target:unit:metric:kind=value"
    --kr "docs written:5:files:count:file=docs/*.md"
    --kr "tests green:1::quality:tests=pytest -q"

(the title may hold ``:``; so may the evidence value, which runs to the end). Bad
input is said plainly and exits 2. ``report --format html`` is one self-contained page.
"""

from __future__ import annotations

import json
import re
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from ..client import Client

__all__ = ["OkrInputError", "add_arguments", "cmd_okr", "load_okr_file", "parse_kr"]

ACTIONS = ("list", "status", "create", "runs", "export", "stats", "report")
_KR = re.compile(r"(?P<title>.+?):(?P<target>[^:]*):(?P<unit>[^:]*):(?P<metric>[a-z]*):"
                 r"(?P<kind>command|tests|file|url|question)=(?P<value>.*)", re.S)
KR_FORMAT = '"title:target:unit:metric:kind=value" (e.g. "docs:5:files:count:file=docs/*.md")'
#: What each evidence kind's ``value`` is called in the evidence object.
_FIELD = {"command": "command", "tests": "command", "file": "path", "url": "url", "question": "question"}


class OkrInputError(ValueError):
    """An OKR given on the command line or in a file that cannot be used; the message says why."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments (the parser is made by ``cli/args.py``)."""
    sub = parser.add_subparsers(dest="okr_action", metavar="ACTION")

    def json_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("--json", action="store_true", help="machine-readable output")

    ls = sub.add_parser("list", help="OKRs, newest first")
    ls.add_argument("--status", help="only OKRs in this status")
    ls.add_argument("--owner", help="only this owner's")
    ls.add_argument("--tag", help="only OKRs with this tag")
    json_flag(ls)
    st = sub.add_parser("status", help="one OKR (its key results and runs), or one run")
    st.add_argument("id", help="an OKR id (okr_...) or a run id (okrrun_...)")
    json_flag(st)
    cr = sub.add_parser("create", help="a new OKR: from flags, --file, or asked on a terminal")
    cr.add_argument("--title")
    cr.add_argument("--description", default="")
    cr.add_argument("--kr", action="append", default=[], metavar="SPEC", help=f"a key result: {KR_FORMAT}")
    cr.add_argument("--owner", default="")
    cr.add_argument("--tag", action="append", default=[], dest="tags", help="a tag (repeatable)")
    cr.add_argument("--target-date", help="YYYY-MM-DD")
    cr.add_argument("--file", help="an okr.json file (the okr/create params)")
    json_flag(cr)
    runs = sub.add_parser("runs", help="runs of one OKR, or every run")
    runs.add_argument("id", nargs="?", help="an OKR id")
    runs.add_argument("--status", help="only runs in this status")
    json_flag(runs)
    ex = sub.add_parser("export", help="one OKR with its runs, as JSON")
    ex.add_argument("id", help="an OKR id")
    ex.add_argument("--out", help="write to this file instead of stdout")
    json_flag(ex)
    json_flag(sub.add_parser("stats", help="OKRs and runs by status, mean progress"))
    rep = sub.add_parser("report", help="a report of one OKR or all: text, JSON or an HTML page")
    rep.add_argument("id", nargs="?", help="an OKR id (all OKRs without one)")
    rep.add_argument("--format", choices=["text", "json", "html"], default="text")
    rep.add_argument("--out", help="write to this file instead of stdout")
    json_flag(rep)


# -- input ----------------------------------------------------------------------------


def _check(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` validated as ``okr/create`` params (shape, then each key result)."""
    import msgspec

    from ..wire.okr import OkrCreateParams, check_key_result

    try:
        parsed = msgspec.convert(params, OkrCreateParams)
    except msgspec.ValidationError as exc:
        raise OkrInputError(str(exc)) from exc
    except RecursionError as exc:
        raise OkrInputError("nested too deeply") from exc
    if not parsed.title.strip():
        raise OkrInputError("an OKR needs a title")
    for kr in parsed.key_results:
        if (why := check_key_result(kr)) is not None:
            raise OkrInputError(why)
    if parsed.target_date is not None:
        import datetime

        try:
            datetime.date.fromisoformat(parsed.target_date)
        except ValueError as exc:
            raise OkrInputError(f"target_date {parsed.target_date!r} is not a YYYY-MM-DD date") from exc
    return params


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise OkrInputError(f"{what} {text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")) or value < 0:
        raise OkrInputError(f"{what} must be a finite number >= 0, not {text!r}")
    return value


def _key_result(title: str, target: str, unit: str, metric: str, kind: str, value: str) -> dict[str, Any]:
    from ..wire.okr import EVIDENCE_KINDS, METRIC_TYPES

    metric = metric or "binary"
    if metric not in METRIC_TYPES:
        raise OkrInputError(f"metric {metric!r} is not one of {', '.join(METRIC_TYPES)}")
    if kind not in EVIDENCE_KINDS:
        raise OkrInputError(f"evidence kind {kind!r} is not one of {', '.join(EVIDENCE_KINDS)}")
    if not value.strip():
        raise OkrInputError(f"the {kind} evidence of {title!r} is empty")
    return {"title": title.strip(), "target_value": _number(target, "target") if target.strip() else 1.0,
            "unit": unit.strip(), "metric_type": metric, "evidence": {"kind": kind, _FIELD[kind]: value}}


def parse_kr(spec: str) -> dict[str, Any]:
    """One ``--kr`` flag as a key result (see the module docstring); OkrInputError if not."""
    m = _KR.fullmatch(spec)
    if m is None:
        raise OkrInputError(f"--kr {spec[:80]!r}: expected {KR_FORMAT}")
    kr = _key_result(m["title"], m["target"], m["unit"], m["metric"], m["kind"], m["value"])
    _check({"title": "t", "key_results": [kr]})
    return kr


def load_okr_file(text: str | bytes) -> dict[str, Any]:
    """An ``okr.json`` file's text as ``okr/create`` params; OkrInputError saying why not."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise OkrInputError(f"not JSON: {exc}"[:300]) from None
    if not isinstance(data, dict):
        raise OkrInputError("an okr.json file holds one object: {\"title\": ..., \"key_results\": [...]}")
    return _check(data)


def _ask(prompt: str, default: str = "") -> str:
    shown = f"{prompt} [{default}]: " if default else f"{prompt}: "
    answer = input(shown).strip()
    return answer or default


def _interactive() -> dict[str, Any]:
    from ..wire.okr import EVIDENCE_KINDS, METRIC_TYPES

    title = ""
    while not title:
        title = _ask("Objective title")
    params: dict[str, Any] = {"title": title, "description": _ask("Description (optional)"), "key_results": []}
    print("Key results, one at a time (an empty title ends the list).")
    while True:
        kr_title = _ask(f"Key result {len(params['key_results']) + 1} title")
        if not kr_title:
            break
        while True:
            try:
                metric = _ask(f"  metric ({'/'.join(METRIC_TYPES)})", "binary")
                target = _ask("  target", "1")
                unit = _ask("  unit (optional)")
                kind = _ask(f"  evidence ({'/'.join(EVIDENCE_KINDS)})", "command")
                value = _ask(f"  {kind} {_FIELD.get(kind, 'value')}")
                kr = _key_result(kr_title, target, unit, metric, kind, value)
                _check({"title": title, "key_results": [kr]})
            except OkrInputError as exc:
                print(f"  {exc}; again:")
                continue
            params["key_results"].append(kr)
            break
    return _check(params)


def _create_params(args: Any) -> dict[str, Any]:
    if args.file:
        if args.title or args.kr:
            raise OkrInputError("give --file or --title/--kr, not both")
        try:
            with open(args.file, "rb") as f:
                text = f.read(4 * 1024 * 1024 + 1)
        except OSError as exc:
            raise OkrInputError(f"cannot read {args.file}: {exc.strerror or exc}") from None
        if len(text) > 4 * 1024 * 1024:
            raise OkrInputError(f"{args.file} is over 4 MiB")
        return load_okr_file(text)
    if args.title is None:
        if sys.stdin.isatty():
            return _interactive()
        raise OkrInputError(f"give --title and --kr {KR_FORMAT}, or --file okr.json (or run on a terminal)")
    params: dict[str, Any] = {"title": args.title, "description": args.description,
                              "key_results": [parse_kr(spec) for spec in args.kr],
                              "owner": args.owner, "tags": args.tags}
    if args.target_date:
        params["target_date"] = args.target_date
    return _check(params)


# -- commands -------------------------------------------------------------------------


def cmd_okr(args: Any, paths: Any) -> int:
    """Run one ``codetether okr`` action (``list`` without one)."""
    from ..client import Client

    action = getattr(args, "okr_action", None) or "list"
    as_json = bool(getattr(args, "json", False))
    if action == "create":
        try:
            params = _create_params(args)
        except OkrInputError as exc:
            print(f"codetether okr create: {exc}", file=sys.stderr)
            return 2
        except EOFError:
            print("codetether okr create: input ended", file=sys.stderr)
            return 2
    with Client(paths) as client:
        if action == "create":
            okr = client.call("okr/create", params)
            print(json.dumps(okr, indent=2) if as_json else f"created {okr['id']}: {okr['title']} "
                  f"({len(okr.get('key_results') or [])} key results)")
            return 0
        return _ACTIONS[action](client, args, as_json)


def _list(client: Client, args: Any, as_json: bool) -> int:
    query = {k: v for k in ("status", "owner", "tag") if (v := getattr(args, k, None)) is not None}
    rows = client.call("okr/list", query)
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no OKRs yet (make one with `codetether okr create`)")
    for o in rows:
        krs = len(o.get("key_results") or [])
        print(f"{o['id']:<17} {o.get('status', 'draft'):<10} {krs} KR{'s' if krs != 1 else ' '}  "
              f"{_ago(o.get('updated_at'))}  {o['title'][:60]}")
    return 0


def _status(client: Client, args: Any, as_json: bool) -> int:
    if args.id.startswith("okrrun_"):
        run = client.call("okr/run_get", {"run_id": args.id})
        if as_json:
            print(json.dumps(run, indent=2))
            return 0
        print(f"run {run['id']} of {run['okr_id']}: {run.get('status', 'draft')}, "
              f"{run.get('iterations', 0)} iterations")
        for kr_id, p in sorted((run.get("kr_progress") or {}).items()):
            print(f"  {kr_id}: {round(p * 100)}%")
        if run.get("approval"):
            a = run["approval"]
            print(f"  {a['decision']} by {a['approver']}" + (f": {a['reason']}" if a.get("reason") else ""))
        if run.get("error"):
            print(f"  error: {run['error']}")
        return 0
    if as_json:
        print(json.dumps(client.call("okr/export", {"okr_id": args.id}), indent=2))
        return 0
    sys.stdout.write(client.call("okr/report", {"okr_id": args.id, "format": "text"})["content"])
    return 0


def _runs(client: Client, args: Any, as_json: bool) -> int:
    query = {k: v for k, v in (("okr_id", args.id), ("status", args.status)) if v is not None}
    rows = client.call("okr/runs", query)
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no runs")
    for r in rows:
        progress = r.get("kr_progress") or {}
        mean = f"{round(sum(progress.values()) / len(progress) * 100)}%" if progress else "-"
        print(f"{r['id']:<20} {r.get('status', 'draft'):<17} {r.get('iterations', 0):>3} it  {mean:>4}  "
              f"{r['okr_id']}  {_ago(r.get('updated_at'))}")
    return 0


def _export(client: Client, args: Any, _as_json: bool) -> int:
    _emit(json.dumps(client.call("okr/export", {"okr_id": args.id}), indent=2) + "\n", args.out)
    return 0


def _stats(client: Client, _args: Any, as_json: bool) -> int:
    s = client.call("okr/stats", {})
    if as_json:
        print(json.dumps(s, indent=2))
        return 0
    print(f"OKRs: {s['okrs']} ({_counts(s['okrs_by_status'])}); key results: {s['key_results']}")
    print(f"runs: {s['runs']} ({_counts(s['runs_by_status'])})")
    print(f"mean progress: {round(s['mean_progress'] * 100)}%")
    return 0


def _counts(by_status: dict[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in sorted(by_status.items())) or "none"


def _report(client: Client, args: Any, as_json: bool) -> int:
    fmt = "json" if as_json and args.format == "text" else args.format
    params: dict[str, Any] = {"format": fmt, **({"okr_id": args.id} if args.id else {})}
    _emit(client.call("okr/report", params)["content"], args.out)
    return 0


def _emit(content: str, out: str | None) -> None:
    if out is None:
        sys.stdout.write(content)
        return
    with open(out, "w", encoding="utf-8") as f:
        f.write(content)
    print(f"wrote {out}", file=sys.stderr)


_ACTIONS = {"list": _list, "status": _status, "runs": _runs, "export": _export, "stats": _stats, "report": _report}


def _ago(ts: float | None) -> str:
    if not ts:
        return "-"
    s = max(0, int(time.time() - ts))
    return f"{s}s ago" if s < 120 else f"{s // 60}m ago" if s < 7200 else f"{s // 3600}h ago"
