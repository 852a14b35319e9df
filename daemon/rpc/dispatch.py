"""JSON-RPC 2.0 over any framed byte stream: the engine the Unix (and HTTP) transports share.

A transport hands complete frames to :meth:`Connection.receive` (or the
synchronous :meth:`Connection.feed`) and supplies a ``send`` coroutine; everything
else — decoding, concurrency, ``$/cancelRequest``, batches and the error frames —
lives here. Methods, params and results are the API's (:class:`~codetether.daemon.api.API`):
this module builds each call's :class:`~codetether.daemon.api.CallContext`, whose
``emit`` sends a note as a JSON-RPC notification named by the note's ``METHOD``.

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
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, Protocol

import msgspec

from ..api import CallContext, Transport
from ..core.secrets import redact_json
from ..errors import CodetetherError, InvalidRequest, ParseError, RequestCancelled, Unavailable

__all__ = ["Caller", "Connection"]

log = logging.getLogger("codetether.rpc")

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()

Send = Callable[[bytes], Awaitable[None]]
Reply = Coroutine[Any, Any, None]  # an immediate error answer, spawned or awaited by the caller

MAX_BATCH = 1000  # members per batch: each one is a task, and a frame may be megabytes
MAX_PENDING = 512  # tasks per connection (requests, notifications, answers being written)


class Caller(Protocol):
    """What a connection calls: :class:`~codetether.daemon.api.API`, or a test's stand-in."""

    async def call(self, name: str, raw_params: Any, ctx: CallContext) -> Any: ...


def _error_frame(req_id: Any, err: CodetetherError) -> bytes:
    return _encoder.encode({"jsonrpc": "2.0", "id": req_id, "error": err.to_wire()})


class Connection:
    """One client connection: its in-flight requests and its outgoing frames.

    ``_inflight`` maps request id -> task, so ``$/cancelRequest`` can find it;
    ``_answered`` marks cancelled requests that already replied; ``_send_lock`` keeps
    frames whole and in order on the stream; ``_tasks`` owns every task started for
    the connection, and its size is what ``max_pending`` bounds.
    """

    def __init__(self, api: Caller, send: Send, *, peer: Mapping[str, Any] | None = None,
                 name: str = "conn", max_pending: int = MAX_PENDING, transport: Transport = "unix") -> None:
        self.api = api
        self.max_pending = max_pending
        self.peer: Mapping[str, Any] = peer or {}
        self.principal = CallContext.principal_of(self.peer)
        self.transport: Transport = transport
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

    async def emit(self, note: Any) -> None:
        """A call's note, as the notification its type names (``METHOD``)."""
        await self.notify(type(note).METHOD, note)

    def context(self, req_id: Any, method: str) -> CallContext:
        """The API's view of one call on this connection (a batch member's is its parent's)."""
        owner = self._parent or self
        return CallContext(transport=self.transport, method=method, request_id=req_id, peer=self.peer,
                           principal=self.principal, emit=self.emit, channel=owner,
                           closed=self.closed, on_close=self.on_close)

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
        sub = Connection(self.api, _collect(frames), peer=self.peer, name=self.name,
                         max_pending=MAX_BATCH, transport=self.transport)
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
            await self.api.call(method, params, self.context(None, method))
        except CodetetherError as exc:
            log.info("%s: notification %s failed: %s", self.name, method, exc.message)
        except Exception:  # noqa: BLE001 - a notification has nobody to answer
            log.exception("%s: notification %s crashed", self.name, method)

    async def _run_request(self, req_id: Any, method: str, params: Any) -> None:
        try:
            result = await self.api.call(method, params, self.context(req_id, method))
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
