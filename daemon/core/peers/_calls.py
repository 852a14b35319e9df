"""Which peer a name means, with which token; handing it work and waiting for the answer."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass

from ...errors import InvalidParams
from ..config import A2APeer
from ..secrets import register
from ._client import INTERRUPTED, TERMINAL, PeerClient, task_text

__all__ = ["A2A_TOKEN_ENV", "Delegation", "PeerTarget", "delegate", "introduce", "resolve_peer"]

#: The token for a peer no ``[a2a.peers.<name>]`` entry names (the CLI's default too).
A2A_TOKEN_ENV = "CODETETHER_A2A_TOKEN"
_POLL_FIRST, _POLL_MAX = 0.5, 5.0  # seconds between GetTask polls of a task still working


@dataclass(frozen=True, slots=True)
class PeerTarget:
    """A peer to call: its configured name (None for a bare URL), URL and bearer token."""

    name: str | None
    url: str
    token: str | None

    def __repr__(self) -> str:  # the token stays out of logs and tracebacks
        return f"PeerTarget(name={self.name!r}, url={self.url!r})"


@dataclass(frozen=True, slots=True)
class Delegation:
    """What a peer answered: the task's last state (``""`` for a plain message), its text."""

    state: str
    text: str
    task_id: str = ""
    context_id: str = ""


def resolve_peer(peer: str, configured: Mapping[str, A2APeer],
                 env: Mapping[str, str] = os.environ) -> PeerTarget:
    """``peer`` as a configured ``[a2a.peers.<name>]`` name or an http(s) URL.

    The token: the peer's ``token_env`` variable (a URL that a configured peer has is
    that peer), else ``$CODETETHER_A2A_TOKEN``, else none.
    """
    peer = peer.strip()
    entry = configured.get(peer)
    name: str | None = peer if entry is not None else None
    if entry is None:
        if not peer.startswith(("http://", "https://")):
            known = ", ".join(sorted(configured)) or "none configured"
            raise InvalidParams(f"no peer named {peer!r} (known: {known}); configure "
                                f"[a2a.peers.{peer}] url = \"...\", or give the agent's http(s) URL")
        for other, candidate in configured.items():
            if candidate.url.rstrip("/") == peer.rstrip("/"):
                name, entry = other, candidate
                break
    url = entry.url if entry is not None else peer
    token = None
    if entry is not None and entry.token_env:
        token = env.get(entry.token_env) or None
    token = token or env.get(A2A_TOKEN_ENV) or None
    register(token)  # kept out of logs, events and anything else written
    return PeerTarget(name, url.rstrip("/"), token)


async def delegate(target: PeerTarget, text: str, *, timeout: float) -> Delegation:
    """Send ``text`` to the peer and wait (at most ``timeout`` seconds, then
    :class:`TimeoutError`) until its task ends or waits for input; its answer."""
    async with asyncio.timeout(timeout), PeerClient(target.url, token=target.token,
                                                    timeout=timeout) as peer:
        events = [event async for event in peer.send(text)]
        last = events[-1] if events else {}
        if "message" in last:
            from ._client import parts_text

            return Delegation("", parts_text(last["message"].get("parts")))
        task = last.get("task") or {}
        pause = _POLL_FIRST
        # A blocking SendMessage answers at the end already; a peer that answers early
        # (or ignores blocking) is asked again until the task ends or waits for us.
        while (task.get("status") or {}).get("state") not in TERMINAL | INTERRUPTED and task.get("id"):
            await asyncio.sleep(pause)
            pause = min(pause * 2, _POLL_MAX)
            task = await peer.get_task(str(task["id"]))
        return Delegation(str((task.get("status") or {}).get("state", "")), task_text(task),
                          str(task.get("id", "")), str(task.get("contextId", "")))


async def introduce(url: str, token: str | None, text: str, *, timeout: float = 30.0) -> str:
    """Send the one-time introduction without waiting for the peer's agent to finish
    (``returnImmediately``); the id of the task it started ("" for a message answer)."""
    async with asyncio.timeout(timeout), PeerClient(url, token=token, polling=True,
                                                    timeout=timeout) as peer:
        events = [event async for event in peer.send(text)]
    task = events[-1].get("task") if events else None
    return str(task.get("id", "")) if isinstance(task, dict) else ""
