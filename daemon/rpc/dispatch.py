"""JSON-RPC 2.0 dispatch, shared by every transport.

A transport hands complete frames to :meth:`Connection.receive` (or the
synchronous :meth:`Connection.feed`) and supplies a ``send`` coroutine; everything
else — decoding, the method table, params validation, concurrency,
``$/cancelRequest`` and the error table — lives here.

Hostile input is answered, never fatal: a frame that fails to decode for any
reason (invalid UTF-8, nesting deeper than the interpreter's recursion limit,
numbers out of range) is -32700 and the connection, with its requests in flight,
keeps going (R1). What one connection can hold is bounded: at most
``max_pending`` tasks and ``MAX_BATCH`` members per batch; past that a request
is answered -31010 at once instead of queued.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import msgspec

from ..core.secrets import redact_json
from ..errors import (
    CodetetherError,
    InvalidParams,
    InvalidRequest,
    MethodNotFound,
    ParseError,
    RequestCancelled,
    Unavailable,
)

__all__ = ["CallContext", "CallRecord", "Connection", "Dispatcher", "Handler", "Observer"]

log = logging.getLogger("codetether.rpc")

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()

Send = Callable[[bytes], Awaitable[None]]
Reply = Coroutine[Any, Any, None]  # an immediate error answer, spawned or awaited by the caller

MAX_BATCH = 1000  # members per batch: each one is a task, and a frame may be megabytes
MAX_PENDING = 512  # tasks per connection (requests, notifications, answers being written)


@dataclass(slots=True)
class CallContext:
    """Who is calling, on which connection. Handlers use ``notify`` to stream."""

    connection: Connection
    request_id: Any = None
    method: str = ""

    @property
    def peer(self) -> dict[str, Any]:
        return self.connection.peer

    async def notify(self, method: str, params: Any) -> None:
        await self.connection.notify(method, params)


Handler = Callable[[Any, CallContext], Awaitable[Any]]


@dataclass(slots=True)
class _Method:
    handler: Handler
    params: type | None


@dataclass(slots=True)
class CallRecord:
    """One finished call, for observers (the audit trail)."""

    method: str
    peer: dict[str, Any]
    outcome: str  # "success" | "failure" | "denied" | "cancelled"
    duration_ms: float
    error_code: int | None = None
    error: str | None = None
    params: Any = None


Observer = Callable[[CallRecord], None]


class Dispatcher:
    """The method table. ``params`` is a msgspec Struct type the raw params are
    converted into; a mismatch is -32602 with msgspec's precise message.
    ``observers`` see every finished call (they must be cheap and must not raise)."""

    def __init__(self) -> None:
        self._methods: dict[str, _Method] = {}
        self.observers: list[Observer] = []

    def add(self, name: str, handler: Handler, params: type | None = None) -> None:
        if name in self._methods:
            raise ValueError(f"method {name!r} registered twice")
        self._methods[name] = _Method(handler, params)

    def methods(self) -> list[str]:
        return sorted(self._methods)

    async def call(self, method: str, raw_params: Any, ctx: CallContext) -> Any:
        if not self.observers:
            return await self._call(method, raw_params, ctx)
        started = time.perf_counter()
        outcome, code, message = "success", None, None
        try:
            return await self._call(method, raw_params, ctx)
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        except CodetetherError as exc:
            outcome = "denied" if exc.codes.http in (401, 403) else "failure"
            code, message = exc.codes.jsonrpc, exc.message
            raise
        except Exception as exc:
            outcome, code, message = "failure", -32603, repr(exc)
            raise
        finally:
            record = CallRecord(method, ctx.peer, outcome, (time.perf_counter() - started) * 1000,
                                code, message, raw_params)
            for observer in self.observers:
                try:
                    observer(record)
                except Exception:  # noqa: BLE001 - an observer must not break the call
                    log.exception("call observer failed")

    async def _call(self, method: str, raw_params: Any, ctx: CallContext) -> Any:
        entry = self._methods.get(method)
        if entry is None:
            shown = method if len(method) <= 200 else method[:200] + "…"
            raise MethodNotFound(f"unknown method {shown!r}", data={"method": shown})
        params: Any = raw_params
        if entry.params is not None:
            if raw_params is None:
                raw_params = {}
            if not isinstance(raw_params, dict):
                raise InvalidParams(f"{method}: params must be an object")
            try:
                params = msgspec.convert(raw_params, entry.params)
            except msgspec.ValidationError as exc:
                raise InvalidParams(f"{method}: {exc}") from exc
            except RecursionError as exc:  # R1: params nested deeper than we can walk
                raise InvalidParams(f"{method}: params nested too deeply") from exc
        return await entry.handler(params, ctx)


def _error_frame(req_id: Any, err: CodetetherError) -> bytes:
    return _encoder.encode({"jsonrpc": "2.0", "id": req_id, "error": err.to_wire()})


class Connection:
    """One client connection: its in-flight requests and its outgoing frames.

    ``_inflight`` maps request id -> task, so ``$/cancelRequest`` can find it;
    ``_answered`` marks cancelled requests that already replied; ``_send_lock`` keeps
    frames whole and in order on the stream; ``_tasks`` owns every task started for
    the connection, and its size is what ``max_pending`` bounds.
    """

    def __init__(self, dispatcher: Dispatcher, send: Send, *, peer: dict[str, Any] | None = None,
                 name: str = "conn", max_pending: int = MAX_PENDING) -> None:
        self.dispatcher = dispatcher
        self.max_pending = max_pending
        self.peer = peer or {}
        self.name = name
        self._send = send
        self._send_lock = asyncio.Lock()
        self._inflight: dict[Any, asyncio.Task[None]] = {}
        self._answered: set[Any] = set()  # cancelled requests that already sent -32800
        self._tasks: set[asyncio.Task[None]] = set()
        self._members = 0  # members of this connection's batches in flight (see _full)
        self.closed = asyncio.Event()
        self.on_close: list[Callable[[], None]] = []
        self._parent: Connection | None = None

    async def write(self, frame: bytes) -> None:
        if self.closed.is_set():
            return
        # The client boundary of the one redactor (S4): results, errors and notifications
        # alike, whatever produced them (a 401 body that echoes the key, a session's text).
        frame = redact_json(frame)
        async with self._send_lock:
            try:
                await self._send(frame)
            except (ConnectionError, RuntimeError) as exc:
                log.debug("%s: write failed: %s", self.name, exc)
                self.closed.set()

    async def notify(self, method: str, params: Any) -> None:
        frame = _encoder.encode({"jsonrpc": "2.0", "method": method, "params": params})
        await (self._parent or self).write(frame)

    async def send_error(self, req_id: Any, err: CodetetherError) -> None:
        await self.write(_error_frame(req_id, err))

    def feed(self, frame: bytes | bytearray) -> None:
        """Handle one complete frame; requests run as named tasks owned here."""
        reply = self._accept(frame)
        if reply is not None:
            self._spawn(reply, "rpc:error")

    async def receive(self, frame: bytes | bytearray) -> None:
        """Like :meth:`feed`, but an immediate error answer is written before returning,
        so a peer that floods bad frames and never reads is slowed to its own pace
        instead of piling up answer tasks here."""
        reply = self._accept(frame)
        if reply is not None:
            await reply

    def _accept(self, frame: bytes | bytearray) -> Reply | None:
        try:
            message = _decoder.decode(frame)
        except Exception as exc:  # noqa: BLE001 - R1: any failure to decode is -32700
            # RecursionError (deep nesting) and ValidationError (numbers out of range)
            # are not DecodeErrors, and must not take the connection down with them.
            why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            return self.send_error(None, ParseError(f"invalid JSON: {why}"))
        try:
            if isinstance(message, list):
                if not message:
                    return self.send_error(None, InvalidRequest("empty batch"))
                if len(message) > MAX_BATCH:
                    return self.send_error(None, InvalidRequest(
                        f"batch of {len(message)} requests exceeds {MAX_BATCH}", data={"limit": MAX_BATCH}))
                if self._full(len(message)):
                    return self.send_error(None, self._busy())
                self._members += len(message)
                self._spawn(self._batch(message), "rpc:batch")
                return None
            return self._start(message)
        except Exception as exc:  # noqa: BLE001 - a bug here must not drop the connection
            log.exception("%s: frame handling failed", self.name)
            return self.send_error(None, CodetetherError(f"internal error handling a frame: {exc!r}"))

    def _full(self, adding: int = 1) -> bool:
        """Over budget: every task counts, and so does each member of a batch in flight
        (a batch is one task here, its members run on a child connection)."""
        return len(self._tasks) + self._members + adding > self.max_pending

    def _busy(self) -> Unavailable:
        return Unavailable(f"too many requests in flight on this connection (limit {self.max_pending})",
                           data={"limit": self.max_pending})

    def _start(self, message: Any) -> Reply | None:
        """Start one request or notification; return its immediate error answer, if any."""
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0" \
                or not isinstance(message.get("method"), str):
            if isinstance(message, dict) and ("result" in message or "error" in message):
                return None  # a response to nothing we asked: ignore
            req_id = message.get("id") if isinstance(message, dict) else None
            if not _valid_id(req_id):
                req_id = None
            return self.send_error(req_id, InvalidRequest(
                "not a JSON-RPC 2.0 request (need jsonrpc='2.0' and a string method)"))
        method: str = message["method"]
        params = message.get("params")
        if method == "$/cancelRequest":
            target = params.get("id") if isinstance(params, dict) else None
            task = self._inflight.get(target) if _valid_id(target) else None
            if task is not None:
                task.cancel()
            return None
        label = method if len(method) <= 64 else method[:64] + "…"
        if "id" not in message:
            if self._full():
                # Nobody to answer; debug, since a flood of them would flood the log too.
                log.debug("%s: notification %s dropped: %s", self.name, label, self._busy().message)
                return None
            self._spawn(self._run_notification(method, params), f"rpc:{label}")
            return None
        req_id = message["id"]
        if not _valid_id(req_id):
            return self.send_error(None, InvalidRequest("request id must be a string, a number or null"))
        if req_id in self._inflight:
            return self.send_error(req_id, InvalidRequest(f"duplicate request id {_short(req_id)}"))
        if self._full():
            return self.send_error(req_id, self._busy())
        task = self._spawn(self._run_request(req_id, method, params), f"rpc:{label}:{_short(req_id)}")
        self._inflight[req_id] = task
        task.add_done_callback(functools.partial(self._request_done, req_id))
        return None

    async def idle(self) -> None:
        """Return once no request is in flight (or the connection closed)."""
        while self._inflight and not self.closed.is_set():
            await asyncio.wait(list(self._inflight.values()))

    def _request_done(self, req_id: Any, task: asyncio.Task[None]) -> None:
        self._inflight.pop(req_id, None)
        if req_id in self._answered:
            self._answered.discard(req_id)
        elif task.cancelled() and not self.closed.is_set():
            # Cancelled before it ever ran: it still owes the client an answer.
            self._spawn(self.send_error(req_id, RequestCancelled("request cancelled")), "rpc:cancelled")

    async def _batch(self, messages: list[Any]) -> None:
        # Batches answer in one array; each member is dispatched as usual but its
        # frame is collected instead of written.
        frames: list[bytes] = []
        sub = Connection(self.dispatcher, _collect(frames), peer=self.peer, name=self.name,
                         max_pending=MAX_BATCH)
        # Members' notifications (and anything they subscribe) belong to this
        # connection: they go out directly and end when it closes.
        sub._parent, sub.closed, sub.on_close = self, self.closed, self.on_close
        for item in messages:
            reply = sub._start(item)
            if reply is not None:
                sub._spawn(reply, "rpc:error")
        try:
            await sub.drain()
        finally:
            self._members -= len(messages)
        if frames:
            await self.write(b"[" + b",".join(frames) + b"]")

    async def _run_notification(self, method: str, params: Any) -> None:
        try:
            await self.dispatcher.call(method, params, CallContext(self, None, method))
        except CodetetherError as exc:
            log.info("%s: notification %s failed: %s", self.name, method, exc.message)
        except Exception:  # noqa: BLE001 - a notification has nobody to answer
            log.exception("%s: notification %s crashed", self.name, method)

    async def _run_request(self, req_id: Any, method: str, params: Any) -> None:
        ctx = CallContext(self, req_id, method)
        try:
            result = await self.dispatcher.call(method, params, ctx)
        except asyncio.CancelledError:
            # Answer the client, then let the cancellation propagate to the owner.
            self._answered.add(req_id)
            if not self.closed.is_set():
                await asyncio.shield(self.send_error(req_id, RequestCancelled("request cancelled")))
            raise
        except CodetetherError as exc:
            await self.send_error(req_id, exc)
            return
        except Exception as exc:  # noqa: BLE001 - the daemon keeps serving
            log.exception("%s: %s crashed", self.name, method)
            await self.send_error(req_id, CodetetherError(f"internal error in {method}: {exc!r}"))
            return
        try:
            frame = _encoder.encode({"jsonrpc": "2.0", "id": req_id, "result": result})
        except Exception as exc:  # noqa: BLE001 - TypeError, EncodeError, RecursionError
            log.exception("%s: %s returned an unencodable result", self.name, method)
            frame = _error_frame(req_id, CodetetherError(f"internal error encoding result: {exc}"))
        await self.write(frame)

    def _spawn(self, coro: Awaitable[None], name: str) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        task.set_name(f"{self.name}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    async def drain(self) -> None:
        """Wait for every task this connection started (used by batches and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Cancel in-flight work and wait for it; idempotent."""
        if not self.closed.is_set():
            self.closed.set()
            for callback in self.on_close:
                try:
                    callback()
                except Exception:  # noqa: BLE001
                    log.exception("%s: on_close callback failed", self.name)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _valid_id(req_id: Any) -> bool:
    """A JSON-RPC id: a string, a number (not a bool) or null."""
    return req_id is None or (isinstance(req_id, (str, int, float)) and not isinstance(req_id, bool))


def _short(req_id: Any) -> str:
    text = repr(req_id)
    return text if len(text) <= 80 else text[:80] + "…"


def _collect(frames: list[bytes]) -> Send:
    async def send(frame: bytes) -> None:
        frames.append(frame)

    return send
