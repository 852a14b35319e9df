"""Argument parsing for the CLI (argparse: stdlib, fast to import).

Building every subcommand's parser costs ~12 ms, most of a warm round trip, so
:func:`build_parser` builds only the subcommand named on the command line (all of
them only for top-level help or an unknown command).
"""

from __future__ import annotations

import argparse

__all__ = ["build_parser"]


class _Formatter(argparse.HelpFormatter):
    """argparse builds formatters even when no help is printed, and the stock one
    imports ``shutil`` (~3 ms) just to read the terminal width; ``os`` can do that."""

    def __init__(self, prog: str) -> None:
        import os

        try:
            width = int(os.environ.get("COLUMNS", "")) or os.get_terminal_size().columns
        except (ValueError, OSError):
            width = 80
        super().__init__(prog, width=max(width - 2, 40))


def _json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _run(sub) -> None:  # type: ignore[no-untyped-def]
    run = sub.add_parser("run", help="run an agent task and stream the answer")
    run.add_argument("prompt", nargs="+", help="the task; @path attaches a workspace file")
    run.add_argument("--model", "-m", help="provider/model, e.g. anthropic/claude-sonnet-4-20250514")
    group = run.add_mutually_exclusive_group()
    group.add_argument("--continue", "-c", dest="cont", action="store_true",
                       help="continue the latest session in this workspace")
    group.add_argument("--session", "-s", help="continue the session with this id")
    run.add_argument("--yes", "-y", action="store_true", help="approve every tool call (auto mode)")
    run.add_argument("--approval-mode", choices=["ask", "auto", "plan"])
    run.add_argument("--workspace", "-w", help="workspace root (default: current directory)")
    _json_flag(run)


def _sessions(sub) -> None:  # type: ignore[no-untyped-def]
    sessions = sub.add_parser("sessions", help="list, show, resume, delete or fork sessions")
    ssub = sessions.add_subparsers(dest="action", metavar="ACTION", required=True)
    lst = ssub.add_parser("list")
    lst.add_argument("--all", action="store_true", help="every workspace, not just this one")
    lst.add_argument("--limit", type=int, default=50)
    _json_flag(lst)
    for name in ("show", "delete"):
        p = ssub.add_parser(name)
        p.add_argument("id")
        _json_flag(p)
    resume = ssub.add_parser("resume", help="resume pending work, or continue with a prompt")
    resume.add_argument("id")
    resume.add_argument("prompt", nargs="*")
    resume.add_argument("--yes", "-y", action="store_true")
    _json_flag(resume)
    fork = ssub.add_parser("fork")
    fork.add_argument("id")
    fork.add_argument("--at", type=int, help="keep only the first N messages")
    _json_flag(fork)


def _models(sub) -> None:  # type: ignore[no-untyped-def]
    _json_flag(sub.add_parser("models", help="list models"))


def _tools(sub) -> None:  # type: ignore[no-untyped-def]
    _json_flag(sub.add_parser("tools", help="list tools"))


def _config(sub) -> None:  # type: ignore[no-untyped-def]
    config = sub.add_parser("config", help="show or change the configuration")
    cgroup = config.add_mutually_exclusive_group(required=True)
    cgroup.add_argument("--show", action="store_true")
    cgroup.add_argument("--set", metavar="KEY=VALUE")
    _json_flag(config)


def _approvals(sub) -> None:  # type: ignore[no-untyped-def]
    approvals = sub.add_parser("approvals", help="list or decide pending approvals")
    asub = approvals.add_subparsers(dest="action", metavar="ACTION", required=True)
    _json_flag(asub.add_parser("list"))
    for name in ("allow", "deny"):
        p = asub.add_parser(name)
        p.add_argument("id")
        p.add_argument("--reason", default="")
        _json_flag(p)


def _daemon(sub) -> None:  # type: ignore[no-untyped-def]
    daemon = sub.add_parser("daemon", help="manage the daemon")
    dsub = daemon.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name in ("start", "stop", "status"):
        _json_flag(dsub.add_parser(name))
    logs = dsub.add_parser("logs")
    logs.add_argument("-n", "--lines", type=int, default=50)
    _json_flag(logs)


