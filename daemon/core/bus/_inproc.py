"""The in-process bus: the default, for agents sharing one daemon.

Delivery is a call, not a copy: the publisher builds one envelope and puts the same
(frozen) object on every matching subscription's queue, with the slow-subscriber
policy of :mod:`._base` (never wait; drop the oldest and count). Routing is indexed:
a topic's list of subscriptions is computed once (exact patterns by dict lookup,
wildcard patterns by token match) and cached until a subscription comes or goes, so a
publish costs one dict lookup however many patterns there are.

Durable kinds (:data:`DURABLE_KINDS`) are also appended, one JSON line each, to
``bus.jsonl`` in the data dir through the shared :class:`JsonlLog` (torn tail ended at
open; a failing disk degrades to a bounded backlog, it never fails a publish). Lines
are written, not fsynced: they survive a crash of the daemon, not of the machine.
:meth:`InProcessBus.replay` reads them back, also after a restart.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

from ...errors import InvalidParams
from ...wire.bus import BUS_MESSAGE_KINDS, BusEnvelope, BusMessage, decode_envelope, encode_envelope
from ..storage import JsonlLog
from ._base import (
    DEFAULT_QUEUE_SIZE,
    DURABLE_KINDS,
    Bus,
    BusTimeout,
    NoResponders,
    NotARequest,
    State,
    Subscription,
    check_timeout,
)
from ._topics import check_pattern, check_topic, match_tokens

__all__ = ["LOG_NAME", "InProcessBus"]

log = logging.getLogger("codetether.bus")

LOG_NAME: Final = "bus.jsonl"
_ROUTE_CACHE_LIMIT: Final = 4096
_REPLAY_CHUNK: Final = 1 << 20


class InProcessBus(Bus):
    """The bus inside one process (see the module doc).

    ``_exact`` maps a wildcard-free pattern to its subscriptions, ``_wild`` lists the
    (tokens, subscription) pairs of wildcard patterns, ``_routes`` caches each published
    topic's matching subscriptions (cleared whenever either changes), ``_waiting`` maps a
    pending request's reply address to its future. All are touched only from the event
    loop's thread; the durable log is written from it too.
    """

    def __init__(self, data_dir: Path | None, *, queue_size: int = DEFAULT_QUEUE_SIZE,
                 durable_kinds: frozenset[str] = DURABLE_KINDS) -> None:
        self.data_dir = data_dir
        self.queue_size = queue_size
        self.durable_kinds = durable_kinds
        self.state = State.NEW
        self._durable_types = tuple(BUS_MESSAGE_KINDS[k] for k in sorted(durable_kinds))
        self._exact: dict[str, list[Subscription]] = {}
        self._wild: list[tuple[tuple[str, ...], Subscription]] = []
        self._routes: dict[str, tuple[Subscription, ...]] = {}
        self._waiting: dict[str, asyncio.Future[BusEnvelope]] = {}
        self._prefix = os.urandom(4).hex()
        self._ids = itertools.count(1)
        self._log: JsonlLog[bytes] | None = None
        if data_dir is not None:
            self._log = JsonlLog(data_dir / LOG_NAME, on_open=self._log_opened)

    def _log_opened(self) -> None:
        assert self._log is not None
        self._log.terminate()  # a torn last line stays, ended; replay skips it

    async def start(self) -> None:
        if self.state is not State.NEW:
            raise RuntimeError(f"bus already {self.state.value}")
        if self._log is not None:
            try:
                self._log.open()
            except OSError as exc:
                self._log.fail(exc)  # degraded: publishes are held in memory and retried
                log.warning("bus log %s unavailable: %s", self._log.path, exc)
        self.state = State.OPEN

    async def close(self) -> None:
        if self.state is State.CLOSED:
            return
        self.state = State.CLOSED
        subs = [s for group in self._exact.values() for s in group] + [s for _, s in self._wild]
        self._exact.clear()
        self._wild.clear()
        self._routes.clear()
        for sub in subs:
            sub._close()
        for future in self._waiting.values():
            if not future.done():
                future.cancel()
        self._waiting.clear()
        if self._log is not None:
            lost = self._log.close()
            if lost:
                log.warning("bus log %s: %d durable envelope(s) could not be written", self._log.path, lost)

    @property
    def log_health(self) -> tuple[bool, str | None]:
        """The durable log's health: ``(True, None)`` or ``(False, why)`` while degraded."""
        return (True, None) if self._log is None else self._log.health("envelopes")

    # -- routing ----------------------------------------------------------------------------

    def _route(self, topic: str) -> tuple[Subscription, ...]:
        subs = self._routes.get(topic)
        if subs is None:
            tokens = tuple(check_topic(topic).split("."))
            found = list(self._exact.get(topic, ()))
            found += [sub for pattern, sub in self._wild if match_tokens(pattern, tokens)]
            subs = tuple(found)
            if len(self._routes) >= _ROUTE_CACHE_LIMIT:
                self._routes.clear()
            self._routes[topic] = subs
        return subs

    def _envelope(self, topic: str, message: BusMessage, sender_id: str, correlation_id: str | None,
                  reply_to: str | None = None) -> BusEnvelope:
        return BusEnvelope(id=f"{self._prefix}-{next(self._ids)}", topic=topic, sender_id=sender_id,
                           correlation_id=correlation_id, timestamp=time.time(), message=message,
                           reply_to=reply_to)

    def _deliver(self, subs: tuple[Subscription, ...], envelope: BusEnvelope) -> None:
        if self._log is not None and isinstance(envelope.message, self._durable_types):
            self._log.append(encode_envelope(envelope) + b"\n")
        for sub in subs:
            sub._put(envelope)

    # -- the interface ----------------------------------------------------------------------

    async def publish(self, topic: str, message: BusMessage, *, sender_id: str,
                      correlation_id: str | None = None) -> BusEnvelope:
        if self.state is not State.OPEN:
            self._check_open()
        subs = self._route(topic)
        envelope = self._envelope(topic, message, sender_id, correlation_id)
        self._deliver(subs, envelope)
        return envelope

    async def subscribe(self, pattern: str, *, queue_size: int | None = None) -> Subscription:
        self._check_open()
        tokens = check_pattern(pattern)
        sub = Subscription(pattern, self.queue_size if queue_size is None else queue_size)
        if "*" in tokens or ">" in tokens:
            self._wild.append((tokens, sub))
        else:
            self._exact.setdefault(pattern, []).append(sub)
        self._routes.clear()

        async def release() -> None:
            self._unsubscribe(sub, tokens)

        sub._release.append(release)
        return sub

    def _unsubscribe(self, sub: Subscription, tokens: tuple[str, ...]) -> None:
        group = self._exact.get(sub.pattern)
        if group is not None and sub in group:
            group.remove(sub)
            if not group:
                del self._exact[sub.pattern]
        self._wild = [(p, s) for p, s in self._wild if s is not sub]
        self._routes.clear()

    async def request(self, topic: str, message: BusMessage, *, sender_id: str,
                      timeout: float) -> BusEnvelope:
        self._check_open()
        subs = self._route(topic)
        check_timeout(timeout)
        if not subs:
            raise NoResponders(f"no subscriber on {topic!r} to answer the request")
        envelope = self._envelope(topic, message, sender_id, None, reply_to=f"_INBOX.{self._prefix}.{next(self._ids)}")
        assert envelope.reply_to is not None
        future: asyncio.Future[BusEnvelope] = asyncio.get_running_loop().create_future()
        self._waiting[envelope.reply_to] = future
        try:
            self._deliver(subs, envelope)
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise BusTimeout(f"no reply on {topic!r} within {timeout} s") from None
        finally:
            self._waiting.pop(envelope.reply_to, None)

    async def reply(self, request: BusEnvelope, message: BusMessage, *, sender_id: str) -> BusEnvelope:
        self._check_open()
        if request.reply_to is None:
            raise NotARequest(f"envelope {request.id} on {request.topic!r} is not a request: nothing to reply to")
        # Replies go to the requester only: never logged, never seen by subscribers.
        envelope = self._envelope(request.reply_to, message, sender_id, request.id)
        future = self._waiting.get(request.reply_to)
        if future is not None and not future.done():
            future.set_result(envelope)
        return envelope

    async def replay(self, pattern: str, since: float | None = None) -> AsyncIterator[BusEnvelope]:
        tokens = check_pattern(pattern)
        if self._log is None:
            return
        self._log.flush()  # what a degraded log held, if the disk is back
        try:
            handle = open(self._log.path, "rb")  # noqa: ASYNC230 - local file, read in chunks between yields
        except FileNotFoundError:
            return
        with handle:
            rest = b""
            while chunk := handle.read(_REPLAY_CHUNK):
                lines = (rest + chunk).split(b"\n")
                rest = lines.pop()
                for line in lines:
                    envelope = _decode_line(line)
                    if envelope is None or (since is not None and envelope.timestamp < since):
                        continue
                    if match_tokens(tokens, tuple(envelope.topic.split("."))):
                        yield envelope
                await asyncio.sleep(0)  # let the loop breathe between chunks


def _decode_line(line: bytes) -> BusEnvelope | None:
    if not line.strip():
        return None
    try:
        return decode_envelope(line)
    except InvalidParams:  # a torn or foreign line is skipped, never fatal
        return None
