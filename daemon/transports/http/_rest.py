"""A2A 1.0's HTTP+JSON binding (spec 11) and the daemon's own REST routes (``/v1/...``).

Each route names one API method. Its request is the method's params JSON built from the
path (``/tasks/{id}``), the query (``?historyLength=5``: strings typed by the params
Struct, msgspec's lax conversion) and, for a POST, the JSON body; the answer is the
result's JSON, or for a streaming method SSE of each item's JSON (an error mid-stream is
one ``event: error`` carrying the error body, as the official client reads it). Errors
are ``google.rpc.Status`` bodies at the error table's HTTP status (see ``_common``).

The routes come from the ``google.api.http`` options of ``lf.a2a.v1.A2AService``, each
also under a ``/{tenant}`` prefix; ``:subscribe`` is served on GET (the proto) and POST
(the spec's table and the official client).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Final

import msgspec
from aiohttp import web

from ...api import API
from ...errors import CodetetherError, ContentTypeNotSupported, InvalidParams, InvalidRequest
from ._common import (
    SseShape,
    context_of,
    encode,
    json_response,
    proto_names,
    read_body,
    serve_sse,
    state_of,
    status_body,
)
from ._jsonrpc import check_version

__all__ = ["A2A_ROUTES", "RestHandler", "RestRoute", "SEED_ROUTES"]

log = logging.getLogger("codetether.http")

_JSON_TYPES: Final = frozenset({"application/json", "application/a2a+json"})
_decoder = msgspec.json.Decoder()


@dataclass(frozen=True, slots=True)
class RestRoute:
    """One route: HTTP verb, aiohttp path pattern, the API method it calls."""

    verb: str
    path: str
    method: str
    stream: bool = False
    a2a: bool = True  # checks A2A-Version; the daemon's /v1 routes do not


def _ids(path: str) -> str:
    """Path variables stop at ``/`` and ``:`` (``/tasks/{id}:cancel``)."""
    for name in ("id", "taskId", "tenant"):
        path = path.replace("{" + name + "}", "{" + name + ":[^/:]+}")
    return path


_A2A: Final = [
    ("POST", "/message:send", "SendMessage", False),
    ("POST", "/message:stream", "SendStreamingMessage", True),
    ("GET", "/tasks/{id}", "GetTask", False),
    ("GET", "/tasks", "ListTasks", False),
    ("POST", "/tasks/{id}:cancel", "CancelTask", False),
    ("GET", "/tasks/{id}:subscribe", "SubscribeToTask", True),
    ("POST", "/tasks/{id}:subscribe", "SubscribeToTask", True),
    ("POST", "/tasks/{taskId}/pushNotificationConfigs", "CreateTaskPushNotificationConfig", False),
    ("GET", "/tasks/{taskId}/pushNotificationConfigs/{id}", "GetTaskPushNotificationConfig", False),
    ("GET", "/tasks/{taskId}/pushNotificationConfigs", "ListTaskPushNotificationConfigs", False),
    ("DELETE", "/tasks/{taskId}/pushNotificationConfigs/{id}", "DeleteTaskPushNotificationConfig", False),
    ("GET", "/extendedAgentCard", "GetExtendedAgentCard", False),
]

#: The A2A 1.0 HTTP+JSON routes, each also under ``/{tenant}``.
A2A_ROUTES: Final = [RestRoute(verb, _ids(prefix + path), method, stream)
                     for prefix in ("", "/{tenant}") for verb, path, method, stream in _A2A]

#: The seed's REST routes over the daemon's socket API table.
SEED_ROUTES: Final = [
    RestRoute("GET", "/v1/audit/events", "audit/recent", a2a=False),
    RestRoute("POST", "/v1/audit/query", "audit/query", a2a=False),
    RestRoute("GET", "/v1/sessions", "session/list", a2a=False),
    RestRoute("GET", "/v1/bus/stream", "bus/tail", stream=True, a2a=False),
]


class RestHandler:
    """The aiohttp handler of one :class:`RestRoute` over ``api``."""

    def __init__(self, api: API, route: RestRoute, *, max_body_bytes: int, keepalive: float) -> None:
        self.api = api
        self.route = route
        self.max_body_bytes = max_body_bytes
        self.keepalive = keepalive

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            if self.route.a2a:
                check_version(request)
            params = await self._params(request)
        except CodetetherError as exc:
            state_of(request).refusal = exc
            return _error(exc)
        ctx = context_of(request, self.route.method)
        if self.route.stream:
            shape = SseShape(event=lambda item: b"data: " + encode(item) + b"\n\n", answer=_error,
                             last_event=lambda err: b"event: error\ndata: " + encode(status_body(err)) + b"\n\n",
                             internal=lambda exc: _internal(self.route.method, exc))
            return await serve_sse(request, self.api.stream(self.route.method, params, ctx), shape,
                                   every=self.keepalive, name=f"http:sse:{self.route.method}")
        try:
            result = await self.api.call(self.route.method, params, ctx)
        except CodetetherError as exc:
            return _error(exc)
        except Exception as exc:  # noqa: BLE001 - the server keeps serving
            return _error(_internal(self.route.method, exc))
        return json_response(encode({} if result is None else result))

    async def _params(self, request: web.Request) -> dict[str, Any]:
        """The method's params JSON from path, query and body (path wins)."""
        params: dict[str, Any] = {}
        if request.method == "POST":
            body = await read_body(request, self.max_body_bytes)
            if body.strip():
                if request.content_type not in _JSON_TYPES:
                    shown = request.content_type[:80]
                    raise ContentTypeNotSupported(f"a JSON body is needed, got Content-Type {shown!r}",
                                                  data={"contentType": shown})
                try:
                    decoded = _decoder.decode(body)
                except Exception as exc:  # noqa: BLE001 - any failure to decode is a bad request
                    raise InvalidRequest(f"invalid JSON body: {exc}") from exc
                if not isinstance(decoded, dict):
                    raise InvalidRequest("the JSON body must be an object")
                params.update(decoded)
        query = request.query
        for key in query:
            values = query.getall(key)
            params.setdefault(key, values if len(values) > 1 else values[0])
        params.update(request.match_info)
        if self.route.a2a:
            params = proto_names(self.api, self.route.method, params)
        if query:
            params = self._typed(params)
        return params

    def _typed(self, params: dict[str, Any]) -> dict[str, Any]:
        """Query strings typed by the method's params Struct (``"5"`` -> 5, ``"true"`` -> True)."""
        try:
            spec = self.api.method(self.route.method).params
        except CodetetherError:
            return params  # the call answers -32601 / 404 itself
        try:
            typed = msgspec.to_builtins(msgspec.convert(params, spec, strict=False))
        except msgspec.ValidationError as exc:
            raise InvalidParams(f"{self.route.method}: {exc}") from exc
        return typed if isinstance(typed, dict) else params

def _error(err: CodetetherError) -> web.Response:
    return json_response(encode(status_body(err)), status=err.codes.http)


def _internal(method: str, exc: BaseException) -> CodetetherError:
    log.error("%s crashed", method, exc_info=exc)
    return CodetetherError(f"internal error in {method}: {exc!r}")
