"""Argument parsing for the CLI (argparse: stdlib, fast to import).

Building every subcommand's parser costs ~12 ms, most of a warm round trip, so
:func:`build_parser` builds only the subcommand named on the command line (all of
them only for top-level help or an unknown command).
"""

from __future__ import annotations

import argparse

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: importing typing costs the CLI ~4 ms
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, NoReturn, TypeAlias

    _Subs: TypeAlias = "argparse._SubParsersAction[_SubParser]"

__all__ = ["AUDIT_CATEGORIES", "build_parser"]

#: The audit categories the daemon writes (recorder.py and audit.py); ``--category``
#: offers exactly these so a typo is a usage error, not an empty answer (C12).
AUDIT_CATEGORIES = ("api", "approval", "daemon", "session", "tool")


class _Formatter(argparse.HelpFormatter):
    """argparse builds formatters even when no help is printed, and the stock one
    imports ``shutil`` (~3 ms) just to read the terminal width; ``os`` can do that."""

    def __init__(self, prog: str) -> None:
        import os

        try:
            width = int(os.environ.get("COLUMNS", "")) or os.get_terminal_size().columns
        except (ValueError, OSError):
            width = 80
        super().__init__(prog, width=max(width - 2, 40), max_help_position=30)


def _count(text: str) -> int:
    """A limit or count: a whole number, 0 or more (C12: -1 is not "no limit")."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _positive(text: str) -> int:
    value = _count(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be 1 or more, got 0")
    return value


def _json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _actions(parser: argparse.ArgumentParser) -> _Subs:
    return parser.add_subparsers(dest="action", metavar="ACTION", required=True,
                                 title="actions", parser_class=_SubParser)


def _run(sub: _Subs) -> None:
    run = sub.add_parser(
        "run", help="run an agent task and stream the answer",
        description="Run an agent task and stream the answer. `-` as the prompt reads it from "
                    "stdin; piped stdin with a prompt is attached to it as context; -f FILE "
                    "attaches a file.",
        epilog="exit codes: 0 done, 1 error, 2 usage, 3 daemon unavailable, 4 not found, "
               "5 config, 6 key/auth, 7 denied, 8 stopped at the step limit, "
               "9 stopped at the model's output limit, 130 interrupted")
    run.add_argument("prompt", nargs="+", help="the task (`-`: read it from stdin); "
                                               "@path attaches a workspace file")
    run.add_argument("--model", "-m", help="provider/model, e.g. anthropic/claude-sonnet-4-20250514")
    group = run.add_mutually_exclusive_group()
    group.add_argument("--continue", "-c", dest="cont", action="store_true",
                       help="continue the latest session in this workspace")
    group.add_argument("--session", "-s", help="continue the session with this id")
    run.add_argument("--yes", "-y", action="store_true",
                     help="auto mode: no questions except where a rule says \"ask\"; deny rules still "
                          "deny (not with --approval-mode ask|plan)")
    run.add_argument("--approval-mode", choices=["ask", "auto", "plan"],
                     help="ask before writing (default), auto (approve all), plan (read-only)")
    run.add_argument("--workspace", "-w", help="workspace root (default: current directory)")
    run.add_argument("--file", "-f", action="append", metavar="FILE",
                     help="attach this file to the prompt, as @path does (repeatable)")
    _json_flag(run)


def _sessions(sub: _Subs) -> None:
    sessions = sub.add_parser("sessions", help="list, show, resume, delete, fork, export or import sessions")
    ssub = _actions(sessions)
    lst = ssub.add_parser("list", help="sessions of this workspace (--all: every one)")
    lst.add_argument("--all", action="store_true", help="every workspace, not just this one")
    lst.add_argument("--limit", type=_count, default=50)
    _json_flag(lst)
    for name, text in (("show", "a session's transcript"), ("delete", "delete a session")):
        p = ssub.add_parser(name, help=text)
        p.add_argument("id")
        _json_flag(p)
    resume = ssub.add_parser("resume", help="resume pending work, or continue with a prompt")
    resume.add_argument("id")
    resume.add_argument("prompt", nargs="*", default=[], help="a new prompt (optional)")
    resume.add_argument("--yes", "-y", action="store_true", help="continue in auto mode (see run --yes)")
    _json_flag(resume)
    export = ssub.add_parser("export", help="one JSON file: metadata and transcript, secrets redacted")
    export.add_argument("id")
    export.add_argument("--out", "-o", metavar="FILE", help="write it here (default: stdout)")
    _json_flag(export)
    imp = ssub.add_parser("import", help="a new session from an exported file (`-`: stdin)")
    imp.add_argument("file")
    imp.add_argument("--workspace", "-w", help="where it works (default: the exported session's)")
    _json_flag(imp)
    fork = ssub.add_parser("fork", help="copy a session (--at N: its first N messages)")
    fork.add_argument("id")
    fork.add_argument("--at", type=_count, help="keep only the first N messages")
    _json_flag(fork)


def _models(sub: _Subs) -> None:
    models = sub.add_parser("models", help="list models; `models pull` fetches an embedded one")
    _json_flag(models)
    msub = models.add_subparsers(dest="action", metavar="ACTION", title="actions",
                                 parser_class=_SubParser)
    # The flags of models_pull.add_parser, declared here: its own parser imports the
    # providers (~180 ms), which listing models must not pay for.
    pull = msub.add_parser("pull", help="download an embedded model's file (default: the default "
                                        "model), sha256-checked")
    pull.add_argument("names", nargs="*", metavar="NAME", help="embedded model names (see `models`)")
    pull.add_argument("--all", action="store_true", help="every embedded model")
    pull.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    _json_flag(pull)


def _tools(sub: _Subs) -> None:
    _json_flag(sub.add_parser("tools", help="list tools"))


def _config(sub: _Subs) -> None:
    config = sub.add_parser(
        "config", help="show or change the configuration",
        description="--show prints the configuration as TOML (--json: as JSON); --set KEY=VALUE "
                    "changes one key and prints what changed. A table value for "
                    "permissions.rules.TOOL is merged into the existing rules. --schema prints "
                    "config.toml's JSON Schema (for editors: see the README).")
    cgroup = config.add_mutually_exclusive_group(required=True)
    cgroup.add_argument("--show", action="store_true", help="print the configuration")
    cgroup.add_argument("--schema", action="store_true", help="print the JSON Schema of config.toml")
    cgroup.add_argument("--set", metavar="KEY=VALUE", help="change one key, e.g. session.max_steps=40")
    _json_flag(config)


def _approvals(sub: _Subs) -> None:
    approvals = sub.add_parser("approvals", help="list or decide pending approvals")
    asub = _actions(approvals)
    _json_flag(asub.add_parser("list", help="pending approvals (they survive restarts)"))
    for name, text in (("allow", "approve one"), ("deny", "refuse one")):
        p = asub.add_parser(name, help=text)
        p.add_argument("id")
        p.add_argument("--reason", default="")
        _json_flag(p)


def _daemon(sub: _Subs) -> None:
    daemon = sub.add_parser("daemon", help="manage the daemon")
    dsub = _actions(daemon)
    for name, text in (("start", "start it (commands start it when needed)"),
                       ("stop", "stop it; running sessions can be resumed"),
                       ("status", "pid, uptime, model, socket (exit 3 when not running)")):
        _json_flag(dsub.add_parser(name, help=text))
    logs = dsub.add_parser("logs", help="the end of the daemon's log")
    logs.add_argument("-n", "--lines", type=_count, default=50)
    _json_flag(logs)
    install = dsub.add_parser("install", help="a systemd user service (~/.config/systemd/user), "
                                              "enabled and started")
    install.add_argument("--no-enable", action="store_true", help="only write the unit file")
    _json_flag(install)
    _json_flag(dsub.add_parser("uninstall", help="stop, disable and remove the systemd user service"))


class _SubParser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        super().error(_did_you_mean(message, _option_strings(self)))


def innermost(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The deepest subcommand parser ``args`` went through (``sessions resume``)."""
    while True:
        action = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        chosen = getattr(args, action.dest, None) if action is not None and action.dest else None
        if action is None or chosen not in action.choices:
            return parser
        parser = action.choices[chosen]


