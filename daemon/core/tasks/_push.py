"""Push notifications: each update of a task POSTed to the webhooks its client configured.

Where a webhook may point (:meth:`PushDelivery.check_url`, when a config is created and
again before each delivery, as a name can resolve elsewhere later): http or https only;
when ``[a2a] push_allow`` lists patterns (fnmatch, by part: scheme, ``host[:port]``, the
rest; see :func:`allows`) the URL must match one; and a host that resolves to a loopback, private, link-local or otherwise
non-public address is refused unless a matching pattern names that host literally
(``http://127.0.0.1:*/*`` does, ``*`` does not): a peer must not make the daemon
probe the machine's own network. The delivery client connects only to addresses the
same rule allows, whatever the name resolves to by then (:mod:`._push_connect`), and
never follows a redirect. A URL carries no user info (credentials go in the config's
``authentication``), and a config whose token or credentials could not be sent as one
header line is refused (:meth:`PushDelivery.check_config`).

Delivery never blocks a task's run: :meth:`PushDelivery.deliver` puts the update on a
bounded queue and returns; a full queue drops it, counted in ``dropped``. Workers
(named ``push:<n>``, owned, cancelled by :meth:`aclose`) POST the StreamResponse JSON
with ``Authorization`` (the config's scheme and credentials, else ``Bearer <token>``)
and ``X-A2A-Notification-Token``, retrying a connection error, 429 or 5xx with
exponential backoff, and record each delivery's outcome in the audit trail. One
config's updates always go to the same worker, so they arrive in order. Each request
has ``timeout`` seconds and reads at most :data:`BODY_LIMIT` bytes of the answer; a
webhook host that gave no answer at all is skipped for ``cooldown`` seconds (doubling
while it stays down, then tried once before retries resume), so a dead or stalling
webhook costs its worker one round of attempts, not one per update. Logs and the audit
trail show a webhook URL without its user info or query (:func:`shown`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import zlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from ...errors import InvalidParams
from ...wire import a2a
from ._push_policy import Resolve, allows, config_headers, names_host, refusal, shown
from ._store import PushConfigRecord

if TYPE_CHECKING:
    import aiohttp

__all__ = ["BODY_LIMIT", "Audit", "PushDelivery", "Resolve", "system_resolve"]

log = logging.getLogger("codetether.tasks.push")

BODY_LIMIT = 64 * 1024
"""The most of a webhook's answer a delivery reads (only its status counts)."""

MAX_COOLDOWN = 600.0
"""The longest a webhook host that gives no answer is skipped for, in seconds."""


