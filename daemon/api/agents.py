"""``agents/list``: every agent this daemon knows of, in one registry of cards.

* the daemon's own agent (``local``: its name, where it listens, its tools);
* sessions running now (``session``);
* sub-agents and workers, as they announced themselves on the bus (``subagent``,
  ``worker``; see :class:`~codetether.daemon.core.bus.AgentRegistry`);
* A2A peers spawn mode found (``peer``; ``unreachable`` when the last poll failed).
"""

from __future__ import annotations

import os

from ..app import App
from ..core.peers import PeerRegistry, registry_path
from ..wire.registry import AgentCardInfo, AgentsListParams
from ._context import CallContext
from ._table import Method

__all__ = ["AgentsAPI"]


class AgentsAPI:
    """The registry of agents (see the module docstring)."""

    def __init__(self, app: App) -> None:
        self.app = app

    def methods(self) -> list[Method]:
        """The ``agents/*`` methods this domain serves."""
        return [Method("agents/list", self.on_agents_list, AgentsListParams, list[AgentCardInfo],
                       when_broken=True)]

    async def on_agents_list(self, p: AgentsListParams, _ctx: CallContext) -> list[AgentCardInfo]:
        """Every known agent, the daemon's own first."""
        app = self.app
        cards = [self._own(), *self._sessions(), *app.registry.list(), *self._peers()]
        return [c for c in cards if (p.role is None or c.role == p.role) and (p.include_gone or c.status != "gone")]

    def _own(self) -> AgentCardInfo:
        app = self.app
        url = app.endpoints.get("http_url") or f"unix://{app.paths.socket}"
        return AgentCardInfo(id=f"daemon:{os.getpid()}", name=app.config.a2a.name, role="local", url=url,
                             capabilities=app.tools.names(), description=app.config.a2a.description,
                             since=app.started, active_tasks=sum(1 for r in app.runtimes.values() if r.busy))

    def _sessions(self) -> list[AgentCardInfo]:
        out = []
        for rt in list(self.app.runtimes.values()):
            if not rt.busy or rt.meta.state.get("subagent"):
                continue  # sub-agents are on the bus with their own cards
            out.append(AgentCardInfo(id=rt.id, name=rt.meta.title or rt.id, role="session",
                                     url=f"session://{rt.id}", parent_id=rt.meta.parent_id,
                                     since=rt.meta.created_at, last_seen=rt.meta.updated_at,
                                     detail=f"model {rt.meta.model}, mode {rt.meta.approval_mode}"))
        return out

    def _peers(self) -> list[AgentCardInfo]:
        out = []
        for peer in PeerRegistry(registry_path(self.app.paths.data_dir)).peers():
            card = peer.card or {}
            skills = [str(s.get("name") or s.get("id")) for s in card.get("skills") or [] if isinstance(s, dict)]
            out.append(AgentCardInfo(id=f"peer:{peer.url}", name=peer.name, role="peer", url=peer.url,
                                     capabilities=skills, description=str(card.get("description") or ""),
                                     status="unreachable" if peer.error else "ready", since=peer.first_seen,
                                     last_seen=peer.last_seen, detail=peer.error or ""))
        return out