def _option_strings(parser: argparse.ArgumentParser) -> list[str]:
    """Every --flag of ``parser`` and the subcommand parsers built under it."""
    found: list[str] = []
    for action in parser._actions:
        found += [o for o in action.option_strings if o.startswith("--")]
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _option_strings(sub)
    return sorted(set(found))


def _did_you_mean(message: str, options: list[str] | None = None) -> str:
    """argparse says "invalid choice: 'sesions' (choose from ...)" or "unrecognized
    arguments: --jsn"; name the close one (C14)."""
    import difflib
    import re

    if message.startswith("unrecognized arguments: ") and options:
        unknown = message.removeprefix("unrecognized arguments: ").split()[0].partition("=")[0]
        close = difflib.get_close_matches(unknown, options, n=1, cutoff=0.6)
        return message + (f"; did you mean {close[0]}?" if close else "")
    if not message.startswith("argument ") or "invalid choice: " not in message:
        return message

    found = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if not found:
        return message
    choices = re.findall(r"'([^']*)'", found.group(2))
    close = difflib.get_close_matches(found.group(1), choices, n=1, cutoff=0.5)
    return message + (f"; did you mean {close[0]!r}?" if close else "")


def _stats(sub: _Subs) -> None:
    stats = sub.add_parser("stats", help="telemetry totals: per tool, per model, costs")
    stats.add_argument("--since", help="7d, 12h, 30m or epoch seconds")
    _json_flag(stats)