async def system_resolve(host: str, port: int) -> list[str]:
    """The system's lookup (``getaddrinfo``): the default :data:`Resolve`."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _Config(Protocol):
    """What :meth:`PushDelivery.check_config` reads of a config (the wire type or a record)."""

    @property
    def url(self) -> str: ...
    @property
    def token(self) -> str: ...
    @property
    def authentication(self) -> Any: ...


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
                 timeout: float = 10.0, cooldown: float = 30.0,
                 resolve: Resolve = system_resolve) -> None:
        self.allow = allow
        self.audit = audit
        self.attempts = attempts
        self.base_delay = base_delay
        self.timeout = timeout
        self.cooldown = cooldown
        self.resolve = resolve  # read at each lookup: the URL check's and the connection's
        self._down: dict[str, tuple[float, int]] = {}  # origin -> (skip until, strikes)
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
        from yarl import URL  # the parser the delivery client connects with

        try:
            parsed = URL(url)
        except ValueError as exc:  # not echoed: user info with a "/" or "?" in it does not parse as such
            raise InvalidParams(f"push notification URL does not parse: {exc}", data={"field": "url"}) from exc
        host = parsed.raw_host
        if parsed.scheme not in ("http", "https") or not host:
            raise InvalidParams(f"push notification URL must be http(s)://host/...: {shown(url)!r}",
                                data={"field": "url"})
        if parsed.raw_user is not None or parsed.raw_password is not None:
            raise InvalidParams("push notification URL: no credentials in the URL (use authentication)",
                                data={"field": "url"})
        allow = self.allow()
        patterns = [p for p in allow if allows(p, url)]
        if allow and not patterns:
            raise InvalidParams(f"push notification URL {shown(url)!r} is not in [a2a] push_allow",
                                data={"field": "url"})
        if any(names_host(p, host) for p in patterns):
            return
        try:
            async with asyncio.timeout(self.timeout):
                addresses = await self.resolve(host, parsed.port or 443)
        except (OSError, TimeoutError) as exc:
            raise InvalidParams(f"push notification URL {shown(url)!r}: cannot resolve {host!r}: "
                                f"{str(exc) or 'timed out'}", data={"field": "url"}) from exc
        for address in addresses:
            if (why := refusal(address)) is not None:
                raise InvalidParams(
                    f"push notification URL {shown(url)!r} resolves to a non-public address ({why}); "
                    "allow it with a [a2a] push_allow pattern naming the host", data={"field": "url"})

    async def check_config(self, config: _Config) -> None:
        """:meth:`check_url`, and :class:`InvalidParams` unless the config's token and
        authentication fit in header lines. ``config`` is an A2A
        ``TaskPushNotificationConfig`` or a :class:`PushConfigRecord`."""
        config_headers(config.token, _auth(config.authentication))
        await self.check_url(config.url)

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
                log.warning("push to %s dropped: the delivery queue is full", shown(config.url))

    async def _work(self, queue: asyncio.Queue[tuple[PushConfigRecord, bytes]]) -> None:
        while True:
            config, body = await queue.get()
            try:
                await self._send(config, body)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one bad delivery must not stop the worker
                log.exception("push to %s failed", shown(config.url))

    async def _send(self, config: PushConfigRecord, body: bytes) -> None:
        started = time.perf_counter()
        detail: dict[str, Any] = {"task_id": config.task_id, "config_id": config.id}
        try:
            headers = config_headers(config.token, config.authentication)
            await self.check_url(config.url)
        except InvalidParams as exc:
            self.failed += 1
            self._record(config, "denied", {**detail, "error": exc.message}, started)
            return
        origin = _origin(config.url)
        until, strikes = self._down.get(origin, (0.0, 0))
        if time.monotonic() < until:
            self.failed += 1
            self._record(config, "failure", {**detail, "attempts": 0, "error": (
                f"skipped: {origin} gave no answer; retried in {until - time.monotonic():.0f}s")}, started)
            return
        from ._push_connect import PushRefused

        outcome, attempt, attempts = "failure", 0, 1 if strikes else self.attempts
        for attempt in range(1, attempts + 1):  # noqa: B007 - the count is recorded
            try:
                status, error = await self._post(config, headers, body)
            except PushRefused as exc:
                self.failed += 1
                self._record(config, "denied", {**detail, "attempts": attempt, "error": str(exc)}, started)
                return
            detail.update(status=status, error=error, attempts=attempt)
            if status is not None and 200 <= status < 300:
                outcome = "success"
                break
            if status is not None and status < 500 and status != 429:
                break  # the webhook refused this update (or redirected it): sending it again changes nothing
            if attempt < attempts:
                await asyncio.sleep(self.base_delay * 2 ** (attempt - 1))
        if detail.get("status") is None:
            self._strike(origin, strikes + 1)
        else:
            self._down.pop(origin, None)
        if outcome == "success":
            self.delivered += 1
        else:
            self.failed += 1
        self._record(config, outcome, detail, started)

    def _strike(self, origin: str, strikes: int) -> None:
        """``origin`` gave no answer ``strikes`` times running: skip it for a while."""
        now = time.monotonic()
        for key in [k for k, (until, _) in self._down.items() if until + MAX_COOLDOWN < now]:
            del self._down[key]  # long over: a later failure starts from the short cooldown
        self._down[origin] = (now + min(self.cooldown * 2 ** (strikes - 1), MAX_COOLDOWN), strikes)

    async def _post(self, config: PushConfigRecord, headers: dict[str, str],
                    body: bytes) -> tuple[int | None, str | None]:
        import aiohttp  # deferred: the daemon imports it only when a push is sent

        from ._push_connect import PushRefused, open_session

        if self._session is None:
            self._session = open_session(lambda: self.resolve, self._literal, self.timeout)
        try:
            async with self._session.post(config.url, data=body, headers=headers,
                                          allow_redirects=False) as response:
                # Only the status counts; a bounded read lets a short answer's connection
                # be reused, and a longer one is closed rather than drained.
                await response.content.read(BODY_LIMIT)
                return response.status, None
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, PushRefused):
                raise exc.os_error from None
            return None, f"{type(exc).__name__}: {exc}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, f"{type(exc).__name__}: {exc}"

    def _literal(self, host: str) -> bool:
        """Whether an allow pattern names ``host`` literally (the URL itself was checked
        against the patterns just before the connection)."""
        return any(names_host(p, host) for p in self.allow())

    def _record(self, config: PushConfigRecord, outcome: str, detail: dict[str, Any],
                started: float) -> None:
        try:
            self.audit.record("a2a", "push_notification", principal="daemon", outcome=outcome,
                              resource=shown(config.url), detail=detail,
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


def _auth(authentication: Any) -> Mapping[str, Any] | None:
    """A config's authentication as a mapping (the wire type is a Struct)."""
    if authentication is None or isinstance(authentication, Mapping):
        return authentication
    out: Mapping[str, Any] = msgspec.to_builtins(authentication)
    return out


def _origin(url: str) -> str:
    """scheme://host:port of ``url``: what a webhook's cooldown is kept by."""
    from yarl import URL

    parsed = URL(url)
    return f"{parsed.scheme}://{parsed.raw_host}:{parsed.port}"
