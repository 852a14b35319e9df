"""The cluster's JetStream parts over one NATS connection: the work queue and the bucket
of worker cards.

* :data:`WORK_STREAM` (``CODETETHER_WORK``) keeps :data:`WORK_SUBJECT` (``work.subtasks``)
  with work-queue retention: a message is gone once a worker acknowledges it. Every
  worker pulls through one shared durable consumer (:data:`CONSUMER`), so each item
  goes to one worker at a time.
* :data:`WORKERS_BUCKET` (``codetether_workers``) is a key-value bucket whose entries
  expire after ``worker_ttl`` seconds: a worker rewrites its card at every heartbeat, so
  a worker that died without deregistering drops out of the listing on its own.

``nats`` (nats-py) is imported only inside these functions, when a link starts.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

import msgspec

from ...errors import ConfigError, Unavailable
from ...wire.cluster import WorkerCard

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js import JetStreamContext
    from nats.js.kv import KeyValue

__all__ = ["CONSUMER", "WORKERS_BUCKET", "WORK_STREAM", "WORK_SUBJECT", "ClusterLink"]

log = logging.getLogger("codetether.cluster")

WORK_STREAM: Final = "CODETETHER_WORK"
WORK_SUBJECT: Final = "work.subtasks"
CONSUMER: Final = "codetether-workers"
WORKERS_BUCKET: Final = "codetether_workers"

_card_decoder = msgspec.json.Decoder(WorkerCard)


class ClusterLink:
    """One NATS connection with the work stream and the workers' bucket made sure of.

    The first process to start creates the stream, the bucket (with its TTL) and, for a
    worker, the consumer; later ones bind to what exists (its settings win). ``_nc``,
    ``_js`` and ``_kv`` are None until :meth:`start` and after :meth:`close`.
    """

    def __init__(self, url: str, *, worker_ttl: float = 15.0, connect_timeout: float = 5.0,
                 name: str = "codetether-cluster") -> None:
        self.url = url
        self.worker_ttl = worker_ttl
        self.connect_timeout = connect_timeout
        self.name = name
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._kv: KeyValue | None = None

    async def start(self) -> None:
        try:
            import nats
            import nats.js.errors
            from nats.js.api import KeyValueConfig, RetentionPolicy, StorageType, StreamConfig
        except ImportError as exc:
            raise ConfigError("cluster execution needs the NATS client: pip install 'codetether[cluster]'") from exc
        try:
            nc = await nats.connect(self.url, name=self.name, connect_timeout=self.connect_timeout,
                                    max_reconnect_attempts=1)
        except Exception as exc:  # noqa: BLE001 - nats-py raises its own, OSError or TimeoutError
            raise Unavailable(f"cannot connect to NATS at {self.url}: {exc or type(exc).__name__}") from exc
        nc.options["max_reconnect_attempts"] = -1  # once connected, reconnect for as long as it takes
        js = nc.jetstream()
        stream = StreamConfig(name=WORK_STREAM, subjects=[WORK_SUBJECT], retention=RetentionPolicy.WORK_QUEUE,
                              storage=StorageType.FILE, max_age=7 * 86400.0)
        try:
            try:
                await js.add_stream(stream)
            except nats.js.errors.BadRequestError:  # exists with other settings: keep them
                log.debug("work stream %s exists with other settings", WORK_STREAM)
            try:
                kv = await js.create_key_value(KeyValueConfig(bucket=WORKERS_BUCKET, ttl=self.worker_ttl,
                                                              storage=StorageType.MEMORY))
            except nats.js.errors.BadRequestError:  # another TTL: the bucket as it is
                kv = await js.key_value(WORKERS_BUCKET)
        except Exception as exc:  # noqa: BLE001
            await nc.close()
            raise Unavailable(f"NATS at {self.url}: cannot set up the work queue or the workers' bucket "
                              f"(is the server started with -js?): {exc}") from exc
        self._nc, self._js, self._kv = nc, js, kv

    async def close(self) -> None:
        nc, self._nc, self._js, self._kv = self._nc, None, None, None
        if nc is not None:
            await nc.close()

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise Unavailable("the cluster link is not started")
        return self._js

    @property
    def kv(self) -> KeyValue:
        if self._kv is None:
            raise Unavailable("the cluster link is not started")
        return self._kv

    async def workers(self) -> list[WorkerCard]:
        """The live workers' cards (rewritten within the TTL), by name."""
        import nats.js.errors

        kv = self.kv
        try:
            keys = await kv.keys()
        except nats.js.errors.NoKeysError:
            return []
        cards: list[WorkerCard] = []
        for key in keys:
            try:
                entry = await kv.get(key)
            except nats.js.errors.KeyNotFoundError:  # deleted or expired meanwhile
                continue
            if entry.value:
                try:
                    cards.append(_card_decoder.decode(entry.value))
                except msgspec.DecodeError:
                    log.warning("worker card %s does not decode", key)
        return sorted(cards, key=lambda c: (c.name, c.id))