def _telemetry(sub: _Subs) -> None:
    tel = sub.add_parser("telemetry", help="telemetry report and export")
    tsub = _actions(tel)
    report = tsub.add_parser("report", help="a self-contained HTML page with charts")
    report.add_argument("--html", required=True, metavar="FILE")
    report.add_argument("--since")
    _json_flag(report)
    _json_flag(tsub.add_parser("export", help="the telemetry.json export"))


def _audit(sub: _Subs) -> None:
    audit = sub.add_parser("audit", help="the tamper-evident audit trail")
    asub = _actions(audit)
    verify = asub.add_parser("verify", help="check the hash chain; names the first bad line")
    verify.add_argument("--file", help="verify this log file directly, without the daemon")
    _json_flag(verify)
    recent = asub.add_parser("recent", help="the latest entries")
    recent.add_argument("--limit", type=_positive, default=50)
    _json_flag(recent)
    query = asub.add_parser("query", help="entries matching every filter given")
    for flag in ("--principal", "--resource", "--session", "--since", "--until"):
        query.add_argument(flag)
    query.add_argument("--category", choices=AUDIT_CATEGORIES)
    query.add_argument("--outcome", choices=("success", "failure", "denied"))
    query.add_argument("--action", dest="action_name")
    query.add_argument("--limit", type=_positive, default=100)
    _json_flag(query)


def _events(sub: _Subs) -> None:
    events = sub.add_parser("events", help="a session's event stream")
    esub = _actions(events)
    show = esub.add_parser("show", help="replay events from a sequence number (0 is the first)")
    show.add_argument("session")
    show.add_argument("--from", dest="from_seq", type=_count, default=0,
                      help="the first sequence number to show (default 0)")
    show.add_argument("--limit", type=_count, default=200, help="at most this many events (default 200)")
    _json_flag(show)
    read = esub.add_parser("read", help="one event by sequence number (one seek)")
    read.add_argument("session")
    read.add_argument("seq", type=_count)
    _json_flag(read)
    rec = esub.add_parser("reconstruct", help="the transcript and file changes, from events")
    rec.add_argument("session")
    _json_flag(rec)
    arch = esub.add_parser("archive", help="copy the stream to S3-compatible storage ([archive])")
    arch.add_argument("session")
    _json_flag(arch)


def _lsp(sub: _Subs) -> None:
    lsp = sub.add_parser("lsp", help="run the language server on stdio (editors start this)")
    # The flags LSP client libraries append (vscode-languageclient's TransportKind.stdio adds
    # --stdio, and --clientProcessId). stdio is the only transport; the others are refused by name.
    lsp.add_argument("--stdio", action="store_true", help="talk LSP on stdin/stdout (the default)")
    lsp.add_argument("--clientProcessId", dest="client_pid", type=int, default=None,
                     help="the editor's pid (accepted for compatibility)")
    for flag in ("--pipe", "--socket", "--node-ipc", "--tcp", "--port"):
        lsp.add_argument(flag, dest=f"transport_{flag.strip('-').replace('-', '_')}", nargs="?",
                         const=True, default=None, help=argparse.SUPPRESS)


def _listeners(p: argparse.ArgumentParser) -> None:
    """The A2A listener flags ``serve`` and ``spawn`` share."""
    p.add_argument("--hostname", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=4096,
                   help="HTTP port: A2A JSON-RPC + SSE and HTTP+JSON (0: any free port)")
    p.add_argument("--grpc-port", type=int, default=None,
                   help="gRPC port (0: any free port; -1: none; default $CODETETHER_GRPC_PORT or 50051)")
    p.add_argument("--json", action="store_true",
                   help="once listening, print the bound addresses as one JSON line")


def _serve(sub: _Subs) -> None:
    serve = sub.add_parser(
        "serve", help="run the daemon in the foreground with the A2A listeners (HTTP and gRPC)")
    _listeners(serve)
    serve.add_argument("--conformance", action="store_true",
                       help="a test agent: tasks follow the A2A TCK's scenarios (the real agent by default)")


