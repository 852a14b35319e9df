"""The method table: names, params and result types, and the one way every call runs.

A transport calls :meth:`API.call` (one answer; a streaming method's notes go to
``ctx.emit`` on the way) or :meth:`API.stream` (every note, then the answer, as an
async iterator: what an SSE or gRPC server stream sends). Either way the same
checks run: the method exists, its params convert to their Struct (a mismatch is
-32602 with msgspec's message), the daemon's config loads (fail closed, S2), and
the observers (the audit trail) see the finished call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import msgspec

from ..errors import CodetetherError, ConfigError, InvalidParams, MethodNotFound, RequestCancelled
from ._context import CallContext

__all__ = ["API", "CallRecord", "Handler", "Method", "Observer"]

log = logging.getLogger("codetether.api")

#: ``async def on_x(params, ctx) -> Result``, or for a streaming method an async generator
#: ``async def on_x(params, ctx) -> AsyncIterator[Note | Result]``.
Handler = Callable[[Any, CallContext], Any]


@dataclass(frozen=True, slots=True)
class Method:
    """One API method. A streaming handler is an async generator that yields notes
    and ends by yielding its ``result``-typed answer; with ``result`` None it is a pure
    stream (A2A's SendStreamingMessage: every item is an update, none is "the" answer).
    ``when_broken``: still served while config.toml does not load (looking, stopping,
    answering a run in flight)."""

    name: str
    handler: Handler
    params: Any  # a type msgspec converts the raw params into (a Struct)
    result: Any
    streaming: bool = False
    when_broken: bool = False


@dataclass(slots=True)
class CallRecord:
    """One finished call, for observers (the audit trail)."""

    method: str
    peer: Any
    outcome: str  # "success" | "failure" | "denied" | "cancelled"
    duration_ms: float
    error_code: int | None = None
    error: str | None = None
    params: Any = None


Observer = Callable[[CallRecord], None]


class API:
    """The daemon's methods, whatever the transport. ``observers`` see every finished
    call (they must be cheap and must not raise); ``config_error`` returns why
    config.toml does not load, or None. ``_lazy`` maps a name added by :meth:`add_lazy`
    to the loader of its domain until that domain is loaded."""

    def __init__(self, config_error: Callable[[], ConfigError | None] = lambda: None) -> None:
        self._methods: dict[str, Method] = {}
        self._lazy: dict[str, Callable[[], Iterable[Method]]] = {}
        self.observers: list[Observer] = []
        self.config_error = config_error

    def add(self, method: Method) -> None:
        """Register one method; a name registered twice is a bug."""
        if method.name in self._methods or method.name in self._lazy:
            raise ValueError(f"method {method.name!r} registered twice")
        self._methods[method.name] = method

    def add_lazy(self, names: Iterable[str], load: Callable[[], Iterable[Method]]) -> None:
        """Register ``names`` now and their domain on the first lookup of any of them:
        ``load`` imports the domain's module, builds it and returns its methods, which
        must be exactly ``names``. A domain an idle daemon does not use then costs no
        import (and no memory) until a client calls it."""
        for name in names:
            if name in self._methods or name in self._lazy:
                raise ValueError(f"method {name!r} registered twice")
            self._lazy[name] = load

    def methods(self) -> list[str]:
        """Every method name, sorted (loaded or not)."""
        return sorted((*self._methods, *self._lazy))

    def method(self, name: str) -> Method:
        """The method ``name`` (:class:`MethodNotFound` if there is none)."""
        entry = self._methods.get(name)
        if entry is None and name in self._lazy:
            entry = self._load(name)
        if entry is None:
            shown = name if len(name) <= 200 else name[:200] + "…"
            raise MethodNotFound(f"unknown method {shown!r}", data={"method": shown})
        return entry

    def _load(self, name: str) -> Method:
        """Load the lazy domain that serves ``name`` (synchronously: a first call waits for
        one import, and no other call can see the domain half-registered)."""
        load = self._lazy[name]
        loaded = list(load())  # if it raises, the names stay lazy and the next call retries
        declared = {n for n, fn in self._lazy.items() if fn is load}
        if {m.name for m in loaded} != declared:
            raise RuntimeError(f"a lazy domain declared {sorted(declared)} but serves "
                               f"{sorted(m.name for m in loaded)}")
        for method in loaded:
            del self._lazy[method.name]
            self._methods[method.name] = method
        return self._methods[name]

    async def call(self, name: str, raw_params: Any, ctx: CallContext) -> Any:
        """Run one call to its answer; a streaming method's notes go to ``ctx.emit``."""
        if not self.observers:
            return await self._call(name, raw_params, ctx)
        started = time.perf_counter()
        try:
            result = await self._call(name, raw_params, ctx)
        except BaseException as exc:
            self._record(name, raw_params, ctx, started, *_outcome(exc))
            raise
        self._record(name, raw_params, ctx, started, "success", None, None)
        return result

    async def _call(self, name: str, raw_params: Any, ctx: CallContext) -> Any:
        method, params = self._prepare(name, raw_params)
        if not method.streaming:
            return await method.handler(params, ctx)
        async with contextlib.aclosing(method.handler(params, ctx)) as items:
            async for item in items:
                if method.result is not None and isinstance(item, method.result):
                    return item
                await ctx.emit(item)
        if method.result is None:
            return None  # a pure stream: its items went to ctx.emit
        raise CodetetherError(f"internal error: {name} ended without an answer")

    async def stream(self, name: str, raw_params: Any, ctx: CallContext) -> AsyncIterator[Any]:
        """Every note of a call, then its answer (a unary method yields only its answer)."""
        started = time.perf_counter()
        try:
            method, params = self._prepare(name, raw_params)
            if not method.streaming:
                yield await method.handler(params, ctx)
            else:
                async with contextlib.aclosing(method.handler(params, ctx)) as items:
                    async for item in items:
                        yield item
        except BaseException as exc:  # GeneratorExit too: a reader that stopped reading
            if self.observers:
                self._record(name, raw_params, ctx, started, *_outcome(exc))
            raise
        if self.observers:
            self._record(name, raw_params, ctx, started, "success", None, None)

    def _prepare(self, name: str, raw_params: Any) -> tuple[Method, Any]:
        method = self.method(name)
        if raw_params is None:
            raw_params = {}
        if not isinstance(raw_params, dict):
            raise InvalidParams(f"{name}: params must be an object")
        try:
            params = msgspec.convert(raw_params, method.params)
        except msgspec.ValidationError as exc:
            raise InvalidParams(f"{name}: {exc}") from exc
        except RecursionError as exc:  # R1: params nested deeper than we can walk
            raise InvalidParams(f"{name}: params nested too deeply") from exc
        if not method.when_broken and (broken := self.config_error()) is not None:
            raise ConfigError(f"{broken.message} (fix the file; nothing runs until it loads)")
        return method, params

    def _record(self, name: str, raw_params: Any, ctx: CallContext, started: float, outcome: str,
                code: int | None, message: str | None) -> None:
        record = CallRecord(name, ctx.peer, outcome, (time.perf_counter() - started) * 1000,
                            code, message, raw_params)
        for observer in self.observers:
            try:
                observer(record)
            except Exception:  # noqa: BLE001 - an observer must not break the call
                log.exception("call observer failed")


def _outcome(exc: BaseException) -> tuple[str, int | None, str | None]:
    """How the audit trail records a call that ended with ``exc``: (outcome, code, message)."""
    if isinstance(exc, (asyncio.CancelledError, RequestCancelled, GeneratorExit)):
        return "cancelled", None, None
    if isinstance(exc, CodetetherError):
        return ("denied" if exc.codes.http in (401, 403) else "failure"), exc.codes.jsonrpc, exc.message
    return "failure", -32603, repr(exc)
