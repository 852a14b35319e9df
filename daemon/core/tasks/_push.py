"""Push notifications: each update of a task POSTed to the webhooks its client configured.

Where a webhook may point (:meth:`PushDelivery.check_url`, when a config is created and
again before each delivery, as a name can resolve elsewhere later): http or https only;
when ``[a2a] push_allow`` lists patterns (fnmatch, on the whole URL) the URL must match
one; and a host that resolves to a loopback, private, link-local or otherwise
non-public address is refused unless a matching pattern names that host literally
(``http://127.0.0.1:*/*`` does, ``*`` does not): a peer must not make the daemon
probe the machine's own network.

Delivery never blocks a task's run: :meth:`PushDelivery.deliver` puts the update on a
bounded queue and returns; a full queue drops it, counted in ``dropped``. Workers
(named ``push:<n>``, owned, cancelled by :meth:`aclose`) POST the StreamResponse JSON
with ``Authorization`` (the config's scheme and credentials, else ``Bearer <token>``)
and ``X-A2A-Notification-Token``, retrying a connection error, 429 or 5xx with
exponential backoff, and record each delivery's outcome in the audit trail. One
config's updates always go to the same worker, so they arrive in order.
"""

from __future__ import annotations

import asyncio
import fnmatch
import ipaddress
import logging
import time
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import msgspec

from ...errors import InvalidParams
from ...wire import a2a
from ._store import PushConfigRecord

if TYPE_CHECKING:
    import aiohttp

__all__ = ["Audit", "PushDelivery"]

log = logging.getLogger("codetether.tasks.push")


class Audit(Protocol):
    """What delivery writes to: the audit trail's ``record`` (``app.recorder.audit``)."""

    def record(self, category: str, action: str, *, principal: str, outcome: Any,
               resource: str | None = None, detail: dict[str, Any] | None = None,
               duration_ms: float | None = None) -> Any: ...


