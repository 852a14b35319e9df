"""The bus on NATS (``[bus] url = "nats://..."``), for daemons and workers on many hosts.

Topics map 1:1 onto NATS subjects, wildcards included; the payload is the envelope's
JSON. Requests use NATS request/reply (the reply address is the NATS reply inbox,
shown to the replier as ``reply_to``); NATS answers "no responders" at once when
nobody subscribes, which becomes :class:`NoResponders`.

Durable kinds are published twice: live on their topic (core NATS, like every other
kind) and, acknowledged, into the JetStream stream :data:`STREAM` under
``$CTBUS.<topic>``. The stream captures only that prefix, so chatter never reaches the
disk and the live path never waits on JetStream. :meth:`NatsBus.replay` reads the
stream with a short-lived pull consumer; with ``nats-server -js -sd DIR`` it survives a
restart of the client and of the server.

Slow subscribers: nats-py hands every message to our callback, which puts it on the
subscription's bounded queue with the same policy as in process (drop the oldest,
count in ``dropped``), so a reader that does not keep up costs its own queue only.
Below that, NATS has its own limit: a *process* too busy to read its socket lets the
server's buffer for the connection grow, and past ``max_pending`` (64 MB by default)
the server closes the connection as a slow consumer (nats-py reconnects; what that
buffer held is lost). Subjects under ``$`` (JetStream's API,
our durable copies) and ``_INBOX`` (replies) are not bus topics and are skipped when a
wildcard pattern would match them.

``nats`` (nats-py) is imported only here, when a NatsBus starts.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import msgspec

from ...errors import ConfigError, InvalidParams, Unavailable
from ...wire.bus import BUS_MESSAGE_KINDS, BusEnvelope, BusMessage, decode_envelope, encode_envelope
from ._base import (
    DEFAULT_QUEUE_SIZE,
    DURABLE_KINDS,
    Bus,
    BusClosed,
    BusTimeout,
    NoResponders,
    NotARequest,
    State,
    Subscription,
    check_timeout,
)
from ._topics import check_pattern, check_topic

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.js import JetStreamContext

__all__ = ["DURABLE_PREFIX", "STREAM", "NatsBus"]

log = logging.getLogger("codetether.bus")

STREAM: Final = "CODETETHER_BUS"
DURABLE_PREFIX: Final = "$CTBUS"
_SKIP: Final = ("$", "_INBOX.")
_REPLAY_BATCH: Final = 256


def _mapped(exc: Exception, what: str) -> Exception:
    """A nats-py failure as one of ours (raise it ``from exc``)."""
    import nats.errors

    if isinstance(exc, nats.errors.ConnectionClosedError | nats.errors.ConnectionDrainingError):
        return BusClosed(f"NATS: {what}: the connection is closed")
    return Unavailable(f"NATS: {what}: {exc or type(exc).__name__}")


class NatsBus(Bus):
    """The bus over one NATS connection (see the module doc).

    ``_nc``/``_js`` are the connection and its JetStream context (None until started);
    ``_subs`` lists live subscriptions so :meth:`close` can end them; ``_connected`` is set
    while the connection is up (nats-py's callbacks set and clear it) and is what
    :meth:`wait_connected` waits on. Touched only from the event loop's thread.

    When the server goes away, nats-py reconnects (every ``reconnect_wait`` s, without
    limit once the first connection succeeded) and subscribes again; publishes meanwhile
    are buffered by the client. A durable publish finding the stream gone (a server
    started on an empty store) creates it again and retries once.
    """

    def __init__(self, url: str, *, queue_size: int = DEFAULT_QUEUE_SIZE,
                 durable_kinds: frozenset[str] = DURABLE_KINDS, stream: str = STREAM,
                 max_age: float = 7 * 86400.0, connect_timeout: float = 5.0, reconnect_wait: float = 2.0,
                 name: str = "codetether") -> None:
        self.url = url
        self.queue_size = queue_size
        self.durable_kinds = durable_kinds
        self.stream = stream
        self.max_age = max_age
        self.connect_timeout = connect_timeout
        self.reconnect_wait = reconnect_wait
        self.name = name
        self.state = State.NEW
        self.undecodable = 0  # messages on a subscribed subject that were not envelopes
        self._durable_types = tuple(BUS_MESSAGE_KINDS[k] for k in sorted(durable_kinds))
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._subs: list[Subscription] = []
        self._prefix = os.urandom(4).hex()
        self._ids = itertools.count(1)
        self._connected = asyncio.Event()

    async def start(self) -> None:
        if self.state is not State.NEW:
            raise RuntimeError(f"bus already {self.state.value}")
        try:
            import nats
        except ImportError as exc:
            raise ConfigError(f"[bus] url {self.url!r} needs the NATS client: "
                              "pip install 'codetether[cluster]'") from exc

        try:
            # One retry at first (a wrong URL fails in seconds, not never) ...
            nc = await nats.connect(self.url, name=self.name, connect_timeout=self.connect_timeout,
                                    allow_reconnect=True, max_reconnect_attempts=1,
                                    reconnect_time_wait=self.reconnect_wait, error_cb=self._on_error,
                                    disconnected_cb=self._on_disconnected, reconnected_cb=self._on_reconnected)
        except Exception as exc:  # noqa: BLE001 - nats-py raises its own, OSError or TimeoutError
            raise Unavailable(f"cannot connect to NATS at {self.url}: {exc or type(exc).__name__}") from exc
        # ... then, once connected, reconnect for as long as it takes (nats-py reads this at
        # every reconnect; a negative count means no limit).
        nc.options["max_reconnect_attempts"] = -1
        self._nc = nc
        self._js = nc.jetstream()
        self._connected.set()
        try:
            await self._ensure_stream()
        except Exception as exc:  # noqa: BLE001
            await nc.close()
            raise Unavailable(f"NATS at {self.url}: cannot create the JetStream stream {self.stream} "
                              f"(is the server started with -js?): {exc}") from exc
        self.state = State.OPEN

    async def _ensure_stream(self) -> None:
        import nats.js.errors
        from nats.js.api import DiscardPolicy, StorageType, StreamConfig

        assert self._js is not None
        config = StreamConfig(name=self.stream, subjects=[f"{DURABLE_PREFIX}.>"], storage=StorageType.FILE,
                              max_age=self.max_age, discard=DiscardPolicy.OLD)
        try:
            await self._js.add_stream(config)
        except nats.js.errors.BadRequestError:  # exists with another configuration
            await self._js.update_stream(config)

    async def _on_disconnected(self) -> None:
        self._connected.clear()

    async def _on_reconnected(self) -> None:
        self._connected.set()
        log.info("nats %s: reconnected", self.url)

    @property
    def connected(self) -> bool:
        """True while the connection to the server is up."""
        return self._nc is not None and self._nc.is_connected

    async def wait_connected(self, timeout: float) -> None:
        """Return once connected (at once if it is); :class:`BusTimeout` after ``timeout`` s."""
        self._check_open()
        try:
            async with asyncio.timeout(timeout):
                await self._connected.wait()
        except TimeoutError:
            raise BusTimeout(f"NATS at {self.url}: not connected within {timeout} s") from None

    async def _on_error(self, exc: Exception) -> None:
        log.warning("nats %s: %s", self.url, exc)

    async def close(self) -> None:
        if self.state is State.CLOSED:
            return
        self.state = State.CLOSED
        subs, self._subs = self._subs, []
        for sub in subs:
            sub._close()
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None:
            await nc.close()

    def _conn(self) -> Client:
        self._check_open()
        assert self._nc is not None
        return self._nc

    def _envelope(self, topic: str, message: BusMessage, sender_id: str,
                  correlation_id: str | None) -> BusEnvelope:
        return BusEnvelope(id=f"{self._prefix}-{next(self._ids)}", topic=topic, sender_id=sender_id,
                           correlation_id=correlation_id, timestamp=time.time(), message=message)

    async def _persist(self, envelope: BusEnvelope, data: bytes) -> None:
        if not isinstance(envelope.message, self._durable_types):
            return
        import nats.js.errors
        assert self._js is not None
        subject = f"{DURABLE_PREFIX}.{envelope.topic}"
        try:
            try:
                await self._js.publish(subject, data, stream=self.stream)
            except nats.js.errors.NoStreamResponseError:  # the server lost the stream: make it again
                await self._ensure_stream()
                await self._js.publish(subject, data, stream=self.stream)
        except Exception as exc:  # noqa: BLE001 - mapped: the live copy went out, the durable one did not
            raise Unavailable(f"NATS: {envelope.message.__struct_config__.tag} on {envelope.topic!r} "
                              f"was sent but not stored in {self.stream}: {exc}") from exc

    async def publish(self, topic: str, message: BusMessage, *, sender_id: str,
                      correlation_id: str | None = None) -> BusEnvelope:
        nc = self._conn()
        envelope = self._envelope(check_topic(topic), message, sender_id, correlation_id)
        data = encode_envelope(envelope)
        try:
            await nc.publish(topic, data)
        except Exception as exc:  # noqa: BLE001 - mapped at the boundary
            raise _mapped(exc, f"publish on {topic!r}") from exc
        await self._persist(envelope, data)
        return envelope

    async def subscribe(self, pattern: str, *, queue_size: int | None = None) -> Subscription:
        nc = self._conn()
        tokens = check_pattern(pattern)
        sub = Subscription(pattern, self.queue_size if queue_size is None else queue_size)
        skip = tokens[0] in ("*", ">")  # only a leading wildcard can match `$...` or `_INBOX...`

        async def deliver(msg: Msg) -> None:
            if skip and msg.subject.startswith(_SKIP):
                return
            try:
                envelope = decode_envelope(msg.data)
            except InvalidParams as exc:
                self.undecodable += 1
                log.debug("nats %s: not a bus envelope: %s", msg.subject, exc)
                return
            if msg.reply:
                envelope = msgspec.structs.replace(envelope, reply_to=msg.reply)
            sub._put(envelope)

        try:
            nsub = await nc.subscribe(pattern, cb=deliver)
            await nc.flush()  # the server has the interest: what is published next reaches us
        except Exception as exc:  # noqa: BLE001
            raise _mapped(exc, f"subscribe to {pattern!r}") from exc

        async def release() -> None:
            if sub in self._subs:
                self._subs.remove(sub)
            try:
                await nsub.unsubscribe()
            except Exception as exc:  # noqa: BLE001 - the connection may be gone already
                log.debug("nats unsubscribe %s: %s", pattern, exc)

        sub._release.append(release)
        self._subs.append(sub)
        return sub

    async def request(self, topic: str, message: BusMessage, *, sender_id: str,
                      timeout: float) -> BusEnvelope:
        import nats.errors

        nc = self._conn()
        envelope = self._envelope(check_topic(topic), message, sender_id, None)
        check_timeout(timeout)
        data = encode_envelope(envelope)
        await self._persist(envelope, data)
        try:
            answer = await nc.request(topic, data, timeout=timeout)
        except nats.errors.NoRespondersError:
            raise NoResponders(f"no subscriber on {topic!r} to answer the request") from None
        except nats.errors.TimeoutError:
            raise BusTimeout(f"no reply on {topic!r} within {timeout} s") from None
        except Exception as exc:  # noqa: BLE001
            raise _mapped(exc, f"request on {topic!r}") from exc
        return decode_envelope(answer.data)

    async def reply(self, request: BusEnvelope, message: BusMessage, *, sender_id: str) -> BusEnvelope:
        nc = self._conn()
        if request.reply_to is None:
            raise NotARequest(f"envelope {request.id} on {request.topic!r} is not a request: nothing to reply to")
        envelope = self._envelope(request.reply_to, message, sender_id, request.id)
        try:
            await nc.publish(request.reply_to, encode_envelope(envelope))  # nobody waiting: NATS drops it
        except Exception as exc:  # noqa: BLE001
            raise _mapped(exc, "reply") from exc
        return envelope

    async def replay(self, pattern: str, since: float | None = None) -> AsyncIterator[BusEnvelope]:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        check_pattern(pattern)
        self._check_open()
        assert self._js is not None
        config: dict[str, Any] = {"ack_policy": AckPolicy.NONE, "inactive_threshold": 30.0,
                                  "mem_storage": True, "deliver_policy": DeliverPolicy.ALL}
        if since is not None:
            # The server stamps its own arrival time; start a little early and filter on ours.
            config["deliver_policy"] = DeliverPolicy.BY_START_TIME
            config["opt_start_time"] = datetime.fromtimestamp(max(0.0, since - 5.0), UTC)
        try:
            psub = await self._js.pull_subscribe(f"{DURABLE_PREFIX}.{pattern}", stream=self.stream,
                                                 config=ConsumerConfig(**config))
            remaining = (await psub.consumer_info()).num_pending or 0
        except Exception as exc:  # noqa: BLE001
            raise Unavailable(f"NATS: cannot read the stream {self.stream}: {exc}") from exc
        try:
            while remaining > 0:
                for msg in await psub.fetch(min(remaining, _REPLAY_BATCH), timeout=5.0):
                    remaining = msg.metadata.num_pending or 0
                    try:
                        envelope = decode_envelope(msg.data)
                    except InvalidParams:
                        self.undecodable += 1
                        continue
                    if since is None or envelope.timestamp >= since:
                        yield envelope
        finally:
            try:
                await psub.unsubscribe()
            except Exception as exc:  # noqa: BLE001 - the consumer expires on its own (inactive_threshold)
                log.debug("nats replay unsubscribe: %s", exc)
