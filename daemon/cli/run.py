"""``codetether run`` and ``sessions resume``: stream a run, ask at approvals, cancel.

Exit codes of a run (also in ``codetether run --help``): 0 the model finished,
8 stopped at the step limit, 9 stopped at the model's output token limit, 130
interrupted, 141 stdout closed (``| head``), else the error's code (see main.py).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from ..client import Client, DaemonUnavailable
from ..errors import CodetetherError, NotFound, RequestCancelled
from .render import EventPrinter

__all__ = ["EXIT_MAX_STEPS", "EXIT_MAX_TOKENS", "UsageError", "attach_files", "cmd_resume", "cmd_run",
           "read_prompt", "stream"]

EXIT_MAX_STEPS = 8
EXIT_MAX_TOKENS = 9
CANCEL_GRACE = 0.8  # s to wait for the daemon's answer to a cancel: Ctrl-C returns within 1 s
_EXIT = {"end_turn": 0, "nothing_to_resume": 0, "max_steps": EXIT_MAX_STEPS,
         "max_tokens": EXIT_MAX_TOKENS}


class UsageError(Exception):
    """Contradictory or unusable arguments: exit 2 with the message."""


def read_prompt(words: list[str], stdin: Any = None) -> tuple[str, bool]:
    """The prompt from the arguments and stdin (C13), and whether stdin was consumed.

    ``-`` alone reads the prompt from stdin. Otherwise stdin that is a pipe or a file
    (not a terminal, not /dev/null) is appended to the prompt as context."""
    import stat

    stdin = sys.stdin if stdin is None else stdin
    if words == ["-"]:
        text = _read_text(stdin)
        if not text.strip():
            raise UsageError("`-` reads the prompt from stdin, and stdin was empty")
        return text.strip(), True
    prompt = " ".join(words)
    try:
        mode = os.fstat(stdin.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        return prompt, False
    if not (stat.S_ISFIFO(mode) or stat.S_ISREG(mode)):
        return prompt, False
    context = _read_text(stdin)
    if context.strip():
        prompt = f"{prompt}\n\n{context.rstrip()}"
    return prompt, True


#: Per attached file, as for @mentions (core/agent/_mentions.py): the model's context is finite.
MAX_ATTACHED_CHARS = 20_000


def attach_files(prompt: str, files: list[str], workspace: str) -> str:
    """``prompt`` with each ``-f`` file attached as an @mention attaches it (a ``<file>``
    block, its path relative to the workspace when inside it). The user named these files,
    so, unlike a mention the model could be steered into, one outside the workspace is read
    too. A file that cannot be attached is a usage error: nothing runs (C11)."""
    blocks = []
    for name in files:
        path = os.path.abspath(os.path.expanduser(name))
        if not os.path.isfile(path):
            why = "is a directory" if os.path.isdir(path) else "no such file"
            raise UsageError(f"-f {name}: {why}")
        try:
            with open(path, "rb") as fh:
                body = fh.read().decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"-f {name}: not a UTF-8 text file") from None
        except OSError as exc:
            raise UsageError(f"-f {name}: {exc.strerror or exc}") from None
        if len(body) > MAX_ATTACHED_CHARS:
            body = body[:MAX_ATTACHED_CHARS] + f"\n[... truncated at {MAX_ATTACHED_CHARS} characters]"
        rel = os.path.relpath(path, workspace)
        shown = path if rel.startswith("..") else rel
        blocks.append(f'<file path="{shown}">\n{body.rstrip()}\n</file>')
    return "\n\n".join([prompt, *blocks]) if blocks else prompt


def _read_text(stdin: Any) -> str:
    """stdin as text; bytes that are not UTF-8 become U+FFFD instead of surrogates the
    JSON encoder refuses later with a message about UTF-16 (found trying it as a user)."""
    raw = getattr(stdin, "buffer", None)
    return raw.read().decode("utf-8", "replace") if raw is not None else str(stdin.read())


def _approval_mode(args: Any) -> str | None:
    """S1: --yes means auto, so with plan (read-only) or ask it is a contradiction."""
    if args.yes and args.approval_mode in ("plan", "ask"):
        raise UsageError(f"--yes approves every tool call (auto mode), which contradicts "
                         f"--approval-mode {args.approval_mode}; give one of them")
    return args.approval_mode or ("auto" if args.yes else None)


def cmd_run(args: Any, paths: Any) -> int:
    from ..wire.api import forwarded_env

    workspace = os.path.abspath(args.workspace or os.getcwd())
    try:
        mode = _approval_mode(args)
        text, used_stdin = read_prompt(args.prompt)
        text = attach_files(text, getattr(args, "file", None) or [], workspace)
    except UsageError as exc:
        print(f"codetether run: error: {exc}", file=sys.stderr)
        return 2
    from .relay import autochat, is_autochat

    if is_autochat(text):  # the relay, not a session's prompt
        return autochat(paths, text, workspace=workspace, mode=mode, model=args.model, as_json=args.json)
    with Client(paths) as client:
        session_id = args.session
        if args.cont:
            # The latest session that holds a conversation, not an empty one a failed run left.
            # A user's own: not a sub-agent's or a swarm subtask's (they are newer, often).
            found = [s for s in client.call("session/list", {"workspace": workspace, "limit": 50})
                     if s.get("message_count") and s.get("role", "main") == "main"]
            if not found:  # C16: not a silent new session
                raise NotFound(f"no session to continue in {workspace}; start one with "
                               "`codetether run \"...\"`")
            session_id = found[0]["id"]
        created = session_id is None
        if session_id is None:
            session_id = client.call("session/create", {"workspace": workspace, "model": args.model,
                                                        "approval_mode": mode})["id"]
        params: dict[str, Any] = {"session_id": session_id, "text": text,
                                  "env": forwarded_env(os.environ)}
        if args.model:
            params["model"] = args.model
        if mode:
            params["approval_mode"] = mode
        code = 1
        try:
            code = stream(client, "session/prompt", params, as_json=args.json, workspace=workspace,
                          interactive=sys.stdin.isatty() or (used_stdin and sys.stderr.isatty()))
        finally:
            if created and code != 0:
                _drop_if_empty(client, session_id, workspace)
        return code


def _drop_if_empty(client: Client, session_id: str, workspace: str) -> None:
    """A run that failed before anything was said (no key, a bad model) leaves no empty
    session behind for ``--continue`` to pick (found trying it as a user)."""
    try:
        mine = [s for s in client.call("session/list", {"workspace": workspace, "limit": 50})
                if s["id"] == session_id]
        if mine and not mine[0].get("message_count") and not mine[0].get("busy"):
            client.call("session/delete", {"session_id": session_id})
    except (CodetetherError, OSError):
        pass  # best effort: the run's own error is what the user needs to see


def cmd_resume(client: Client, args: Any) -> int:
    from ..wire.api import forwarded_env

    # Where the session works, for the diffs an approval prompt shows.
    workspace = next((s["workspace"] for s in client.call("session/list", {"limit": 100_000})
                      if s["id"] == args.id), None)
    if args.prompt:
        params: dict[str, Any] = {"session_id": args.id, "text": " ".join(args.prompt),
                                  "env": forwarded_env(os.environ)}
        if args.yes:
            params["approval_mode"] = "auto"
        return stream(client, "session/prompt", params, as_json=args.json, workspace=workspace)
    return stream(client, "session/resume", {"session_id": args.id}, as_json=args.json,
                  workspace=workspace)


def stream(client: Client, method: str, params: dict[str, Any], *, as_json: bool,
           workspace: str | None = None, interactive: bool | None = None) -> int:
    from .approve import Prompter

    printer = EventPrinter(as_json=as_json)
    session_id = params["session_id"]
    prompter = Prompter(client, printer, session_id, workspace,
                        sys.stdin.isatty() if interactive is None else interactive)
    # C3: --json numbers events as the session's event stream does (0-based, what
    # `events read N` takes): the first event of this run is the stream's next one.
    base = _stream_length(client, session_id) if as_json else 0
    first: list[int] = []
    req_id = client.send(method, params)
    assert req_id is not None
    printer.waiting("waiting for the model…")

    def on_event(frame: dict[str, Any]) -> None:
        p = frame.get("params") or {}
        if frame.get("method") != "session/event":
            return
        event = p["event"]
        if not first:
            first.append(p["seq"])
        printer.event(p["session_id"], base + p["seq"] - first[0], event)
        if event.get("type") == "approval_request":
            prompter.approval(event)
        elif event.get("type") == "question":
            prompter.question(event)

    try:
        result = client.wait(req_id, on_event)
    except KeyboardInterrupt:
        return _cancel(client, req_id, printer)
    except BrokenPipeError:  # C1: stdout closed (`| head`): stop the run, quietly
        from .exits import EXIT_PIPE, silence_stdout

        silence_stdout()
        _cancel_quietly(client, req_id)
        return EXIT_PIPE
    except DaemonUnavailable:
        printer.quiet()
        raise DaemonUnavailable(f"the daemon stopped during the run; what was pending survives: "
                                f"resume with `codetether sessions resume {session_id}`") from None
    except RequestCancelled:
        # Not our Ctrl-C (that is KeyboardInterrupt above): the daemon is stopping, or
        # another client cancelled the run. Say which, and how to go on.
        printer.quiet()
        try:
            status_id = client.send("daemon/status", {})
            assert status_id is not None
            status = client.wait(status_id, lambda _frame: None, timeout=2.0)
            stopping = bool(status.get("stopping"))
        except (CodetetherError, OSError, TimeoutError):
            stopping = True
        if stopping:
            raise DaemonUnavailable(f"the daemon stopped during the run; resume with "
                                    f"`codetether sessions resume {session_id}`") from None
        sys.stderr.write(f"the run was cancelled from another client; continue with "
                         f"`codetether sessions resume {session_id}`\n")
        return 130
    except CodetetherError as exc:
        printer.quiet()
        if not as_json and exc.message in printer.errors:  # C9: shown once, as its event
            from .exits import exit_code

            return exit_code(exc)
        raise
    finally:
        printer.quiet()
    printer.result(result)
    return _EXIT.get(result.get("stop_reason"), 1)


def _stream_length(client: Client, session_id: str) -> int:
    """How many events the session's stream holds (``events/length``)."""
    return int(client.call("events/length", {"session_id": session_id})["length"])


def _cancel(client: Client, req_id: int, printer: EventPrinter) -> int:
    """Ctrl-C: say so at once, ask the daemon to cancel, wait briefly for it (C15)."""
    printer.quiet()
    sys.stderr.write("\ncancelling…\n")
    sys.stderr.flush()
    deadline = time.monotonic() + CANCEL_GRACE
    try:
        client.send("$/cancelRequest", {"id": req_id}, notify=True)
        client.wait(req_id, lambda _frame: None, timeout=max(0.0, deadline - time.monotonic()))
    except (CodetetherError, KeyboardInterrupt, TimeoutError):
        pass
    sys.stderr.write("cancelled\n")
    return 130


def _cancel_quietly(client: Client, req_id: int) -> None:
    try:
        client.send("$/cancelRequest", {"id": req_id}, notify=True)
        client.wait(req_id, lambda _frame: None, timeout=CANCEL_GRACE)
    except (CodetetherError, TimeoutError, OSError):
        pass