class PushDelivery:
    """The bounded queues and workers of push delivery (see the module docstring).
    ``_queues[n]`` feeds worker ``n`` only; ``_session`` is the one HTTP client,
    opened by the first worker that needs it and closed by :meth:`aclose`."""

    def __init__(self, allow: Callable[[], list[str]], audit: Audit, *, workers: int = 4,
                 queue_size: int = 1024, attempts: int = 3, base_delay: float = 0.5,
                 timeout: float = 10.0) -> None:
        self.allow = allow
        self.audit = audit
        self.attempts = attempts
        self.base_delay = base_delay
        self.timeout = timeout
        self.dropped = 0
        self.delivered = 0
        self.failed = 0
        self._queues: list[asyncio.Queue[tuple[PushConfigRecord, bytes]]] = [
            asyncio.Queue(queue_size) for _ in range(workers)]
        self._workers: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    # -- where a webhook may point ---------------------------------------------------

    async def check_url(self, url: str) -> None:
        """:class:`InvalidParams` (naming why) unless ``url`` may receive pushes."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidParams(f"push notification URL must be http(s)://host/...: {url!r}",
                                data={"field": "url"})
        patterns = [p for p in self.allow() if fnmatch.fnmatchcase(url, p)]
        if self.allow() and not patterns:
            raise InvalidParams(f"push notification URL {url!r} is not in [a2a] push_allow",
                                data={"field": "url"})
        host = parts.hostname
        if any(_names_host(p, host) for p in patterns):
            return
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 443)
        except OSError as exc:
            raise InvalidParams(f"push notification URL {url!r}: cannot resolve {host!r}: {exc}",
                                data={"field": "url"}) from exc
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if not address.is_global:
                raise InvalidParams(
                    f"push notification URL {url!r} resolves to a non-public address ({address}); "
                    "allow it with a [a2a] push_allow pattern naming the host", data={"field": "url"})

    # -- delivery --------------------------------------------------------------------

    def deliver(self, configs: list[PushConfigRecord], item: a2a.StreamResponse) -> None:
        """Queue ``item`` for each config; never waits (a full queue drops, counted)."""
        if not configs or self._closed:
            return
        if not self._workers:
            self._workers = [asyncio.create_task(self._work(q), name=f"push:{n}")
                             for n, q in enumerate(self._queues)]
        body = msgspec.json.encode(item)
        for config in configs:
            queue = self._queues[zlib.crc32(f"{config.task_id}/{config.id}".encode()) % len(self._queues)]
            try:
                queue.put_nowait((config, body))
            except asyncio.QueueFull:
                self.dropped += 1
                log.warning("push to %s dropped: the delivery queue is full", config.url)

    async def _work(self, queue: asyncio.Queue[tuple[PushConfigRecord, bytes]]) -> None:
        while True:
            config, body = await queue.get()
            try:
                await self._send(config, body)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one bad delivery must not stop the worker
                log.exception("push to %s failed", config.url)

    async def _send(self, config: PushConfigRecord, body: bytes) -> None:
        started = time.perf_counter()
        detail: dict[str, Any] = {"task_id": config.task_id, "config_id": config.id}
        try:
            await self.check_url(config.url)
        except InvalidParams as exc:
            self.failed += 1
            self._record(config, "denied", {**detail, "error": exc.message}, started)
            return
        outcome, attempt = "failure", 0
        for attempt in range(1, self.attempts + 1):  # noqa: B007 - the count is recorded
            status, error = await self._post(config, body)
            detail.update(status=status, error=error, attempts=attempt)
            if status is not None and 200 <= status < 300:
                outcome = "success"
                break
            if status is not None and status < 500 and status != 429:
                break  # the webhook refused this update; sending it again changes nothing
            if attempt < self.attempts:
                await asyncio.sleep(self.base_delay * 2 ** (attempt - 1))
        if outcome == "success":
            self.delivered += 1
        else:
            self.failed += 1
        self._record(config, outcome, detail, started)

    async def _post(self, config: PushConfigRecord, body: bytes) -> tuple[int | None, str | None]:
        import aiohttp  # deferred: the daemon imports it only when a push is sent

        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        headers = {"Content-Type": "application/json"}
        if config.token:
            headers["X-A2A-Notification-Token"] = config.token
        auth = config.authentication
        if auth and auth.get("scheme"):
            headers["Authorization"] = f"{auth['scheme']} {auth.get('credentials', '')}".strip()
        elif config.token:
            headers["Authorization"] = f"Bearer {config.token}"
        try:
            async with self._session.post(config.url, data=body, headers=headers,
                                          allow_redirects=False) as response:
                await response.read()
                return response.status, None
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, f"{type(exc).__name__}: {exc}"

    def _record(self, config: PushConfigRecord, outcome: str, detail: dict[str, Any],
                started: float) -> None:
        try:
            self.audit.record("a2a", "push_notification", principal="daemon", outcome=outcome,
                              resource=config.url, detail=detail,
                              duration_ms=(time.perf_counter() - started) * 1000)
        except Exception:  # noqa: BLE001 - the audit trail degrading must not stop delivery
            log.exception("push outcome not recorded")

    def stats(self) -> dict[str, int]:
        """Counts since start: delivered, failed, dropped (queue full)."""
        return {"delivered": self.delivered, "failed": self.failed, "dropped": self.dropped}

    async def aclose(self) -> None:
        """Stop the workers (queued updates are dropped) and close the HTTP client."""
        self._closed = True
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None


def _names_host(pattern: str, host: str) -> bool:
    """Whether ``pattern`` names ``host`` literally (no wildcard in its host part)."""
    rest = pattern.split("://", 1)[-1]
    authority = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    if authority.startswith("["):
        pattern_host = authority[1:].split("]", 1)[0]
    else:
        pattern_host = authority.split(":", 1)[0]
    return not any(c in pattern_host for c in "*?[") and pattern_host.lower() == host.lower()