def _auth(sub: _Subs) -> None:
    auth = sub.add_parser("auth", help="the bearer token A2A callers need")
    asub = auth.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=_SubParser)
    asub.add_parser("token", help="print the token ($CODETETHER_AUTH_TOKEN, else the one made for you)")


def _a2a(sub: _Subs) -> None:
    a2a = sub.add_parser("a2a", help="call other A2A agents: their card, send a message, their tasks")
    asub = _actions(a2a)

    def common(p: argparse.ArgumentParser, transport: bool = True) -> None:
        p.add_argument("url", help="the agent's base URL (its card is at /.well-known/agent-card.json)")
        p.add_argument("--token", help="bearer token (default $CODETETHER_A2A_TOKEN)")
        if transport:
            p.add_argument("--transport", choices=["jsonrpc", "grpc", "http"],
                           help="binding to use (default: the card's first that we speak)")
        _json_flag(p)

    common(asub.add_parser("card", help="fetch and show an agent's card"), transport=False)
    send = asub.add_parser("send", help="send a message; print the answer (--stream: as it arrives)")
    common(send)
    send.add_argument("message", nargs="+", help="the message text")
    send.add_argument("--stream", action="store_true", help="SendStreamingMessage: show updates as they come")
    send.add_argument("--context", help="continue this context id")
    send.add_argument("--task", help="continue this task id (e.g. one waiting for input)")
    tasks = asub.add_parser("tasks", help="list an agent's tasks, or get / cancel one")
    common(tasks)
    tasks.add_argument("op", nargs="?", choices=["list", "get", "cancel"], default="list")
    tasks.add_argument("id", nargs="?", help="the task id (get, cancel)")
    tasks.add_argument("--limit", type=_positive, default=50, help="list: at most this many (default 50)")


def _spawn(sub: _Subs) -> None:
    spawn = sub.add_parser(
        "spawn", help="serve as a named agent that finds and greets its peers (A2A)",
        description="`codetether serve` with the card's name set to NAME, polling each peer's card "
                    "(every 15 s), registering new peers and introducing itself once to each.")
    spawn.add_argument("--name", required=True, help="the agent's name on its card")
    spawn.add_argument("--peer", action="append", metavar="URL[,URL...]",
                       help="a peer's URL (repeatable, comma separated; also $CODETETHER_A2A_PEERS)")
    _listeners(spawn)
    spawn.add_argument("--poll-interval", type=float, default=None, metavar="SECONDS",
                       help="seconds between polls of the peers' cards (default 15, at least 5)")
    spawn.add_argument("--no-auto-introduce", action="store_true",
                       help="do not send new peers the one-time introduction")


def _peers(sub: _Subs) -> None:
    _json_flag(sub.add_parser("peers", help="the A2A peers this agent knows (spawn mode)"))


def _swarm(sub: _Subs) -> None:
    swarm = sub.add_parser(
        "swarm", help="split a task into parallel sub-agents (git worktrees), merge, answer",
        description='codetether swarm "task": one model call plans subtasks, their dependencies become '
                    "stages, each stage's subtasks run in parallel (a worktree and branch each when they "
                    "change files), the branches merge back in order, a last call writes the answer. "
                    "codetether swarm status|resume|cancel ID, codetether swarm list.")
    swarm.add_argument("words", nargs="+", metavar="TASK", help='the task, or status|resume|cancel ID, or list')
    swarm.add_argument("--strategy", choices=["auto", "domain", "data", "stage", "none"], default="auto",
                       help="how to split the task (none: one subtask; default auto)")
    swarm.add_argument("--max-subagents", type=_positive, default=None, metavar="N",
                       help="most subtasks in the plan (default [swarm] max_subagents, 8)")
    swarm.add_argument("--concurrency", type=_positive, default=None, metavar="N",
                       help="subtasks running at once (default: as many as allowed)")
    swarm.add_argument("--mode", choices=["ask", "auto", "plan"], default=None,
                       help="approval mode of subtasks that change files (default: the configured one)")
    swarm.add_argument("--model", help="the model for planning, subtasks and the answer")
    swarm.add_argument("--execution", choices=["local", "cluster"], default=None,
                       help="run subtasks here or on workers over NATS (default [swarm] execution)")
    swarm.add_argument("--fail-fast", action="store_true", help="stop everything at the first failure")
    _json_flag(swarm)


