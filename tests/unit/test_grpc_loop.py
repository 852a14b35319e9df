"""gRPC is served from its own loop: calls are accepted at once however busy the API's loop
is (grpcio aio accepts one call at a time, a few loop iterations each), while the API, its
observers and its close callbacks still run on the API's loop."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import grpc
from codetether.daemon.api import API, CallContext, CallRecord, Method
from codetether.daemon.transports.grpc import GrpcListener
from codetether.daemon.transports.grpc._generated import a2a_pb2, a2a_pb2_grpc
from codetether.daemon.transports.grpc._loop import grpc_loop

TOKEN = "t0ken"
AUTH = (("authorization", f"Bearer {TOKEN}"),)
Json = dict[str, Any]
CALLS = 40


class Gate:
    """GetTask holds every call until ``CALLS`` of them have arrived, then answers them all."""

    def __init__(self) -> None:
        self.arrived = 0
        self.all_in = asyncio.Event()
        self.threads: set[str] = set()
        self.loops: set[int] = set()
        self.closed: list[str] = []
        self.closed_once = asyncio.Event()

    def api(self) -> API:
        api = API()
        api.add(Method("GetTask", self.get, dict[str, Any], dict[str, Any]))
        return api

    async def get(self, params: Json, ctx: CallContext) -> Json:
        self.threads.add(threading.current_thread().name)
        self.loops.add(id(asyncio.get_running_loop()))
        ctx.on_close.append(self._on_close)
        self.arrived += 1
        if self.arrived >= CALLS:
            self.all_in.set()
        await self.all_in.wait()
        return {"id": params["id"], "status": {"state": "TASK_STATE_WORKING"}}

    def _on_close(self) -> None:
        self.closed.append(threading.current_thread().name)
        self.closed_once.set()


class Busy:
    """Keeps the running loop busy like a flood of HTTP requests: every iteration runs a
    callback taking ~2 ms; ``ticks`` counts the iterations. The callback sleeps rather
    than spins: a server's work is mostly socket calls, which let other threads take the
    GIL; a pure-Python spin would measure the GIL's 5 ms switch interval instead."""

    def __init__(self) -> None:
        self.ticks = 0
        self._stopped = False

    def tick(self) -> None:
        if self._stopped:
            return
        self.ticks += 1
        time.sleep(0.002)
        asyncio.get_running_loop().call_soon(self.tick)

    def stop(self) -> None:
        self._stopped = True


async def _ticks_until_all_in(gate: Gate, address: str) -> int:
    """Busy iterations of this loop until CALLS concurrent GetTask calls reached ``gate``."""
    busy = Busy()
    try:
        async with grpc.aio.insecure_channel(address) as chan:
            stub = a2a_pb2_grpc.A2AServiceStub(chan)
            gate.all_in.set()  # a first call, answered at once, connects the channel
            await stub.GetTask(a2a_pb2.GetTaskRequest(id="warm"), metadata=AUTH, timeout=30)
            gate.arrived = 0
            gate.all_in.clear()
            calls = [asyncio.ensure_future(stub.GetTask(a2a_pb2.GetTaskRequest(id=f"c{i}"),
                                                        metadata=AUTH, timeout=60)) for i in range(CALLS)]
            busy.tick()
            async with asyncio.timeout(60):
                await gate.all_in.wait()
            ticks = busy.ticks
            busy.stop()
            answers = await asyncio.gather(*calls)
        assert sorted(a.id for a in answers) == sorted(f"c{i}" for i in range(CALLS))
        return ticks
    finally:
        busy.stop()


async def _on_this_loop(gate: Gate) -> tuple[grpc.aio.Server, str]:
    """The control: a plain grpcio aio server on this loop running the same handler."""

    async def get(raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
        request = a2a_pb2.GetTaskRequest.FromString(raw)
        answer = await gate.get({"id": request.id}, CallContext(transport="grpc"))
        encoded: bytes = a2a_pb2.Task(id=answer["id"]).SerializeToString()
        return encoded

    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "lf.a2a.v1.A2AService", {"GetTask": grpc.unary_unary_rpc_method_handler(get)}),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


async def _measure() -> tuple[int, int]:
    """(busy iterations with our listener, with a plain grpcio aio server on this loop)."""
    gate = Gate()
    server = GrpcListener(gate.api(), "127.0.0.1", 0, token=TOKEN)
    await server.start()
    try:
        own = await _ticks_until_all_in(gate, server.address)
    finally:
        await server.stop(None)
    del server
    control_gate = Gate()
    control, address = await _on_this_loop(control_gate)
    try:
        # grpcio aio on the busy loop: 4-5 iterations per accepted call, one call at a time
        shared = await _ticks_until_all_in(control_gate, address)
    finally:
        await control.stop(None)
    return own, shared


def test_calls_are_accepted_while_the_api_loop_is_busy() -> None:
    # In a fresh process, as in the daemon: grpc binds its process-wide completion queue
    # to the loop of the first grpc aio object, so earlier tests' servers would skew this.
    proc = subprocess.run([sys.executable, __file__], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr[-2000:]
    own, shared = json.loads(proc.stdout.splitlines()[-1])
    assert shared >= 2 * CALLS, f"the control took only {shared} busy iterations"
    assert own * 3 < shared, f"{own} busy iterations for {CALLS} calls to arrive (on the API loop: {shared})"


async def test_the_api_observers_and_close_callbacks_run_on_the_api_loop() -> None:
    gate = Gate()
    api = gate.api()
    records: list[tuple[str, str]] = []
    denied = asyncio.Event()

    def observe(record: CallRecord) -> None:
        records.append((record.outcome, threading.current_thread().name))
        if record.outcome == "denied":
            denied.set()

    api.observers.append(observe)
    server = GrpcListener(api, "127.0.0.1", 0, token=TOKEN)
    await server.start()
    try:
        gate.all_in.set()
        async with grpc.aio.insecure_channel(server.address) as chan:
            stub = a2a_pb2_grpc.A2AServiceStub(chan)
            assert (await stub.GetTask(a2a_pb2.GetTaskRequest(id="a"), metadata=AUTH)).id == "a"
            try:
                await stub.GetTask(a2a_pb2.GetTaskRequest(id="b"))
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.UNAUTHENTICATED
            else:
                raise AssertionError("a call without the token was answered")
        here = threading.current_thread().name
        assert gate.threads == {here} and gate.loops == {id(asyncio.get_running_loop())}
        async with asyncio.timeout(10):  # both are scheduled onto this loop from grpc's
            await gate.closed_once.wait()
            await denied.wait()
        assert gate.closed == [here]
        assert {outcome for outcome, _ in records} >= {"denied"}
        assert {thread for _, thread in records} == {here}
    finally:
        await server.stop(None)


async def test_the_grpc_loop_is_one_thread_that_outlives_its_listeners() -> None:
    gate = Gate()
    gate.all_in.set()
    loop = grpc_loop()
    for _ in range(2):
        server = GrpcListener(gate.api(), "127.0.0.1", 0, token=TOKEN)
        await server.start()
        try:
            async with grpc.aio.insecure_channel(server.address) as chan:
                got = await a2a_pb2_grpc.A2AServiceStub(chan).GetTask(
                    a2a_pb2.GetTaskRequest(id="x"), metadata=AUTH)
                assert got.id == "x"
        finally:
            await server.stop(None)
        assert grpc_loop() is loop and loop.is_running()
    assert [t.name for t in threading.enumerate()].count("codetether-grpc") == 1


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_measure())))
