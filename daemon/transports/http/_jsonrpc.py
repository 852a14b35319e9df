"""A2A's JSON-RPC 2.0 binding over HTTP POST: one request (or a batch) per HTTP request.

A unary method's response frame is the HTTP body; a streaming method (the API's
``Method.streaming``) answers ``text/event-stream``, each event's ``data:`` one
JSON-RPC response ``{"jsonrpc": "2.0", "id": <id>, "result": <item>}`` per item of
:meth:`API.stream`, and an error mid-stream one last error response. An error known
before the first item (unknown method, bad params, unknown task) is a plain JSON
answer, so a client sees it as it would a unary one.

What comes before the API, in order: the body limit (413 with an error frame), the
Content-Type (``application/json``, else A2A's ContentTypeNotSupported -32005, which
the TCK expects for a non-JSON body), the JSON (-32700), the ``A2A-Version`` header
(missing or ``0.3``: 0.3 semantics; ``1.0``/``1``: 1.0; else VersionNotSupported
-32009) and the request's shape (-32600). A 0.3 method name (``message/send``, ...) is
served, in either version, by its 1.0 method with its params converted up and its
results converted down (:mod:`._compat`); a 1.0 name is answered in 1.0 shapes.

Why not :class:`codetether.daemon.rpc.Connection`: an HTTP request has no connection
to multiplex (no ``$/cancelRequest``, no notifications to the caller), A2A wants its
errors' ``data`` as ``ErrorInfo`` details (spec 9.5) rather than the socket's dict, and
a stream's items go out as results of the request, not as notifications.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

import msgspec
from aiohttp import web

from ...api import API
from ...errors import (
    CodetetherError,
    ContentTypeNotSupported,
    InvalidRequest,
    MethodNotFound,
    ParseError,
    VersionNotSupported,
)
from ._common import (
    JSON,
    SseShape,
    context_of,
    encode,
    error_object,
    json_response,
    proto_names,
    read_body,
    serve_sse,
    state_of,
)
from ._compat import Target, V03Table, resolve

__all__ = ["JsonRpcHandler", "MAX_BATCH", "check_version"]

log = logging.getLogger("codetether.http")

MAX_BATCH: Final = 1000  # members per batch (as the socket's engine): each one is a task
_decoder = msgspec.json.Decoder()
_VERSIONS: Final = {"": "0.3", "0.3": "0.3", "1.0": "1.0", "1": "1.0"}


def check_version(request: web.Request) -> str:
    """The protocol version the request asks for (``0.3`` when it says none), or
    :class:`VersionNotSupported`."""
    asked = request.headers.get("A2A-Version", "").strip()
    version = _VERSIONS.get(asked)
    if version is None:
        shown = asked if len(asked) <= 40 else asked[:40] + "…"
        raise VersionNotSupported(f"A2A-Version {shown!r} is not supported (supported: 0.3, 1.0)",
                                  data={"supported": "0.3,1.0"})
    return version


def _frame(req_id: Any, *, result: Any = None, error: CodetetherError | None = None) -> bytes:
    if error is not None:
        return encode({"jsonrpc": "2.0", "id": req_id, "error": error_object(error)})
    return encode({"jsonrpc": "2.0", "id": req_id, "result": result})


def _valid_id(req_id: Any) -> bool:
    return req_id is None or (isinstance(req_id, (str, int, float)) and not isinstance(req_id, bool))


def _internal(method: str, exc: BaseException) -> CodetetherError:
    log.error("%s crashed", method, exc_info=exc)
    return CodetetherError(f"internal error in {method}: {exc!r}")


class JsonRpcHandler:
    """The aiohttp handler of ``POST /`` and ``POST /a2a``: decodes, checks, dispatches
    onto ``api`` (with the 0.3 names of ``v03``), encodes. Holds no state between requests."""

    def __init__(self, api: API, v03: V03Table, *, max_body_bytes: int, keepalive: float) -> None:
        self.api = api
        self.v03 = v03
        self.max_body_bytes = max_body_bytes
        self.keepalive = keepalive

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await read_body(request, self.max_body_bytes)
        except CodetetherError as exc:
            return self._refuse(request, None, exc, status=exc.codes.http)
        if request.content_type != JSON:
            shown = request.content_type[:80]
            return self._refuse(request, _peek_id(body), ContentTypeNotSupported(
                f"JSON-RPC needs Content-Type {JSON}, got {shown!r}", data={"contentType": shown}))
        try:
            message = _decoder.decode(body)
        except Exception as exc:  # noqa: BLE001 - R1: any failure to decode is -32700
            why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            return self._refuse(request, None, ParseError(f"invalid JSON: {why}"))
        try:
            check_version(request)
        except VersionNotSupported as exc:
            return self._refuse(request, message.get("id") if isinstance(message, dict) else None, exc)
        if isinstance(message, list):
            return await self._batch(request, message)
        shape = self._shape(message)
        if shape is not None:
            return self._refuse(request, *shape)
        target = resolve(self.v03, message["method"])
        req_id = message.get("id")
        try:
            params = self._params(target, message.get("params"))
        except CodetetherError as exc:
            return self._refuse(request, req_id, exc)
        if self._streams(target.name):
            return await self._stream(request, target, params, req_id)
        frame = await self._unary(request, target, params, req_id)
        if "id" not in message:
            return web.Response(status=204)
        return json_response(frame)

    def _refuse(self, request: web.Request, req_id: Any, err: CodetetherError,
                *, status: int = 200) -> web.Response:
        """An error answered before the API: the middleware records it for the audit trail."""
        state_of(request).refusal = err
        return json_response(_frame(req_id if _valid_id(req_id) else None, error=err), status=status)

    def _params(self, target: Target, raw: Any) -> Any:
        """The API's params: a 0.3 request's converted up, a 1.0 request's with proto
        field names accepted beside the camelCase ones."""
        if target.asked:
            return target.convert_params(raw)
        return proto_names(self.api, target.name, raw)

    def _streams(self, name: str) -> bool:
        """Whether ``name`` is a streaming method (an unknown one is left to the API's
        call, which answers -32601 and lets its observers see it)."""
        try:
            return self.api.method(name).streaming
        except MethodNotFound:
            return False

    @staticmethod
    def _shape(message: Any) -> tuple[Any, CodetetherError] | None:
        """Why ``message`` is not a JSON-RPC 2.0 request (its id, the error), if it is not."""
        if isinstance(message, dict) and message.get("jsonrpc") == "2.0" \
                and isinstance(message.get("method"), str):
            if not _valid_id(message.get("id")):
                return None, InvalidRequest("request id must be a string, a number or null")
            return None
        req_id = message.get("id") if isinstance(message, dict) else None
        return req_id, InvalidRequest("not a JSON-RPC 2.0 request (need jsonrpc='2.0' and a string method)")

    async def _unary(self, request: web.Request, target: Target, params: Any, req_id: Any) -> bytes:
        ctx = context_of(request, target.name, req_id)
        try:
            result = await self.api.call(target.name, params, ctx)
            return _frame(req_id, result=target.convert_result(result))
        except CodetetherError as exc:
            return _frame(req_id, error=exc)
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the server keeps serving
            return _frame(req_id, error=_internal(target.name, exc))

    async def _stream(self, request: web.Request, target: Target, params: Any,
                      req_id: Any) -> web.StreamResponse:
        shape = SseShape(
            event=lambda item: b"data: " + _frame(req_id, result=target.convert_result(item)) + b"\n\n",
            answer=lambda err: json_response(_frame(req_id, error=err)),
            last_event=lambda err: b"data: " + _frame(req_id, error=err) + b"\n\n",
            internal=lambda exc: _internal(target.name, exc))
        ctx = context_of(request, target.name, req_id)
        return await serve_sse(request, self.api.stream(target.name, params, ctx), shape,
                               every=self.keepalive, name=f"http:sse:{target.name}")

    async def _batch(self, request: web.Request, messages: list[Any]) -> web.Response:
        if not messages:
            return self._refuse(request, None, InvalidRequest("empty batch"))
        if len(messages) > MAX_BATCH:
            return self._refuse(request, None, InvalidRequest(
                f"batch of {len(messages)} requests exceeds {MAX_BATCH}", data={"limit": MAX_BATCH}))
        frames = await asyncio.gather(*(self._member(request, m) for m in messages))
        answered = [f for f in frames if f is not None]
        if not answered:
            return web.Response(status=204)
        return json_response(b"[" + b",".join(answered) + b"]")

    async def _member(self, request: web.Request, message: Any) -> bytes | None:
        shape = self._shape(message)
        if shape is not None:
            state_of(request).refusal = shape[1]
            return _frame(shape[0] if _valid_id(shape[0]) else None, error=shape[1])
        target = resolve(self.v03, message["method"])
        req_id = message.get("id")
        try:
            params = self._params(target, message.get("params"))
            if self._streams(target.name):
                raise InvalidRequest(f"{message['method']} streams: send it alone, not in a batch")
        except CodetetherError as exc:
            state_of(request).refusal = exc
            return _frame(req_id, error=exc)
        frame = await self._unary(request, target, params, req_id)
        return frame if "id" in message else None


def _peek_id(body: bytes) -> Any:
    """The request's id if the body happens to be a JSON-RPC object, for an early error."""
    try:
        message = _decoder.decode(body)
    except Exception:  # noqa: BLE001 - not JSON: no id to give back
        return None
    return message.get("id") if isinstance(message, dict) else None
