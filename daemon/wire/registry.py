"""The agent registry on the wire: one entry per agent the daemon knows of (``agents/list``)."""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["AgentCardInfo", "AgentsListParams"]

AgentRole = Literal["local", "session", "subagent", "worker", "peer"]


class AgentCardInfo(msgspec.Struct, kw_only=True):
    """An agent: who (``id``, ``name``, ``role``), where (``url``: an http(s) A2A URL,
    ``bus://local/{name}`` for a sub-agent, the socket for the daemon), whose child
    (``parent_id``), and how it is (``status``; ``active_tasks`` and ``load`` from its
    heartbeats). ``since`` and ``last_seen`` are Unix times."""

    id: str
    name: str
    role: str = "local"
    url: str = ""
    parent_id: str | None = None
    capabilities: list[str] = []
    status: Literal["ready", "gone", "stale", "unreachable"] = "ready"
    description: str = ""
    since: float | None = None
    last_seen: float | None = None
    active_tasks: int = 0
    load: float = 0.0
    heartbeat: bool = False
    detail: str = ""


class AgentsListParams(msgspec.Struct, forbid_unknown_fields=True):
    """``agents/list``: every agent, or those of one ``role``; gone ones only if asked."""

    role: AgentRole | None = None
    include_gone: bool = False
