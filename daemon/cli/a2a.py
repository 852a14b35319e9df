"""``codetether a2a card|send|tasks``: a client of OTHER agents, run in the CLI process.

Everything goes through the official a2a-sdk client (``core.peers``), imported here only
when one of these commands runs. Errors: a refused token exits 6 (key/auth) with "the
agent at URL refused the token", an agent that cannot be reached exits 3 naming its URL,
an unknown task exits 4, another A2A error exits 1 with the agent's message.
"""

from __future__ import annotations

import json
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from ..errors import CodetetherError
from .exits import exit_code

__all__ = ["cmd_a2a"]


def cmd_a2a(args: Any, _paths: Any) -> int:
    """Run one ``a2a`` action; map the peer's errors to exit codes."""
    import asyncio

    token = args.token or os.environ.get("CODETETHER_A2A_TOKEN") or None
    try:
        code: int = asyncio.run(_ACTIONS[args.action](args, token))
        return code
    except CodetetherError as exc:
        if args.json:
            print(json.dumps({"error": exc.to_wire()}))
        else:
            print(f"codetether: {exc.message}", file=sys.stderr)
        return _exit(exc)


def _exit(exc: CodetetherError) -> int:
    from ..errors import TaskNotFound, Unauthenticated

    if isinstance(exc, Unauthenticated):
        return 6
    if isinstance(exc, TaskNotFound):
        return 4
    return exit_code(exc)


async def _card(args: Any, _token: str | None) -> int:
    from ..core.peers import fetch_card

    card = await fetch_card(args.url)
    print(json.dumps(card, indent=2) if args.json else _render_card(card))
    return 0


def _render_card(card: dict[str, Any]) -> str:
    lines = [f"{card.get('name')} {card.get('version', '')}".rstrip()]
    if card.get("description"):
        lines.append(f"  {card['description']}")
    lines.append("interfaces:")
    for i in card.get("supportedInterfaces") or []:
        lines.append(f"  {i.get('protocolBinding', '?'):<10} {i.get('url', '')}  "
                     f"(A2A {i.get('protocolVersion', '?')})")
    caps = card.get("capabilities") or {}
    named = [n for key, n in (("streaming", "streaming"), ("pushNotifications", "push notifications"),
                              ("extendedAgentCard", "extended card")) if caps.get(key)]
    lines.append(f"capabilities: {', '.join(named) or 'none'}")
    schemes = card.get("securitySchemes") or {}
    if schemes:
        lines.append("security: " + ", ".join(f"{k} ({_scheme(v)})" for k, v in schemes.items()))
    lines.append("skills:")
    for s in card.get("skills") or []:
        lines.append(f"  {s.get('id', '?')}: {s.get('name', '')} - {s.get('description', '')}")
    return "\n".join(lines)


def _scheme(scheme: dict[str, Any]) -> str:
    kind = next(iter(scheme), "?")
    if kind == "httpAuthSecurityScheme":
        return f"HTTP {scheme[kind].get('scheme', '')}".strip()
    return str(kind).removesuffix("SecurityScheme")


async def _send(args: Any, token: str | None) -> int:
    from ..core.peers import PeerClient, parts_text, task_text

    state = ""
    async with PeerClient(args.url, token=token, transport=args.transport,
                          streaming=args.stream) as peer:
        if not args.json:
            print(f"[{peer.card.get('name')} over {peer.binding} at {peer.address}]", file=sys.stderr)
        out = _Out()
        async for event in peer.send(" ".join(args.message), context_id=args.context,
                                     task_id=args.task):
            if args.json:
                print(json.dumps(event), flush=True)
            if "task" in event:
                task = event["task"]
                state = task.get("status", {}).get("state", "")
                if not args.json:
                    out.status(f"task {task.get('id')} {_state(state)} (context {task.get('contextId')})")
                    if not args.stream or state in _ENDED:
                        out.text(task_text(task))
            elif "statusUpdate" in event:
                status = event["statusUpdate"].get("status", {})
                state = status.get("state", "")
                said = parts_text((status.get("message") or {}).get("parts"))
                if not args.json:
                    out.status(_state(state) + (f": {said}" if said else ""))
            elif "artifactUpdate" in event:
                if not args.json:
                    out.text(parts_text(event["artifactUpdate"].get("artifact", {}).get("parts")))
            elif "message" in event and not args.json:
                out.text(parts_text(event["message"].get("parts")))
        out.end()
    return 1 if state in ("TASK_STATE_FAILED", "TASK_STATE_REJECTED", "TASK_STATE_CANCELED") else 0


_ENDED = ("TASK_STATE_COMPLETED", "TASK_STATE_FAILED", "TASK_STATE_CANCELED", "TASK_STATE_REJECTED",
          "TASK_STATE_INPUT_REQUIRED", "TASK_STATE_AUTH_REQUIRED")


def _state(state: str) -> str:
    return state.removeprefix("TASK_STATE_").lower().replace("_", "-") or "unknown"


class _Out:
    """Artifact text on stdout as it arrives; status lines on stderr, each on a line of
    its own (a newline first when the answer text is mid-line)."""

    def __init__(self) -> None:
        self.mid_line = False

    def text(self, text: str) -> None:
        if text:
            sys.stdout.write(text)
            sys.stdout.flush()
            self.mid_line = not text.endswith("\n")

    def status(self, line: str) -> None:
        self.end()
        print(f"[{line}]", file=sys.stderr, flush=True)

    def end(self) -> None:
        if self.mid_line:
            print(flush=True)
            self.mid_line = False


async def _tasks(args: Any, token: str | None) -> int:
    from ..core.peers import PeerClient, task_text

    if args.op in ("get", "cancel") and not args.id:
        from ..errors import InvalidParams

        raise InvalidParams(f"a2a tasks {args.op} needs a task id")
    async with PeerClient(args.url, token=token, transport=args.transport) as peer:
        if args.op == "list":
            page = await peer.list_tasks(args.limit)
            if args.json:
                print(json.dumps(page))
            else:
                rows = [f"{t.get('id')}  {_state(t.get('status', {}).get('state', '')):<15} "
                        f"context {t.get('contextId')}" for t in page.get("tasks") or []]
                print("\n".join(rows) or "no tasks")
            return 0
        task = await (peer.get_task(args.id) if args.op == "get" else peer.cancel_task(args.id))
    if args.json:
        print(json.dumps(task))
    else:
        print(f"task {task.get('id')} {_state(task.get('status', {}).get('state', ''))} "
              f"(context {task.get('contextId')})")
        text = task_text(task)
        if text:
            print(text)
    return 0


_ACTIONS = {"card": _card, "send": _send, "tasks": _tasks}
