"""What every HTTP route shares: the call context, JSON bodies, error bodies, SSE, the body limit.

Errors leave this transport in the two shapes A2A 1.0 gives them, both built from the
one table in :mod:`codetether.daemon.errors` (never a table of our own):

- JSON-RPC (spec 9.5): ``{"code", "message", "data": [ErrorInfo, BadRequest?]}``;
- HTTP+JSON (spec 11.6): ``{"error": {"code": <http>, "status": <grpc name>, "message",
  "details": [ErrorInfo, BadRequest?]}}`` with the table's HTTP status.

The ``ErrorInfo`` carries the class's ``reason`` (what the official client maps back to
its error class); a codetether ``data`` dict rides in its ``metadata`` (strings only, as
``google.rpc.ErrorInfo`` wants). An :class:`~codetether.daemon.errors.InvalidParams`
whose message names a field (msgspec's ``at `$.message.parts```) also gets a
``google.rpc.BadRequest`` field violation naming it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
from aiohttp import web

from ...api import API, CallContext
from ...core.secrets import redact_json
from ...errors import CodetetherError, MessageTooLarge
from ...wire.a2a import camel_keys

__all__ = [
    "END",
    "ERROR_INFO",
    "JSON",
    "PING",
    "ItemPump",
    "RequestState",
    "SSE_HEADERS",
    "SseShape",
    "context_of",
    "encode",
    "error_object",
    "json_response",
    "proto_names",
    "read_body",
    "serve_sse",
    "state_of",
    "status_body",
]

ERROR_INFO: Final = "type.googleapis.com/google.rpc.ErrorInfo"
_BAD_REQUEST: Final = "type.googleapis.com/google.rpc.BadRequest"
_A2A_DOMAIN: Final = "a2a-protocol.org"
_OWN_DOMAIN: Final = "codetether"
JSON: Final = "application/json"

_encoder = msgspec.json.Encoder()
_FIELD = re.compile(r"at `\$\.?([^`]*)`")


@dataclass(slots=True)
class RequestState:
    """What the middleware learns about one request while it is handled.

    ``principal`` is who the request acts as (``a2a:bearer`` with the right token,
    ``a2a:anonymous`` on a public route without one); ``observed`` is set once the
    request reached an API (whose observers then saw it); ``refusal`` is the error a
    route answered without reaching the API (a bad Content-Type, malformed JSON), for
    the middleware's own audit record.
    """

    principal: str = "a2a:anonymous"
    observed: bool = False
    refusal: CodetetherError | None = None
    extra: dict[str, Any] = field(default_factory=dict)


_STATE: Final = web.RequestKey("codetether", RequestState)


def state_of(request: web.Request) -> RequestState:
    """The request's :class:`RequestState` (made on first use: by the middleware)."""
    state = request.get(_STATE)
    if state is None:
        state = RequestState()
        request[_STATE] = state
    return state


def context_of(request: web.Request, method: str, request_id: Any = None) -> CallContext:
    """The API's view of one HTTP call; marks the request as seen by the API's observers."""
    state = state_of(request)
    state.observed = True
    return CallContext(transport="http", method=method, request_id=request_id,
                       peer={"remote": request.remote}, principal=state.principal, channel=request)


def proto_names(api: API, method: str, params: Any) -> Any:
    """``params`` with proto field names (``history_length``) renamed to the JSON names of
    the method's params Struct (``historyLength``): a ProtoJSON parser accepts both, and
    so do we (an unknown method's params are left for the API to refuse)."""
    try:
        spec = api.method(method).params
    except CodetetherError:
        return params
    if not isinstance(params, dict) or not (isinstance(spec, type) and issubclass(spec, msgspec.Struct)):
        return params
    return camel_keys(params, spec)


def encode(value: Any) -> bytes:
    """JSON bytes of ``value`` (Structs included), secrets redacted (S4: the client boundary)."""
    return redact_json(_encoder.encode(value))


def json_response(body: bytes, *, status: int = 200, content_type: str = JSON,
                  headers: dict[str, str] | None = None) -> web.Response:
    """A JSON body already encoded (and redacted) by :func:`encode`."""
    return web.Response(body=body, status=status, content_type=content_type, headers=headers)


def _metadata(data: Any) -> dict[str, str]:
    if data is None:
        return {}
    if isinstance(data, dict):
        return {str(k): v if isinstance(v, str) else _encoder.encode(v).decode() for k, v in data.items()}
    return {"data": _encoder.encode(data).decode()}