def _bus(sub: _Subs) -> None:
    bus = sub.add_parser("bus", help="watch the agent bus")
    bsub = _actions(bus)
    tail = bsub.add_parser("tail", help="print envelopes as they are published, until Ctrl-C")
    tail.add_argument("--topic", action="append", metavar="PATTERN",
                      help="topics to watch, NATS wildcards: 'swarm.>' 'agent.*.events' (repeatable; default all)")
    tail.add_argument("--replay", action="store_true", help="first show the durable envelopes the bus kept")
    _json_flag(tail)


def _worker(sub: _Subs) -> None:
    worker = sub.add_parser(
        "worker", help="join a cluster: run subtasks that daemons queue on NATS (JetStream)",
        description="Pull swarm subtasks from the NATS work queue and run them in a git clone of the "
                    "repository; probes /health, /ready and /worker/status on 127.0.0.1:PORT.")
    worker.add_argument("--bus", required=True, metavar="URL", help="the NATS server, nats://HOST:4222")
    worker.add_argument("--name", help="the worker's name (default: the host name)")
    worker.add_argument("--workspace", metavar="DIR", help="a git clone of the daemon's repository (default .)")
    worker.add_argument("--max-concurrent", type=_positive, default=1, metavar="K", help="subtasks at once")
    worker.add_argument("--port", type=int, default=8080, help="probe port on 127.0.0.1 (0: any free port)")
    worker.add_argument("--no-http-server", action="store_true", help="no HTTP probes")
    worker.add_argument("--ack-wait", type=float, default=30.0, metavar="SECONDS",
                        help="how long a dead worker's claim lasts before its subtask is redelivered")
    worker.add_argument("--heartbeat", type=float, default=3.0, metavar="SECONDS", help="between heartbeats")
    worker.add_argument("--json", action="store_true", help="once ready, print its probe URL, name and id")


def _workers(sub: _Subs) -> None:
    _json_flag(sub.add_parser("workers", help="the cluster's live workers (from the daemon's NATS bus)"))


def _agents(sub: _Subs) -> None:
    agents = sub.add_parser("agents", help="every agent the daemon knows: itself, sessions, sub-agents, workers, peers")
    agents.add_argument("--role", choices=["local", "session", "subagent", "worker", "peer"],
                        help="only agents of this role")
    agents.add_argument("--all", action="store_true", help="also agents that have gone")
    _json_flag(agents)


def _okr(sub: _Subs) -> None:
    from .okr import add_arguments

    add_arguments(sub.add_parser("okr", help="objectives and key results: list, status, create, runs, report"))


def _ralph(sub: _Subs) -> None:
    from .ralph import add_arguments

    add_arguments(sub.add_parser("ralph", help="the PRD loop: create a prd.json, run it story by story"))


def _relay(sub: _Subs) -> None:
    from .relay import add_arguments

    add_arguments(sub.add_parser("relay", help="the /autochat relay: status, resume"))


def _tui(sub: _Subs) -> None:
    from .tui import add_arguments

    add_arguments(sub.add_parser("tui", help="the interactive terminal UI (chat, sessions, swarms, /go)"))


def _module(name: str, text: str, command: str | None = None) -> Callable[[_Subs], None]:
    """A subcommand whose module declares its own arguments (``add_arguments``)."""
    def add(sub: _Subs) -> None:
        import importlib

        module = importlib.import_module(f"{__package__}.{name}")
        module.add_arguments(sub.add_parser(command or name, help=text))

    return add


_SUBCOMMANDS = {
    "run": _run, "sessions": _sessions, "models": _models, "tools": _tools,
    "config": _config, "approvals": _approvals, "daemon": _daemon, "stats": _stats,
    "telemetry": _telemetry, "audit": _audit, "events": _events, "lsp": _lsp,
    "serve": _serve, "auth": _auth, "a2a": _a2a, "spawn": _spawn, "peers": _peers,
    "swarm": _swarm, "bus": _bus, "agents": _agents, "okr": _okr, "ralph": _ralph, "relay": _relay, "tui": _tui, "worker": _worker, "workers": _workers,
    "instructions": _module("instructions", "what a run here is told: the system prompt and the "
                                            "project's AGENTS.md files"),
    "completion": _module("completion", "print a bash, zsh or fish completion script"),
    "doctor": _module("doctor", "check the install and say how to fix each problem"),
    "undo": _module("undo", "restore the files an agent changed (refuses when a file changed since)"),
}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = _SubParser(
        prog="codetether", description="An AI coding agent that lives beside your editor.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_SubParser,
                                title="commands")
    first = next((a for a in argv or [] if not a.startswith("-")), None)
    wanted = [_SUBCOMMANDS[first]] if first in _SUBCOMMANDS else list(_SUBCOMMANDS.values())
    for add in wanted:
        add(sub)
    return parser
