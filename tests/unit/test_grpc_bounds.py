"""What a gRPC caller can make the listener hold: a stream the caller cancels ends the API's
generator and the call's context; calls beyond the bound are refused; the caller's deadline
reaches the API; a listener stopping cancels what is still running."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from codetether.daemon.api import API, CallContext, Method
from codetether.daemon.transports.grpc import GrpcListener
from codetether.daemon.transports.grpc._generated import a2a_pb2, a2a_pb2_grpc

TOKEN = "t0ken"
AUTH = (("authorization", f"Bearer {TOKEN}"),)
Json = dict[str, Any]


class Held:
    """A2A methods that hold until released, recording how they ended."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.ended: list[str] = []
        self.done = asyncio.Event()  # set when a handler has ended (see ended)
        self.contexts: list[CallContext] = []

    def api(self) -> API:
        api = API()
        api.add(Method("GetTask", self.get, dict[str, Any], dict[str, Any]))
        api.add(Method("SubscribeToTask", self.subscribe, dict[str, Any], None, streaming=True))
        return api

    async def get(self, params: Json, ctx: CallContext) -> Json:
        self.contexts.append(ctx)
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.ended.append("get cancelled")
            self.done.set()
            raise
        return {"id": params["id"], "status": {"state": "TASK_STATE_WORKING"}}

    async def subscribe(self, params: Json, ctx: CallContext) -> AsyncIterator[Json]:
        self.contexts.append(ctx)
        try:
            yield {"task": {"id": params["id"], "status": {"state": "TASK_STATE_WORKING"}}}
            self.started.set()
            await self.release.wait()
            yield {"task": {"id": params["id"], "status": {"state": "TASK_STATE_COMPLETED"}}}
        finally:
            self.ended.append("subscribe closed")
            self.done.set()


@pytest.fixture
def held() -> Held:
    return Held()


async def _serve(held: Held, **kwargs: Any) -> GrpcListener:
    server = GrpcListener(held.api(), "127.0.0.1", 0, token=TOKEN, **kwargs)
    await server.start()
    return server


async def test_a_cancelled_stream_closes_the_generator_and_the_context(held: Held) -> None:
    server = await _serve(held)
    try:
        async with grpc.aio.insecure_channel(server.address) as chan:
            call = a2a_pb2_grpc.A2AServiceStub(chan).SubscribeToTask(
                a2a_pb2.SubscribeToTaskRequest(id="t1"), metadata=AUTH)
            first = await call.read()
            assert first.task.id == "t1"
            await held.started.wait()
            call.cancel()
            async with asyncio.timeout(10):
                await held.done.wait()
                await held.contexts[0].closed.wait()
            assert held.ended == ["subscribe closed"]
    finally:
        await server.stop(None)


async def test_calls_beyond_the_bound_are_refused_and_the_deadline_reaches_the_api(held: Held) -> None:
    server = await _serve(held, max_concurrent_rpcs=1)
    try:
        async with grpc.aio.insecure_channel(server.address) as chan:
            stub = a2a_pb2_grpc.A2AServiceStub(chan)
            first = asyncio.ensure_future(stub.GetTask(a2a_pb2.GetTaskRequest(id="a"), metadata=AUTH,
                                                       timeout=30))
            await held.started.wait()
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.GetTask(a2a_pb2.GetTaskRequest(id="b"), metadata=AUTH)
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            deadline = held.contexts[0].deadline
            # grpc keeps its own clock: allow it a second of skew against the loop's
            assert deadline is not None and 20 < deadline - asyncio.get_running_loop().time() <= 31
            held.release.set()
            assert (await first).id == "a"
            assert (await stub.GetTask(a2a_pb2.GetTaskRequest(id="c"), metadata=AUTH)).id == "c"
    finally:
        await server.stop(None)


async def test_a_caller_at_the_bound_calling_again_at_once_is_never_refused(held: Held) -> None:
    """The slot of an answered call is free when its answer arrives (grpcio's own count
    lags the status: back-to-back calls at the bound were sometimes refused)."""
    held.release.set()
    server = await _serve(held, max_concurrent_rpcs=1)
    try:
        async with grpc.aio.insecure_channel(server.address) as chan:
            stub = a2a_pb2_grpc.A2AServiceStub(chan)
            for n in range(1000):
                assert (await stub.GetTask(a2a_pb2.GetTaskRequest(id=f"t{n}"), metadata=AUTH)).id == f"t{n}"
            call = stub.SubscribeToTask(a2a_pb2.SubscribeToTaskRequest(id="s"), metadata=AUTH)
            assert [r.task.status.state async for r in call][-1] == a2a_pb2.TASK_STATE_COMPLETED
            assert (await stub.GetTask(a2a_pb2.GetTaskRequest(id="after"), metadata=AUTH)).id == "after"
    finally:
        await server.stop(None)


async def test_a_refused_token_takes_no_slot(held: Held) -> None:
    held.release.set()
    server = await _serve(held, max_concurrent_rpcs=1)
    try:
        async with grpc.aio.insecure_channel(server.address) as chan:
            stub = a2a_pb2_grpc.A2AServiceStub(chan)
            for _ in range(3):
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await stub.GetTask(a2a_pb2.GetTaskRequest(id="x"), metadata=(("authorization", "Bearer no"),))
                assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert (await stub.GetTask(a2a_pb2.GetTaskRequest(id="ok"), metadata=AUTH)).id == "ok"
    finally:
        await server.stop(None)


async def test_stop_cancels_calls_still_running_after_the_grace(held: Held) -> None:
    server = await _serve(held)
    async with grpc.aio.insecure_channel(server.address) as chan:
        pending = asyncio.ensure_future(a2a_pb2_grpc.A2AServiceStub(chan).GetTask(
            a2a_pb2.GetTaskRequest(id="a"), metadata=AUTH))
        await held.started.wait()
        await server.stop(0.1)
        with pytest.raises(grpc.aio.AioRpcError):
            await pending
    async with asyncio.timeout(10):
        await held.done.wait()
    assert held.ended == ["get cancelled"]


async def test_an_oversized_request_is_refused_and_the_server_serves_on(held: Held) -> None:
    held.release.set()
    server = await _serve(held, max_message_bytes=1024)
    try:
        async with grpc.aio.insecure_channel(server.address) as chan:
            stub = a2a_pb2_grpc.A2AServiceStub(chan)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.GetTask(a2a_pb2.GetTaskRequest(id="x" * 4096), metadata=AUTH)
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert (await stub.GetTask(a2a_pb2.GetTaskRequest(id="small"), metadata=AUTH)).id == "small"
    finally:
        await server.stop(None)