class _SubParser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)


def _stats(sub) -> None:  # type: ignore[no-untyped-def]
    stats = sub.add_parser("stats", help="telemetry totals: per tool, per model, costs")
    stats.add_argument("--since", help="7d, 12h, 30m or epoch seconds")
    _json_flag(stats)


def _telemetry(sub) -> None:  # type: ignore[no-untyped-def]
    tel = sub.add_parser("telemetry", help="telemetry report and export")
    tsub = tel.add_subparsers(dest="action", metavar="ACTION", required=True)
    report = tsub.add_parser("report", help="a self-contained HTML page with charts")
    report.add_argument("--html", required=True, metavar="FILE")
    report.add_argument("--since")
    _json_flag(report)
    _json_flag(tsub.add_parser("export", help="the telemetry.json export"))


def _audit(sub) -> None:  # type: ignore[no-untyped-def]
    audit = sub.add_parser("audit", help="the tamper-evident audit trail")
    asub = audit.add_subparsers(dest="action", metavar="ACTION", required=True)
    verify = asub.add_parser("verify", help="check the hash chain; names the first bad line")
    verify.add_argument("--file", help="verify this log file directly, without the daemon")
    _json_flag(verify)
    recent = asub.add_parser("recent")
    recent.add_argument("--limit", type=int, default=50)
    _json_flag(recent)
    query = asub.add_parser("query")
    for flag in ("--principal", "--resource", "--category", "--outcome", "--session", "--since",
                 "--until"):
        query.add_argument(flag)
    query.add_argument("--action", dest="action_name")
    query.add_argument("--limit", type=int, default=100)
    _json_flag(query)


def _events(sub) -> None:  # type: ignore[no-untyped-def]
    events = sub.add_parser("events", help="a session's event stream")
    esub = events.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = esub.add_parser("show", help="replay events from a sequence number")
    show.add_argument("session")
    show.add_argument("--from", dest="from_seq", type=int, default=0)
    show.add_argument("--limit", type=int, default=200)
    _json_flag(show)
    read = esub.add_parser("read", help="one event by sequence number (one seek)")
    read.add_argument("session")
    read.add_argument("seq", type=int)
    _json_flag(read)
    rec = esub.add_parser("reconstruct", help="the transcript and file changes, from events")
    rec.add_argument("session")
    _json_flag(rec)
    arch = esub.add_parser("archive", help="copy the stream to S3-compatible storage ([archive])")
    arch.add_argument("session")
    _json_flag(arch)


def _lsp(sub) -> None:  # type: ignore[no-untyped-def]
    lsp = sub.add_parser("lsp", help="run the language server on stdio (editors start this)")
    # The flags LSP client libraries append (vscode-languageclient's TransportKind.stdio adds
    # --stdio, and --clientProcessId). stdio is the only transport; the others are refused by name.
    lsp.add_argument("--stdio", action="store_true", help="talk LSP on stdin/stdout (the default)")
    lsp.add_argument("--clientProcessId", dest="client_pid", type=int, default=None,
                     help="the editor's pid (accepted for compatibility)")
    for flag in ("--pipe", "--socket", "--node-ipc", "--tcp", "--port"):
        lsp.add_argument(flag, dest=f"transport_{flag.strip('-').replace('-', '_')}", nargs="?",
                         const=True, default=None, help=argparse.SUPPRESS)


_SUBCOMMANDS = {
    "run": _run, "sessions": _sessions, "models": _models, "tools": _tools,
    "config": _config, "approvals": _approvals, "daemon": _daemon, "stats": _stats,
    "telemetry": _telemetry, "audit": _audit, "events": _events, "lsp": _lsp,
}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codetether", description="An AI coding agent that lives beside your editor.",
        formatter_class=_Formatter)
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_SubParser)
    first = next((a for a in argv or [] if not a.startswith("-")), None)
    wanted = [_SUBCOMMANDS[first]] if first in _SUBCOMMANDS else list(_SUBCOMMANDS.values())
    for add in wanted:
        add(sub)
    return parser