def _details(err: CodetetherError) -> list[dict[str, Any]]:
    codes = err.codes
    a2a = -32099 <= codes.jsonrpc <= -32001 or codes.jsonrpc <= -32600
    info: dict[str, Any] = {"@type": ERROR_INFO, "reason": codes.reason,
                            "domain": _A2A_DOMAIN if a2a else _OWN_DOMAIN}
    try:
        metadata = _metadata(err.data)
    except (TypeError, msgspec.EncodeError):
        metadata = {}
    if metadata:
        info["metadata"] = metadata
    details = [info]
    if codes.reason == "INVALID_PARAMS" and (found := _FIELD.search(err.message)) is not None:
        details.append({"@type": _BAD_REQUEST,
                        "fieldViolations": [{"field": found.group(1), "description": err.message}]})
    return details


def error_object(err: CodetetherError) -> dict[str, Any]:
    """The JSON-RPC ``error`` member for ``err`` (A2A 1.0, spec 9.5)."""
    return {"code": err.codes.jsonrpc, "message": err.message, "data": _details(err)}


def status_body(err: CodetetherError, *, status: int | None = None) -> dict[str, Any]:
    """The HTTP+JSON error body for ``err`` (``google.rpc.Status``, spec 11.6)."""
    codes = err.codes
    return {"error": {"code": status or codes.http, "status": codes.grpc, "message": err.message,
                      "details": _details(err)}}


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, or :class:`MessageTooLarge` past ``limit`` bytes: refused from its
    Content-Length before reading a byte, else when aiohttp's ``client_max_size`` trips."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise MessageTooLarge(f"request body of {declared} bytes exceeds {limit}", data={"limit": limit})
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise MessageTooLarge(f"request body exceeds {limit} bytes", data={"limit": limit}) from exc



END: Final = object()  # the stream ended
PING: Final = object()  # nothing for a while: write an SSE comment (a gone client shows up then)


class ItemPump:
    """Reads an API stream for an SSE response: the next item, :data:`END`, or :data:`PING`
    after ``every`` seconds without one. A read that times out is kept, never cancelled
    (cancelling it would end the stream), and the next call waits on it again; so an idle
    stream (a task subscription with nothing new) still writes something every ``every``
    seconds, and a client that left is noticed on that write, not only at the next item.
    ``_pending`` is the one read in flight, owned here and cancelled by :meth:`aclose`."""

    def __init__(self, items: AsyncIterator[Any], *, every: float, name: str) -> None:
        self._items = items
        self._every = every
        self._name = name
        self._pending: asyncio.Future[Any] | None = None

    async def next(self) -> Any:
        """The next item, :data:`END` or :data:`PING` (an item's error is raised here)."""
        if self._pending is None:
            self._pending = asyncio.ensure_future(anext(self._items, END))
            if isinstance(self._pending, asyncio.Task):
                self._pending.set_name(self._name)
        done, _ = await asyncio.wait({self._pending}, timeout=self._every)
        if not done:
            return PING
        pending, self._pending = self._pending, None
        return pending.result()

    async def aclose(self) -> None:
        """Stop the read in flight and close the stream (its handler's ``finally`` runs now)."""
        if self._pending is not None:
            self._pending.cancel()
            await asyncio.gather(self._pending, return_exceptions=True)
            self._pending = None
        closer = getattr(self._items, "aclose", None)
        if closer is not None:
            await closer()


SSE_HEADERS: Final = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                      "X-Accel-Buffering": "no"}


@dataclass(frozen=True, slots=True)
class SseShape:
    """How one binding writes a stream: each item's event bytes, the plain answer for an
    error before the first item, the last event for an error after it, and the error a
    crash (a bug, not a :class:`CodetetherError`) becomes."""

    event: Callable[[Any], bytes]
    answer: Callable[[CodetetherError], web.Response]
    last_event: Callable[[CodetetherError], bytes]
    internal: Callable[[BaseException], CodetetherError]


async def serve_sse(request: web.Request, items: AsyncIterator[Any], shape: SseShape, *,
                    every: float, name: str) -> web.StreamResponse:
    """Answer ``request`` with the API stream ``items`` as Server-Sent Events (see
    :class:`ItemPump` for the keep-alive comments). An error before the first item is a
    plain answer, so a client handles it as it would a unary one."""
    pump = ItemPump(items, every=every, name=name)
    try:
        try:
            item = await pump.next()
        except CodetetherError as exc:
            return shape.answer(exc)
        except Exception as exc:  # noqa: BLE001 - the server keeps serving
            return shape.answer(shape.internal(exc))
        response = web.StreamResponse(headers=SSE_HEADERS)
        await response.prepare(request)
        try:
            while item is not END:
                await response.write(b": ping\n\n" if item is PING else shape.event(item))
                item = await pump.next()
        except ConnectionError:
            return response  # the client left; the finally below ends the stream
        except CodetetherError as exc:
            await _write_last(response, shape.last_event(exc))
        except Exception as exc:  # noqa: BLE001
            await _write_last(response, shape.last_event(shape.internal(exc)))
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
        return response
    finally:
        await pump.aclose()


async def _write_last(response: web.StreamResponse, event: bytes) -> None:
    with contextlib.suppress(ConnectionError):
        await response.write(event)
