"""One gRPC service over the API table: decode, check, build the context, call, encode, map errors.

Nothing here knows what an rpc does. The handlers are made from the service's
descriptor: every rpc of ``lf.a2a.v1.A2AService`` is the API method of the same name
(A2A 1.0's JSON-RPC names are its rpc names); every rpc of ``a2a.v1.A2AService`` (0.3)
goes through a :class:`~._v03.V03Adapter` first. The bytes are parsed here rather than by
grpcio, so a malformed request is answered INVALID_ARGUMENT (ParseError) like any other
bad input, with the error's details, instead of grpcio's bare INTERNAL.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, NoReturn, cast

import grpc
import msgspec
from google.protobuf import descriptor, json_format, message, message_factory

from ...api import API, CallContext, CallRecord
from ...errors import CodetetherError, InvalidAgentResponse, InvalidParams, ParseError, VersionNotSupported
from ._fastjson import Unsupported, encode, to_json
from ._loop import run_on
from ._status import status_of
from ._v03 import V03Adapter

__all__ = ["PRINCIPAL", "Service", "Slots"]

log = logging.getLogger("codetether.grpc")

#: Who a call with the right bearer token acts as (approvals, audit trail).
PRINCIPAL = "a2a:bearer"

Json = dict[str, Any]


def _version_ok(wanted: str, got: str | None) -> bool:
    """Missing means the service's own version (its package says it); a patch level is ignored."""
    if not got:
        return True
    major, _, rest = got.strip().partition(".")
    minor = rest.partition(".")[0] or "0"
    want_major, _, want_minor = wanted.partition(".")
    return major == want_major and minor == want_minor


class Slots:
    """At most ``size`` A2A calls at once, counted by the handlers themselves.

    grpcio's own ``maximum_concurrent_rpcs`` frees a call's slot only after its status
    went out, so a client that gets its answer and calls again at once could be refused
    although it holds nothing. A slot taken here is given back before the answer is
    sent. Only grpc's loop thread touches it, so a plain count is enough.
    """

    __slots__ = ("size", "used")

    def __init__(self, size: int) -> None:
        self.size = size
        self.used = 0

    def take(self) -> bool:
        if self.used >= self.size:
            return False
        self.used += 1
        return True

    def give(self) -> None:
        self.used -= 1


@dataclass(frozen=True, slots=True)
class _Rpc:
    name: str
    request: type[message.Message]
    response: type[message.Message]
    streaming: bool


