"""The gRPC transport over the real A2A table (``build_a2a_api``) of an in-process App with the
scripted provider, called by the official a2a-sdk gRPC client (1.0 and 0.3): a task run to
its end, streamed, got, listed, a cancel refused on a finished task, an unknown task, and
the audit trail seeing the calls (and the refusals the API never saw) with the principal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from a2a.client import Client, ClientConfig, ClientFactory
from a2a.client.client import ClientCallContext
from a2a.types.a2a_pb2 import (
    AgentCard,
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    TaskState,
)
from a2a.utils.errors import TaskNotCancelableError, TaskNotFoundError
from codetether.daemon.api import CallRecord
from codetether.daemon.api.a2a import A2AAPI, build_a2a_api
from codetether.daemon.errors import ERROR_TABLE, VersionNotSupported
from codetether.daemon.transports.grpc import GrpcListener
from codetether.daemon.transports.grpc._generated import (
    a2a_pb2,
    a2a_pb2_grpc,
    a2a_v0_3_pb2,
    a2a_v0_3_pb2_grpc,
)

TOKEN = "a2a-grpc-token"
AUTH = ClientCallContext(service_parameters={"authorization": f"Bearer {TOKEN}"})


@pytest.fixture
async def agent(short_dir: Path, scripted_app: Any) -> AsyncIterator[tuple[str, list[CallRecord]]]:
    ws = short_dir / "ws"
    ws.mkdir()
    app = scripted_app(short_dir / "h", [{"text": f"answer {i}"} for i in range(8)],
                       config=f'[permissions]\nmode = "auto"\n\n[a2a]\nworkspace = "{ws}"\n')
    domain = A2AAPI(app)
    table = build_a2a_api(app, domain)
    calls: list[CallRecord] = []
    table.observers.append(calls.append)
    listener = GrpcListener(table, "127.0.0.1", 0, token=TOKEN)
    await listener.start()
    yield listener.address, calls
    await listener.stop(1.0)
    app.stop_runs()
    await domain.aclose()
    await app.aclose()


def _client(address: str, version: str, *, streaming: bool) -> Client:
    card = AgentCard(name="codetether", description="d", version="1",
                     supported_interfaces=[{"url": address, "protocol_binding": "GRPC",
                                            "protocol_version": version}],
                     capabilities={"streaming": streaming})
    return ClientFactory(ClientConfig(streaming=streaming, supported_protocol_bindings=["GRPC"],
                                      grpc_channel_factory=grpc.aio.insecure_channel)).create(card)


def request(text: str) -> SendMessageRequest:
    return SendMessageRequest(message=Message(message_id=f"m-{text}", role=Role.ROLE_USER,
                                              parts=[Part(text=text)]))


@pytest.mark.parametrize("version", ["1.0", "0.3"])
async def test_a_task_over_the_sdk_grpc_client(agent: tuple[str, list[CallRecord]], version: str) -> None:
    address, calls = agent
    client = _client(address, version, streaming=False)
    streaming = _client(address, version, streaming=True)
    try:
        [answer] = [e async for e in client.send_message(request("hello"), context=AUTH)]
        task = answer.task
        assert task.status.state == TaskState.TASK_STATE_COMPLETED
        got = await client.get_task(GetTaskRequest(id=task.id), context=AUTH)
        assert got.id == task.id and got.context_id == task.context_id
        with pytest.raises(TaskNotCancelableError):
            await client.cancel_task(CancelTaskRequest(id=task.id), context=AUTH)
        with pytest.raises(TaskNotFoundError):
            await client.get_task(GetTaskRequest(id="no-such-task"), context=AUTH)

        events = [e async for e in streaming.send_message(request("again"), context=AUTH)]
        assert events[0].WhichOneof("payload") == "task"
        final = [e for e in events if e.WhichOneof("payload") == "status_update"][-1]
        assert final.status_update.status.state == TaskState.TASK_STATE_COMPLETED
    finally:
        await client.close()
        await streaming.close()
    sends = [r for r in calls if r.method in ("SendMessage", "SendStreamingMessage")]
    assert len(sends) == 2 and all(r.outcome == "success" for r in sends)
    assert all(str(r.peer["remote"]).startswith("ipv4:127.0.0.1:") for r in sends)


async def test_list_and_refusals_in_the_audit_trail(agent: tuple[str, list[CallRecord]]) -> None:
    address, calls = agent
    auth = (("authorization", f"Bearer {TOKEN}"),)
    async with grpc.aio.insecure_channel(address) as chan:
        stub = a2a_pb2_grpc.A2AServiceStub(chan)
        sent = await stub.SendMessage(a2a_pb2.SendMessageRequest(message=a2a_pb2.Message(
            message_id="m1", role=a2a_pb2.ROLE_USER, parts=[a2a_pb2.Part(text="hi")])), metadata=auth)
        listed = await stub.ListTasks(a2a_pb2.ListTasksRequest(page_size=10), metadata=auth)
        assert sent.task.id in [t.id for t in listed.tasks]
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetTask(a2a_pb2.GetTaskRequest(id=sent.task.id))
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetTask(a2a_pb2.GetTaskRequest(id=sent.task.id),
                               metadata=auth + (("a2a-version", "9.9"),))
        assert err.value.code() == getattr(grpc.StatusCode, ERROR_TABLE[VersionNotSupported].grpc)
    assert [(c.method, c.outcome) for c in calls[-2:]] == [
        ("grpc:/lf.a2a.v1.A2AService/GetTask", "denied"), ("grpc:/lf.a2a.v1.A2AService/GetTask", "failure")]
    assert calls[-1].error_code == -32009 and calls[-2].peer["status"] == "UNAUTHENTICATED"
    ran = [c for c in calls if c.method == "ListTasks"]
    assert ran and ran[0].outcome == "success"


async def test_the_cards_over_1_0_and_0_3(agent: tuple[str, list[CallRecord]]) -> None:
    address, _ = agent
    auth = (("authorization", f"Bearer {TOKEN}"),)
    async with grpc.aio.insecure_channel(address) as chan:
        card = await a2a_pb2_grpc.A2AServiceStub(chan).GetExtendedAgentCard(
            a2a_pb2.GetExtendedAgentCardRequest(), metadata=auth)
        old = await a2a_v0_3_pb2_grpc.A2AServiceStub(chan).GetAgentCard(
            a2a_v0_3_pb2.GetAgentCardRequest(), metadata=auth)
    assert card.name and card.skills
    assert (old.name, old.protocol_version) == (card.name, "0.3.0")
    assert [s.id for s in old.skills] == [s.id for s in card.skills]
    assert set(old.security_schemes) == set(card.security_schemes) != set()
    for name, scheme in card.security_schemes.items():
        assert old.security_schemes[name].SerializeToString() == scheme.SerializeToString()
