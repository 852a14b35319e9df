"""The agent registry: who is on the bus, learned from the bus itself.

Agents announce themselves with ``agent_ready`` on ``agent.{id}.events`` (their card:
name, role, url, capabilities, parent), say ``agent_shutdown`` when they go, and
workers send ``heartbeat`` (active tasks, load). The registry keeps the latest word of
each: an agent is ``ready`` after its card, ``gone`` after its shutdown (kept for
:attr:`AgentRegistry.keep_gone` seconds so a watcher sees it leave), and ``stale``
when it has sent heartbeats before and none for :attr:`AgentRegistry.heartbeat_ttl`
seconds (a worker that died without a word). Agents that are not on the bus (the
daemon itself, A2A peers) are put in with :meth:`AgentRegistry.put`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from ...wire.bus import AgentReady, AgentShutdown, BusEnvelope, Heartbeat
from ...wire.registry import AgentCardInfo
from ._base import Bus, Subscription

__all__ = ["AgentRegistry"]

log = logging.getLogger("codetether.bus")

#: What the registry listens to.
PATTERNS = ("agent.*.events", "broadcast")


class AgentRegistry:
    """Agents by id (see the module docstring). ``clock`` is injectable for tests."""

    def __init__(self, *, heartbeat_ttl: float = 15.0, keep_gone: float = 300.0, max_entries: int = 4096,
                 clock: Callable[[], float] = time.time) -> None:
        self.heartbeat_ttl = heartbeat_ttl
        self.keep_gone = keep_gone
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[str, AgentCardInfo] = {}
        self._task: asyncio.Task[None] | None = None

    def put(self, entry: AgentCardInfo) -> None:
        """Add or replace an agent that does not announce itself on the bus."""
        self._entries.pop(entry.id, None)
        self._entries[entry.id] = entry
        self._trim()

    def observe(self, envelope: BusEnvelope) -> None:
        """Learn from one envelope; anything but the three lifecycle kinds is ignored."""
        msg, now = envelope.message, self.clock()
        if isinstance(msg, AgentReady):
            self._entries.pop(msg.agent_id, None)
            self._entries[msg.agent_id] = AgentCardInfo(
                id=msg.agent_id, name=msg.name or msg.agent_id, role=msg.role, url=msg.url,
                parent_id=msg.parent_id or None, capabilities=list(msg.capabilities), status="ready",
                description=msg.description, since=envelope.timestamp, last_seen=now)
        elif isinstance(msg, AgentShutdown):
            known = self._entries.get(msg.agent_id)
            if known is not None:
                known.status, known.last_seen, known.detail = "gone", now, msg.reason
        elif isinstance(msg, Heartbeat):
            known = self._entries.get(msg.agent_id)
            if known is None:  # a worker we never saw start (we started after it)
                known = self._entries[msg.agent_id] = AgentCardInfo(
                    id=msg.agent_id, name=msg.agent_id, role="worker", status="ready", since=envelope.timestamp)
            known.last_seen, known.heartbeat = now, True
            known.active_tasks, known.load = msg.active_tasks, msg.load
            if known.status == "stale":
                known.status = "ready"
        else:
            return
        self._trim()

    def list(self) -> list[AgentCardInfo]:
        """Every agent known, oldest first, with its status as of now."""
        now = self.clock()
        out = []
        for entry in list(self._entries.values()):
            if entry.status == "gone" and now - (entry.last_seen or now) > self.keep_gone:
                del self._entries[entry.id]
                continue
            if entry.heartbeat and entry.status == "ready" and now - (entry.last_seen or now) > self.heartbeat_ttl:
                entry.status = "stale"
            out.append(entry)
        return out

    def _trim(self) -> None:
        while len(self._entries) > self.max_entries:
            self._entries.pop(next(iter(self._entries)))

    # -- following a bus ------------------------------------------------------------

    async def follow(self, bus: Bus) -> None:
        """Listen on ``bus`` in the background until :meth:`stop` (what agents said before,
        kept by the bus, is read first)."""
        subs = [await bus.subscribe(p) for p in PATTERNS]
        try:
            async for envelope in bus.replay("agent.*.events"):
                self.observe(envelope)
        except Exception as exc:  # noqa: BLE001 - a registry without history still works
            log.warning("agent registry: could not replay the bus: %s", exc)
        for entry in self._entries.values():
            # Announced before we started and not gone: a sub-agent whose daemon died mid-run
            # never said goodbye. Stale until it speaks again. (A worker is judged by its
            # heartbeats instead: it may well have started before this daemon.)
            if entry.status == "ready" and entry.role == "subagent":
                entry.status = "stale"
                entry.detail = entry.detail or "announced before this daemon started; no word since"

        async def pump() -> None:
            queue: asyncio.Queue[BusEnvelope | None] = asyncio.Queue()

            async def read(sub: Subscription) -> None:
                async for envelope in sub:
                    queue.put_nowait(envelope)
                queue.put_nowait(None)

            readers = [asyncio.create_task(read(s), name=f"registry:{s.pattern}") for s in subs]
            try:
                ended = 0
                while ended < len(readers):
                    item = await queue.get()
                    if item is None:
                        ended += 1
                    else:
                        self.observe(item)
            finally:
                for reader in readers:
                    reader.cancel()
                for sub in subs:
                    await sub.close()
                await asyncio.gather(*readers, return_exceptions=True)

        self._task = asyncio.create_task(pump(), name="agent-registry")

    async def stop(self) -> None:
        """Stop following the bus."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
