"""Spawn mode's poller: fetch every peer's card on a period, register the new ones, keep
their cards current, and introduce ourselves once to each."""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from ...errors import CodetetherError
from ._calls import introduce
from ._client import card_url, fetch_card
from ._registry import Peer, PeerRegistry

__all__ = ["DEFAULT_INTERVAL", "MIN_INTERVAL", "PeerPoller", "PollerState"]

log = logging.getLogger("codetether.daemon.peers")

DEFAULT_INTERVAL = 15.0
#: The shortest period a user may ask for (a peer's card is cached for longer anyway).
MIN_INTERVAL = 5.0

FetchCard = Callable[[str], Awaitable[dict[str, Any]]]
Introduce = Callable[[str, str | None, str], Awaitable[str]]


class PollerState(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    CLOSED = "closed"


class PeerPoller:
    """Poll ``urls`` every ``interval`` seconds into ``registry``.

    ``async with PeerPoller(...)`` runs the first round at once, then one round per
    period, in one task ``"peers:poll"`` owned by this object and awaited on exit;
    ``_stop`` (an :class:`asyncio.Event`) is the only signal to that task. Each round
    fetches every card together; a new peer is registered, a known one gets its card
    and ``last_seen`` updated, a failure is kept in the peer's ``error``. A peer whose
    card answered and that has not been introduced gets ``"Hello from <name> at <our
    card URL>"`` (when ``auto_introduce``), retried each round until it succeeds once.
    ``token_for(url)`` gives the bearer token for a peer; ``own_url()`` our HTTP URL.
    ``rounds`` counts finished rounds and ``_round`` (an :class:`asyncio.Condition`)
    is notified after each, for :meth:`wait_rounds`.
    """

    def __init__(self, registry: PeerRegistry, urls: list[str], *, name: str,
                 own_url: Callable[[], str | None], token_for: Callable[[str], str | None],
                 interval: float = DEFAULT_INTERVAL, auto_introduce: bool = True,
                 fetch: FetchCard = fetch_card, send_introduction: Introduce | None = None) -> None:
        self.registry = registry
        self.urls = list(dict.fromkeys(u.strip().rstrip("/") for u in urls if u.strip()))
        self.name = name
        self.own_url = own_url
        self.token_for = token_for
        self.interval = interval
        self.auto_introduce = auto_introduce
        self._fetch = fetch
        self._introduce = send_introduction or _introduce
        self.rounds = 0
        self._state = PollerState.NEW
        self._stop = asyncio.Event()
        self._round = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    @property
    def state(self) -> PollerState:
        return self._state

    async def __aenter__(self) -> PeerPoller:
        if self._state is not PollerState.NEW:
            raise RuntimeError(f"PeerPoller is {self._state.value}; create a new one")
        self._state = PollerState.RUNNING
        self._task = asyncio.create_task(self._run(), name="peers:poll")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self._state = PollerState.CLOSED
        self._stop.set()
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()  # a round in flight (a slow peer) is not waited for
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # we are being cancelled, not just our task

    async def wait_rounds(self, count: int) -> None:
        """Return once ``count`` rounds have finished in all."""
        async with self._round:
            await self._round.wait_for(lambda: self.rounds >= count)

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.poll_once()
            except Exception:  # a bug in one round must not end polling
                log.exception("peer poll round failed")
            try:
                await asyncio.wait_for(self._stop.wait(), self.interval)
            except TimeoutError:
                pass

    async def poll_once(self) -> None:
        """One round over every peer (not ourselves, if our own URL is in the list)."""
        ours = (self.own_url() or "").rstrip("/")
        await asyncio.gather(*(self._poll(url) for url in self.urls if url != ours))
        async with self._round:
            self.rounds += 1
            self._round.notify_all()

    async def _poll(self, url: str) -> None:
        now = time.time()
        peer = self.registry.get(url)
        try:
            card = await self._fetch(url)
        except CodetetherError as exc:
            if peer is not None and peer.error != exc.message:
                peer.error = exc.message
                self.registry.put(peer)
            log.info("peer %s: %s", url, exc.message)
            return
        if peer is None:
            peer = Peer(url=url, name=str(card.get("name") or url), first_seen=now)
            log.info("new peer %s at %s", peer.name, url)
        peer.name, peer.card, peer.last_seen, peer.error = str(card.get("name") or url), card, now, None
        self.registry.put(peer)
        if self.auto_introduce and not peer.introduced:
            await self._introduce_to(peer)

    async def _introduce_to(self, peer: Peer) -> None:
        ours = self.own_url()
        text = f"Hello from {self.name} at {card_url(ours) if ours else '(no HTTP listener)'}"
        try:
            task_id = await self._introduce(peer.url, self.token_for(peer.url), text)
        except (CodetetherError, TimeoutError) as exc:
            peer.error = f"introduction failed: {getattr(exc, 'message', None) or 'timed out'}"
            log.warning("peer %s: %s", peer.url, peer.error)
        else:
            peer.introduced = True
            log.info("introduced to %s at %s (task %s)", peer.name, peer.url, task_id or "-")
        self.registry.put(peer)


async def _introduce(url: str, token: str | None, text: str) -> str:
    return await introduce(url, token, text)
