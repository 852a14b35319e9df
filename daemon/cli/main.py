"""CLI commands. Each one is a few daemon calls; no business logic lives here."""

from __future__ import annotations

import json
import os
import sys

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: importing typing costs the CLI ~4 ms

from .. import __version__
from ..client import Client, DaemonUnavailable
from ..errors import CodetetherError
from ..paths import get_paths
from .exits import EXIT_PIPE, exit_code, silence_stdout

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["exit_code", "run", "silence_stdout"]


def _print(data: Any, as_json: bool, human: str) -> None:
    print(json.dumps(data, indent=2) if as_json else human)


def run(argv: list[str]) -> int:
    from .args import build_parser, innermost

    parser = build_parser(argv)
    args, extra = parser.parse_known_args(argv)
    if extra:  # said by the (sub)command they were given to, with its usage line
        innermost(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    if args.version:
        print(f"codetether {__version__}")
        return 0
    if not args.command:
        parser.print_help()
        return 2
    paths = get_paths()
    try:
        try:
            return _COMMANDS[args.command](args, paths)
        except CodetetherError as exc:
            if getattr(args, "json", False):
                print(json.dumps({"error": exc.to_wire()}))
            else:
                from .colour import Palette

                print(f"{Palette(sys.stderr).style('codetether:', 'red', 'bold')} {exc.message}",
                      file=sys.stderr)
            return exit_code(exc)
        except KeyboardInterrupt:
            print("\ninterrupted", file=sys.stderr)
            return 130
    except BrokenPipeError:  # C1: `codetether ... | head` closed our stdout: stop quietly
        silence_stdout()
        return EXIT_PIPE


# -- sessions ---------------------------------------------------------------------------


def _cmd_sessions(args: Any, paths: Any) -> int:
    with Client(paths) as client:
        if args.action == "list":
            params: dict[str, Any] = {"limit": args.limit}
            if not args.all:
                params["workspace"] = os.getcwd()
            rows = client.call("session/list", params)
            human = "\n".join(f"{r['id']}  {r['message_count']:>4} msgs  {r['model']:<28} {r['title']}"
                              for r in rows) or "no sessions (use --all for every workspace)"
            _print(rows, args.json, human)
        elif args.action == "show":
            detail = client.call("session/get", {"session_id": args.id})
            _print(detail, args.json, _render_transcript(detail))
        elif args.action == "delete":
            _print(client.call("session/delete", {"session_id": args.id}), args.json,
                   f"deleted {args.id}")
        elif args.action == "fork":
            info = client.call("session/fork", {"session_id": args.id, "at_message": args.at})
            _print(info, args.json, f"forked {args.id} -> {info['id']}")
        elif args.action == "resume":
            from .run import cmd_resume

            return cmd_resume(client, args)
        elif args.action in ("export", "import"):
            from . import sessions_io

            code: int = (sessions_io.cmd_export if args.action == "export" else sessions_io.cmd_import)(client, args)
            return code
    return 0


def _render_transcript(detail: dict[str, Any]) -> str:
    info = detail["info"]
    lines = [f"session {info['id']}  model {info['model']}  workspace {info['workspace']}", ""]
    for m in detail["messages"]:
        if m["role"] == "tool":
            lines.append(f"  [{m.get('name')}] {(m.get('content') or '')[:200]}")
        else:
            calls = " ".join(f"<{c['name']}>" for c in m.get("tool_calls", []))
            lines.append(f"{m['role']}: {m.get('content', '')} {calls}".rstrip())
    return "\n".join(lines)


# -- catalogue, config, approvals -------------------------------------------------------


def _cmd_models(args: Any, paths: Any) -> int:
    if getattr(args, "action", None) == "pull":
        from .models_pull import cmd

        return cmd(args, paths)
    with Client(paths) as client:
        rows = client.call("models/list")
    human = "\n".join(f"{'*' if r['default'] else ' '} {r['id']:<48} {r['context_window']:>8} ctx"
                      f"{'' if r['configured'] else '  (needs a key)'}" for r in rows)
    _print(rows, args.json, human)
    return 0


def _cmd_tools(args: Any, paths: Any) -> int:
    with Client(paths) as client:
        rows = client.call("tools/list")
    human = "\n".join(f"{r['name']:<12} {'ro' if r['read_only'] else 'rw'}  "
                      f"{r['description'].splitlines()[0]}" for r in rows)
    _print(rows, args.json, human)
    return 0


def _cmd_approvals(args: Any, paths: Any) -> int:
    with Client(paths) as client:
        if args.action == "list":
            rows = client.call("approval/list", {})
            human = "\n".join(f"{r['id']}  {r['tool']:<12} {r['subject']}  (session {r['session_id']})"
                              for r in rows) or "no pending approvals"
            _print(rows, args.json, human)
        else:
            rec = client.call("approval/decide", {"approval_id": args.id, "decision": args.action,
                                                  "reason": args.reason})
            _print(rec, args.json, f"{rec['id']}: {rec['status']}")
    return 0


# -- daemon -----------------------------------------------------------------------------


def _cmd_daemon(args: Any, paths: Any) -> int:
    if args.action in ("install", "uninstall"):
        from . import daemon_unit

        code: int = getattr(daemon_unit, f"cmd_{args.action}")(args, paths)
        return code
    if args.action == "logs":
        try:
            lines = paths.log_file.read_text(errors="replace").splitlines()[-args.lines:]
        except FileNotFoundError:
            lines = []
        _print(lines, args.json, "\n".join(lines))
        return 0
    if args.action == "start":
        with Client(paths) as client:
            status = client.call("daemon/status")
        _print(status, args.json, f"daemon running, pid {status['pid']}")
        return _config_state(status, args.json)
    try:
        client = Client(paths, autostart=False)
    except DaemonUnavailable as exc:
        if args.action == "stop":
            _print({"running": False}, args.json, "daemon not running")
            return 0
        if args.json:
            print(json.dumps({"running": False, "error": exc.message}))
        else:
            print(exc.message, file=sys.stderr)
        return 3
    with client:
        if args.action == "status":
            status = client.call("daemon/status")
            _print({"running": True, **status}, args.json,
                   f"daemon running, pid {status['pid']}, up {status['uptime_s']:.0f}s, "
                   f"default model {status['default_model']}, socket {status['socket']}")
            if status.get("degraded") and not args.json:  # said in words, not only in --json
                broken = [f"{name}: {part.get('error')}" for name, part in status["health"].items()
                          if not part.get("ok")]
                print("degraded: " + "; ".join(broken), file=sys.stderr)
            return _config_state(status, args.json)
        pid = client.call("daemon/status")["pid"]
        client.call("daemon/shutdown")
    stopped = _wait_for_exit(pid, timeout=30.0)
    _print({"stopped": stopped, "pid": pid}, args.json,
           "daemon stopped" if stopped else f"daemon {pid} is still shutting down")
    return 0 if stopped else 1


def _config_state(status: dict[str, Any], as_json: bool) -> int:
    """S2: a config.toml that does not load is an error of every command (exit 5): the
    daemon serves status but refuses runs until the file loads."""
    if not status.get("config_error"):
        return 0
    if not as_json:
        print(f"codetether: {status['config_error']} (fix the file; nothing runs until it loads)",
              file=sys.stderr)
    return 5


def _wait_for_exit(pid: int, timeout: float) -> bool:
    """Wait for the daemon process to exit (a pidfd becomes readable): no polling."""
    import select

    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def _records(name: str) -> Callable[[Any, Any], int]:
    def command(args: Any, paths: Any) -> int:
        from . import records

        code: int = getattr(records, f"cmd_{name}")(args, paths)
        return code

    return command


def _cmd_run(args: Any, paths: Any) -> int:
    from .run import cmd_run

    return cmd_run(args, paths)


def _cmd_config(args: Any, paths: Any) -> int:
    from .config_cmd import cmd_config

    return cmd_config(args, paths)


def _cmd_lsp(args: Any, _paths: Any) -> int:
    other = [k.removeprefix("transport_").replace("_", "-") for k, v in vars(args).items()
             if k.startswith("transport_") and v is not None]
    if other:
        print(f"codetether lsp: --{other[0]} is not supported; the language server speaks LSP on "
              "stdio (start it with no transport flag, or --stdio)", file=sys.stderr)
        return 2
    from codetether.lsp.server import main as serve

    serve()
    return 0


def _cmd_serve(args: Any, _paths: Any) -> int:
    """Become the daemon (exec: signals and the exit code are its own)."""
    argv = [sys.executable, "-m", "codetether.daemon", "serve", "--hostname", args.hostname,
            "--port", str(args.port)]
    if args.grpc_port is not None:
        argv += ["--grpc-port", str(args.grpc_port)]
    if args.json:
        argv.append("--json")
    if getattr(args, "conformance", False):
        argv.append("--conformance")
    sys.stdout.flush()
    os.execv(sys.executable, argv)
    return 1  # not reached


def _cmd_auth(_args: Any, paths: Any) -> int:
    from ..core.secrets import auth_token  # only here: the one command that makes the token

    print(auth_token(paths.data_dir))
    return 0


def _cmd_a2a(args: Any, paths: Any) -> int:
    from .a2a import cmd_a2a

    return cmd_a2a(args, paths)


def _cmd_spawn(args: Any, paths: Any) -> int:
    from .peers import cmd_spawn

    return cmd_spawn(args, paths)


def _cmd_peers(args: Any, paths: Any) -> int:
    from .peers import cmd_peers

    return cmd_peers(args, paths)


def _cmd_tui(args: Any, paths: Any) -> int:
    from .tui import cmd_tui

    return cmd_tui(args, paths)


def _cmd_okr(args: Any, paths: Any) -> int:
    from .okr import cmd_okr

    return cmd_okr(args, paths)


def _cmd_ralph(args: Any, paths: Any) -> int:
    from .ralph import cmd_ralph

    return cmd_ralph(args, paths)


def _cmd_relay(args: Any, paths: Any) -> int:
    from .relay import cmd_relay

    return cmd_relay(args, paths)


def _cmd_agents(args: Any, paths: Any) -> int:
    from .bus import cmd_agents

    return cmd_agents(args, paths)


def _cmd_bus(args: Any, paths: Any) -> int:
    from .bus import cmd_bus

    return cmd_bus(args, paths)


def _cmd_worker(args: Any, paths: Any) -> int:
    from .worker import cmd_worker, cmd_workers

    return (cmd_worker if args.command == "worker" else cmd_workers)(args, paths)


def _cmd_swarm(args: Any, paths: Any) -> int:
    from .swarm import cmd_swarm

    return cmd_swarm(args, paths)


def _module(name: str, function: str) -> Callable[[Any, Any], int]:
    """A command run by ``function`` of the module ``cli/<name>.py`` (imported only then)."""
    def command(args: Any, paths: Any) -> int:
        import importlib

        code: int = getattr(importlib.import_module(f"{__package__}.{name}"), function)(args, paths)
        return code

    return command


_COMMANDS = {
    "lsp": _cmd_lsp, "serve": _cmd_serve, "auth": _cmd_auth,
    "stats": _records("stats"), "telemetry": _records("telemetry"), "audit": _records("audit"),
    "events": _records("events"),
    "run": _cmd_run, "sessions": _cmd_sessions, "models": _cmd_models, "tools": _cmd_tools,
    "config": _cmd_config, "approvals": _cmd_approvals, "daemon": _cmd_daemon,
    "a2a": _cmd_a2a, "spawn": _cmd_spawn, "peers": _cmd_peers, "swarm": _cmd_swarm, "bus": _cmd_bus, "agents": _cmd_agents, "okr": _cmd_okr, "tui": _cmd_tui,
    "ralph": _cmd_ralph, "relay": _cmd_relay,
    "worker": _cmd_worker, "workers": _cmd_worker,
    "instructions": _module("instructions", "cmd_instructions"),
    "completion": _module("completion", "cmd_completion"),
    "doctor": _module("doctor", "cmd_doctor"),
    "undo": _module("undo", "cmd_undo"),
}
