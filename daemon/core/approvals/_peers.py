"""Who is calling: the user, or a process the agent started.

A command the agent runs (bash) must not approve or widen its own next step. This is
defence in depth, not a sandbox: the peer's pid (SO_PEERCRED) counts as the agent's
when the daemon is among its ancestors. A process that detaches from that chain, or
edits files directly, is outside what this check can see.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Protocol

from ...errors import ApprovalDenied

__all__ = ["MODE_RANK", "Caller", "is_agent_process", "refuse_agent_processes", "refuse_wider_mode"]

class Caller(Protocol):
    """What these checks read of a request's context: what the transport knows of the
    peer (``pid`` from SO_PEERCRED on the Unix socket)."""

    @property
    def peer(self) -> Mapping[str, Any]: ...


#: Approval modes from narrowest to widest.
MODE_RANK = {"plan": 0, "ask": 1, "auto": 2}


def is_agent_process(ctx: Caller) -> bool:
    """Whether the caller is a process the agent started (the daemon is its ancestor)."""
    pid = ctx.peer.get("pid")
    if not pid:
        return False
    return _descends_from(int(pid), os.getpid())


def refuse_agent_processes(ctx: Caller, what: str) -> None:
    """:class:`ApprovalDenied` when a process the agent started asks to do ``what``."""
    if is_agent_process(ctx):
        raise ApprovalDenied(f"a process started by the agent may not {what}")


def refuse_wider_mode(ctx: Caller, mode: str | None, ceiling: str) -> None:
    """A process the agent started may not ask for a mode wider than ``ceiling`` (the
    configured default: what the agent that started it could have had without the user)."""
    if mode is not None and MODE_RANK.get(mode, 2) > MODE_RANK.get(ceiling, 0) and is_agent_process(ctx):
        raise ApprovalDenied(f"a process started by the agent may not choose approval mode {mode!r} "
                             f"(at most {ceiling!r})")


def _descends_from(pid: int, ancestor: int) -> bool:
    for _ in range(64):
        if pid <= 1:
            return False
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            return False
        pid = int(stat.rsplit(b")", 1)[1].split()[1])  # field 4: ppid
        if pid == ancestor:
            return True
    return False