class Service:
    """The handlers of one A2A gRPC service (``version`` "1.0", or "0.3" with ``adapter``).

    Holds no state between calls but the count of calls running, in ``slots`` (shared by
    the listener's services): each call checks the bearer token against
    ``token`` (constant time), takes a slot, checks the ``a2a-version`` metadata, then
    runs on ``api``.
    """

    def __init__(self, api: API, service: descriptor.ServiceDescriptor, *, token: str, version: str,
                 slots: Slots, adapter: V03Adapter | None = None) -> None:
        self.api = api
        self._slots = slots
        self.full_name = service.full_name
        self.version = version
        self._token = token.encode()
        self._adapter = adapter
        self._rpcs = [_Rpc(m.name, message_factory.GetMessageClass(m.input_type),
                           message_factory.GetMessageClass(m.output_type), m.server_streaming)
                      for m in service.methods]

    def handler(self, owner: asyncio.AbstractEventLoop) -> grpc.GenericRpcHandler:
        """The generic handler to add to a grpcio server (bytes in, bytes out).

        The server may run on another loop than the API (see :mod:`._loop`): every API
        call, observer and close callback runs on ``owner``, the API's loop; decoding,
        checks and encoding run where grpc calls the handler.
        """
        handlers: dict[str, grpc.RpcMethodHandler] = {}
        for rpc in self._rpcs:
            if rpc.streaming:
                handlers[rpc.name] = grpc.unary_stream_rpc_method_handler(self._streamer(rpc, owner))
            else:
                handlers[rpc.name] = grpc.unary_unary_rpc_method_handler(self._caller(rpc, owner))
        return grpc.method_handlers_generic_handler(self.full_name, handlers)

    def _caller(self, rpc: _Rpc, owner: asyncio.AbstractEventLoop,
                ) -> Callable[[bytes, grpc.aio.ServicerContext], Any]:
        async def unary(raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
            started = time.perf_counter()
            version = await self._admit(rpc, context, started, owner)
            ctx: CallContext | None = None
            try:
                name, params, ctx = self._decode(rpc, raw, context, owner, version)
                return self._encode(rpc, await run_on(owner, self._call(name, params, ctx)))
            except CodetetherError as exc:
                err = exc
            except Exception:
                log.exception("%s/%s failed", self.full_name, rpc.name)
                err = CodetetherError(f"internal error in {rpc.name}")
            finally:
                self._slots.give()
                # Answered, failed or cancelled (CancelledError passes here): _call closed
                # it on the API's loop, unless it was cancelled before it began there.
                if ctx is not None and not ctx.closed.is_set():
                    _close_on(owner, ctx)
            if ctx is None:
                self._record(rpc, context, started, err, owner)
            await _abort(context, err, legacy=self._adapter is not None)

        return unary

    def _streamer(self, rpc: _Rpc, owner: asyncio.AbstractEventLoop,
                  ) -> Callable[[bytes, grpc.aio.ServicerContext], AsyncIterator[bytes]]:
        async def stream(raw: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
            started = time.perf_counter()
            version = await self._admit(rpc, context, started, owner)
            ctx: CallContext | None = None
            try:
                name, params, ctx = self._decode(rpc, raw, context, owner, version)
                items = cast(AsyncGenerator[Any, None], self.api.stream(name, params, ctx))
                try:
                    while True:
                        try:
                            item = await run_on(owner, _next(items))
                        except StopAsyncIteration:
                            break
                        yield self._encode(rpc, item)  # waits while the peer is slow to read
                finally:
                    await run_on(owner, items.aclose())
                return
            except CodetetherError as exc:
                err = exc
            except Exception:
                log.exception("%s/%s failed", self.full_name, rpc.name)
                err = CodetetherError(f"internal error in {rpc.name}")
            finally:
                self._slots.give()
                _close_on(owner, ctx)
            if ctx is None:
                self._record(rpc, context, started, err, owner)
            await _abort(context, err, legacy=self._adapter is not None)

        return stream

    async def _call(self, name: str, params: Json, ctx: CallContext) -> Any:
        """The API call, then its close, both on the API's loop (one hop there and back;
        a unary call is over when the API answered)."""
        try:
            return await self.api.call(name, params, ctx)
        finally:
            _close(ctx)

    async def _admit(self, rpc: _Rpc, context: grpc.aio.ServicerContext, started: float,
                     owner: asyncio.AbstractEventLoop) -> str | None:
        """Take a slot for a call with the right bearer token, or refuse it; the
        ``a2a-version`` the call asked for (metadata is read once, here).

        A missing or wrong token is UNAUTHENTICATED, a call beyond the bound
        RESOURCE_EXHAUSTED. The caller gives the slot back when the call is over.
        """
        given = b""
        version: str | None = None
        for key, value in context.invocation_metadata() or ():
            if key == "authorization" and isinstance(value, str):
                scheme, _, credentials = value.partition(" ")
                if scheme.lower() == "bearer":
                    given = credentials.strip().encode()
            elif key == "a2a-version" and isinstance(value, str):
                version = value
        if not given or not hmac.compare_digest(given, self._token):
            # No error class for this in the one table yet: a plain status, no details.
            self._record(rpc, context, started, None, owner, denied=True)
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")
        if not self._slots.take():
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "Concurrent RPC limit exceeded!")
        return version

    def _record(self, rpc: _Rpc, context: grpc.aio.ServicerContext, started: float,
                err: CodetetherError | None, owner: asyncio.AbstractEventLoop, *, denied: bool = False) -> None:
        """The audit record of a call the API never saw (refused before it; the API
        records the calls it runs): a missing token, a bad version, undecodable bytes."""
        if not self.api.observers:
            return
        code = "UNAUTHENTICATED" if denied else err.codes.grpc if err is not None else "INTERNAL"
        record = CallRecord(f"grpc:/{self.full_name}/{rpc.name}", {"remote": context.peer(), "status": code},
                            "denied" if denied else "failure", (time.perf_counter() - started) * 1000,
                            err.codes.jsonrpc if err is not None else None,
                            err.message if err is not None else "missing or invalid bearer token")
        _soon(owner, self._observe, record)

    def _observe(self, record: CallRecord) -> None:
        for observer in self.api.observers:
            try:
                observer(record)
            except Exception:  # noqa: BLE001 - an observer must not break the call
                log.exception("call observer failed")

    def _decode(self, rpc: _Rpc, raw: bytes, context: grpc.aio.ServicerContext,
                owner: asyncio.AbstractEventLoop, got: str | None) -> tuple[str, Json, CallContext]:
        if not _version_ok(self.version, got):
            raise VersionNotSupported(f"A2A version {got!r} is not served by {self.full_name} "
                                      f"(it speaks {self.version})", data={"version": got})
        try:
            request = rpc.request.FromString(raw)
        except message.DecodeError as exc:
            raise ParseError(f"{rpc.name}: the request is not a valid {rpc.request.DESCRIPTOR.full_name}",
                             data={"rpc": rpc.name}) from exc
        try:
            params = to_json(request)
        except Unsupported:
            try:
                params = json_format.MessageToDict(request)
            except json_format.Error as exc:  # e.g. an infinite number in a Value: JSON has none
                raise InvalidParams(f"{rpc.name}: {exc}", data={"rpc": rpc.name}) from exc
        name = rpc.name
        if self._adapter is not None:
            name, params = self._adapter.request(rpc.name, params)
        ctx = CallContext(transport="grpc", method=name, principal=PRINCIPAL,
                          peer={"remote": context.peer()}, request_id=None)
        remaining = context.time_remaining()
        if remaining is not None:
            ctx.deadline = owner.time() + float(remaining)
        return name, params, ctx

    def _encode(self, rpc: _Rpc, result: Any) -> bytes:
        data = msgspec.to_builtins(result) if result is not None else {}
        if self._adapter is not None:
            data = self._adapter.result(rpc.name, data)
        try:
            return encode(data, rpc.response)
        except Unsupported:
            pass
        try:  # what the fast path does not write, ParseDict builds (or refuses)
            # 0.3 answers are a lossy down-conversion: fields 0.3 lacks are dropped.
            out = json_format.ParseDict(data, rpc.response(), ignore_unknown_fields=self._adapter is not None)
        except json_format.ParseError as exc:
            raise InvalidAgentResponse(f"{rpc.name}: the answer does not fit "
                                       f"{rpc.response.DESCRIPTOR.full_name}: {exc}") from exc
        encoded: bytes = out.SerializeToString()
        return encoded


async def _next(items: AsyncGenerator[Any, None]) -> Any:
    return await items.__anext__()


def _soon(owner: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: Any) -> None:
    """``callback(*args)`` on ``owner``'s thread (dropped if that loop is already closed)."""
    try:
        if owner is asyncio.get_running_loop():
            callback(*args)
        else:
            owner.call_soon_threadsafe(callback, *args)
    except RuntimeError:  # the owner loop is closed: nothing is left to tell
        log.debug("owner loop closed; %r dropped", callback)


def _close_on(owner: asyncio.AbstractEventLoop, ctx: CallContext | None) -> None:
    if ctx is not None:
        _soon(owner, _close, ctx)


def _close(ctx: CallContext | None) -> None:
    """The call is over (answered, failed or cancelled): end what it left running."""
    if ctx is None or ctx.closed.is_set():
        return
    ctx.closed.set()
    for callback in ctx.on_close:
        try:
            callback()
        except Exception:  # noqa: BLE001 - one callback must not stop the others
            log.exception("on_close callback failed")


async def _abort(context: grpc.aio.ServicerContext, err: CodetetherError, *, legacy: bool) -> NoReturn:
    code, details, trailers = status_of(err, legacy=legacy)
    await context.abort(code, details, trailing_metadata=trailers)
    raise AssertionError("grpc abort returned")  # abort always raises
