"""Every error class, wherever it is defined, crosses every transport with its table codes.

A class outside ``errors.py`` (an event-stream or provider error) has no row of its own:
it goes out with its nearest ancestor's codes, and the client rebuilds that ancestor.
Transports: the API called in process, and JSON-RPC on the daemon's Unix socket. The
A2A transports (HTTP, gRPC) join this list when they exist.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import pkgutil
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
import pytest
from codetether import daemon, lsp
from codetether.daemon import errors
from codetether.daemon.api import API, CallContext, Method
from codetether.daemon.transports import UnixListener


def _all_error_classes() -> list[type[errors.CodetetherError]]:
    for package in (daemon, lsp):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not info.name.endswith("__main__"):
                importlib.import_module(info.name)
    seen: list[type[errors.CodetetherError]] = []
    todo = [errors.CodetetherError]
    while todo:
        cls = todo.pop()
        if cls not in seen:
            seen.append(cls)
            todo.extend(cls.__subclasses__())
    return sorted(seen, key=lambda c: (c.__module__, c.__qualname__))


CLASSES = _all_error_classes()


def _table_row(cls: type[errors.CodetetherError]) -> type[errors.CodetetherError]:
    return next(c for c in cls.__mro__ if c in errors.ERROR_TABLE)


def _make(cls: type[errors.CodetetherError], message: str) -> errors.CodetetherError:
    try:
        return cls(message, data={"n": 1})
    except TypeError:  # a subclass with its own required arguments
        err = cls.__new__(cls)
        errors.CodetetherError.__init__(err, message, data={"n": 1})
        return err


class Which(msgspec.Struct):
    name: str


def _api() -> API:
    by_name = {f"{c.__module__}.{c.__qualname__}": c for c in CLASSES}

    async def fail(p: Which, ctx: CallContext) -> None:
        raise _make(by_name[p.name], f"a {p.name}")

    table = API()
    table.add(Method("fail", fail, Which, type(None)))
    return table


Call = Callable[[str], Awaitable[dict[str, Any]]]


async def _inproc() -> AsyncIterator[Call]:
    table = _api()

    async def call(name: str) -> dict[str, Any]:
        try:
            await table.call("fail", {"name": name}, CallContext(transport="inproc"))
        except errors.CodetetherError as exc:
            return exc.to_wire()
        raise AssertionError("no error")

    yield call


async def _unix(short_dir: Any) -> AsyncIterator[Call]:
    listener = UnixListener(short_dir / "e.sock", _api(), max_message_bytes=1 << 20)
    await listener.start()
    reader, writer = await asyncio.open_unix_connection(str(listener.path))
    ids = iter(range(1, 10_000))

    async def call(name: str) -> dict[str, Any]:
        req = {"jsonrpc": "2.0", "id": next(ids), "method": "fail", "params": {"name": name}}
        writer.write(json.dumps(req).encode() + b"\n")
        await writer.drain()
        reply = json.loads(await asyncio.wait_for(reader.readline(), 10))
        return dict(reply["error"])

    try:
        yield call
    finally:
        writer.close()
        await writer.wait_closed()
        await listener.stop_accepting()
        await listener.drain(1.0)


def test_errors_defined_outside_the_table_are_found() -> None:
    names = {c.__name__ for c in CLASSES}
    assert set(errors.ERROR_TABLE) <= set(CLASSES)
    assert {"EventNotFound", "RetryableError", "DaemonUnavailable"} <= names, names


@pytest.mark.parametrize("transport", ["inproc", "unix"])
async def test_every_error_class_crosses_every_transport(transport: str, short_dir: Any) -> None:
    opened = _inproc() if transport == "inproc" else _unix(short_dir)
    call = await opened.__anext__()
    try:
        for cls in CLASSES:
            name = f"{cls.__module__}.{cls.__qualname__}"
            wire = await call(name)
            row = _table_row(cls)
            assert wire == {"code": errors.ERROR_TABLE[row].jsonrpc, "message": f"a {name}",
                            "data": {"n": 1}}, cls
            back = errors.from_wire(wire)
            # the exact class, or for one outside the table its table ancestor; a code two
            # rows share (-32600) comes back as the first of them unless a reason is sent
            expected = type(errors.from_wire({"code": errors.ERROR_TABLE[row].jsonrpc}))
            assert type(back) is expected and isinstance(_make(cls, "x"), type(back)), cls
            assert back.message == f"a {name}" and back.data == {"n": 1}
            with_reason = errors.from_wire({**wire, "data": {"reason": errors.ERROR_TABLE[row].reason}})
            assert type(with_reason) is row, cls
    finally:
        await opened.aclose()
