"""The HTTP listener: one aiohttp server, its routes, auth, and an ordered shutdown.

Routes (listed in the package docstring): JSON-RPC at ``POST /`` and ``/a2a``, the
HTTP+JSON binding (``_rest``), the public agent card at ``/.well-known/agent-card.json``
and ``/.well-known/agent.json``, ``/health`` and ``/ready``, and, given a ``rest_api``,
the daemon's ``/v1`` routes.

Every route but ``/health``, ``/ready`` and the card needs ``Authorization: Bearer
<token>`` (compared in constant time); a request with it acts as ``a2a:bearer``. Every
request but the two probes is seen by the API's observers (the audit trail): one that
reached the API by the API itself, one refused before it (401, 413, a bad Content-Type,
malformed JSON, no such route) by the middleware, as ``http:<path>``.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from ...api import API, CallRecord
from ...errors import CodetetherError, MessageTooLarge, NotFound
from ._common import context_of, encode, error_object, json_response, state_of, status_body
from ._compat import V03Table, load_v03
from ._jsonrpc import JsonRpcHandler
from ._rest import A2A_ROUTES, SEED_ROUTES, RestHandler

__all__ = ["HttpListener", "ListenerState"]

log = logging.getLogger("codetether.http")

_PROBES: Final = frozenset({"/health", "/ready"})
_CARDS: Final = frozenset({"/.well-known/agent-card.json", "/.well-known/agent.json"})
_JSONRPC_PATHS: Final = ("/", "/a2a", "/a2a/")
_REALM: Final = 'Bearer realm="codetether"'
SSE_KEEPALIVE: Final = 15.0  # seconds between ": ping" comments on an idle SSE stream
_SHUTDOWN_GRACE: Final = 0.5  # seconds aiohttp gives handlers still running after drain's wait

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ListenerState(enum.Enum):
    """Where the listener is in its life: NEW -> SERVING -> DRAINING -> CLOSED."""

    NEW = "new"
    SERVING = "serving"
    DRAINING = "draining"
    CLOSED = "closed"


#: Pending connections the kernel queues for us (capped by net.core.somaxconn).
BACKLOG = 1024


class HttpListener:
    """Serves ``api`` (the A2A table) over HTTP on ``host:port`` (0 = a free port).

    ``_inflight`` counts requests being handled (SSE streams included) and ``_idle`` is
    set whenever it is zero: :meth:`drain` waits on that event, nothing else does.
    ``state`` moves only forward; a closed listener cannot be started again.
    """

    def __init__(self, api: API, *, host: str, port: int, token: str, max_body_bytes: int,
                 rest_api: API | None = None, v03: V03Table | None = None,
                 sse_keepalive: float = SSE_KEEPALIVE) -> None:
        if not token:
            raise ValueError("the HTTP listener needs a bearer token")
        self.api = api
        self.rest_api = rest_api
        self.host, self.port = host, port
        self.max_body_bytes = max_body_bytes
        self.sse_keepalive = sse_keepalive
        self._token = token.encode()
        self._v03 = load_v03() if v03 is None else v03
        self.state = ListenerState.NEW
        self.url: str | None = None
        self._runner: web.AppRunner | None = None
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def start(self) -> str:
        """Bind and serve; return the base URL (``http://host:port``)."""
        if self.state is not ListenerState.NEW:
            raise RuntimeError(f"cannot start an HTTP listener that is {self.state.value}")
        app = web.Application(client_max_size=self.max_body_bytes, middlewares=[self._middleware])
        self._routes(app)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=_SHUTDOWN_GRACE)
        await runner.setup()
        try:
            # A burst of clients connecting at once must not overflow the listen queue
            # (aiohttp's default is 128; gRPC's is 4,096): a dropped SYN costs 1-31 s.
            site = web.TCPSite(runner, self.host, self.port, backlog=BACKLOG)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        host, port = runner.addresses[0][:2]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}"
        self.state = ListenerState.SERVING
        log.info("A2A HTTP listening on %s", self.url)
        return self.url

    async def stop_accepting(self) -> None:
        """Close the listening socket; ``/ready`` answers 503 from now on."""
        if self.state is ListenerState.SERVING:
            self.state = ListenerState.DRAINING
        if self._runner is not None:
            for site in list(self._runner.sites):
                await site.stop()

    async def drain(self, timeout: float) -> None:
        """Let requests in flight finish for up to ``timeout`` seconds, then close the rest."""
        if self.state is ListenerState.SERVING:
            await self.stop_accepting()
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            log.info("HTTP: %d request(s) still running after %.1f s: closing them", self._inflight, timeout)
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        self.state = ListenerState.CLOSED

    @property
    def inflight(self) -> int:
        """Requests being handled now."""
        return self._inflight

    def _routes(self, app: web.Application) -> None:
        rpc = JsonRpcHandler(self.api, self._v03, max_body_bytes=self.max_body_bytes,
                             keepalive=self.sse_keepalive)
        for path in _JSONRPC_PATHS:
            app.router.add_post(path, rpc.handle)
        for card in sorted(_CARDS):
            app.router.add_get(card, self._card)
        app.router.add_get("/health", self._health)
        app.router.add_get("/ready", self._ready)
        routes = [(self.api, r) for r in A2A_ROUTES]
        if self.rest_api is not None:
            routes += [(self.rest_api, r) for r in SEED_ROUTES]
        for api, route in routes:
            app.router.add_route(route.verb, route.path,
                                 RestHandler(api, route, max_body_bytes=self.max_body_bytes,
                                             keepalive=self.sse_keepalive).handle)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        state = state_of(request)
        self._inflight += 1
        self._idle.clear()
        response: web.StreamResponse | None = None
        try:
            given = _bearer(request)
            if given is not None and hmac.compare_digest(given, self._token):
                state.principal = "a2a:bearer"
            elif request.path not in _PROBES and request.path not in _CARDS:
                response = self._unauthorized(request)
                return response
            try:
                response = await handler(request)
            except web.HTTPException as exc:  # no such route / verb: a JSON body, not HTML
                response = self._http_error(request, exc)
            return response
        finally:
            self._inflight -= 1
            if not self._inflight:
                self._idle.set()
            if not state.observed and request.path not in _PROBES:
                self._record(request, response, started)

    def _unauthorized(self, request: web.Request) -> web.Response:
        err = CodetetherError("missing or wrong bearer token (send Authorization: Bearer <token>)")
        body = {"error": {"code": 401, "status": "UNAUTHENTICATED", "message": err.message,
                          "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                       "reason": "UNAUTHENTICATED", "domain": "codetether"}]}}
        state_of(request).refusal = err
        return json_response(encode(body), status=401, headers={"WWW-Authenticate": _REALM})

    def _http_error(self, request: web.Request, exc: web.HTTPException) -> web.Response:
        if exc.status == 413:
            err: CodetetherError = MessageTooLarge(f"request body exceeds {self.max_body_bytes} bytes",
                                                   data={"limit": self.max_body_bytes})
        else:
            err = NotFound(f"{request.method} {request.path[:200]}: {exc.reason}")
        state_of(request).refusal = err
        if request.path in _JSONRPC_PATHS and exc.status == 413:
            frame = {"jsonrpc": "2.0", "id": None, "error": error_object(err)}
            return json_response(encode(frame), status=413)
        return json_response(encode(status_body(err, status=exc.status)), status=exc.status,
                             headers={k: v for k, v in exc.headers.items() if k == "Allow"})

    def _record(self, request: web.Request, response: web.StreamResponse | None, started: float) -> None:
        """The audit record of a request the API never saw (the API records the others)."""
        state = state_of(request)
        status = response.status if response is not None else 500
        err = state.refusal
        if status in (401, 403, 413):
            outcome = "denied"
        elif status >= 400 or err is not None:
            outcome = "failure"
        else:
            outcome = "success"
        record = CallRecord(f"http:{request.path[:200]}", {"remote": request.remote, "status": status},
                            outcome, (time.perf_counter() - started) * 1000,
                            # a 401 has no class in the error table (no JSON-RPC code to give)
                            err.codes.jsonrpc if err is not None and status != 401 else None,
                            err.message if err is not None else None)
        for observer in self.api.observers:
            try:
                observer(record)
            except Exception:  # noqa: BLE001 - an observer must not break the request
                log.exception("call observer failed")

    async def _card(self, request: web.Request) -> web.Response:
        try:
            card = await self.api.call("GetAgentCard", {}, context_of(request, "GetAgentCard"))
        except CodetetherError as exc:
            return json_response(encode(status_body(exc)), status=exc.codes.http)
        body = encode(card)
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers = {"ETag": etag, "Cache-Control": "public, max-age=300"}
        if _matches(request.headers.get("If-None-Match", ""), etag):
            return web.Response(status=304, headers=headers)
        return json_response(body, headers=headers)

    async def _health(self, request: web.Request) -> web.Response:
        return json_response(b'{"status":"ok"}')

    async def _ready(self, request: web.Request) -> web.Response:
        if self.state is ListenerState.SERVING:
            return json_response(b'{"status":"ready"}')
        return json_response(encode({"status": self.state.value}), status=503)


def _bearer(request: web.Request) -> bytes | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip().encode()


def _matches(if_none_match: str, etag: str) -> bool:
    """``If-None-Match`` names ``etag`` (or ``*``); weak tags compare by their opaque part."""
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False

