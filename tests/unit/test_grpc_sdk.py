"""The official a2a-sdk (1.3.0) gRPC client against our listener: A2A 1.0 and its 0.3
compatibility transport, over the fake A2A table of test_grpc_listener."""

from __future__ import annotations

import importlib.util
import pathlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from a2a.client import ClientConfig, ClientFactory
from a2a.client.client import ClientCallContext
from a2a.types import a2a_pb2 as sdk
from a2a.utils.errors import TaskNotFoundError, UnsupportedOperationError
from codetether.daemon.transports.grpc import GrpcListener

# The fake table lives beside its raw-stub tests; load it from there (tests are not a package).
_spec = importlib.util.spec_from_file_location(
    "_grpc_fake", pathlib.Path(__file__).with_name("test_grpc_listener.py"))
assert _spec is not None and _spec.loader is not None
_fake = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fake)
FakeA2A, TOKEN = _fake.FakeA2A, _fake.TOKEN
AUTH = ClientCallContext(service_parameters={"authorization": f"Bearer {TOKEN}"})


@pytest.fixture
async def listener() -> AsyncIterator[tuple[GrpcListener, Any]]:
    fake = FakeA2A()
    server = GrpcListener(fake.api(), "127.0.0.1", 0, token=TOKEN)
    await server.start()
    try:
        yield server, fake
    finally:
        await server.stop(None)


def _client(address: str, *, version: str, streaming: bool) -> Any:
    card = sdk.AgentCard(
        name="peer", description="peer", version="1",
        supported_interfaces=[sdk.AgentInterface(url=address, protocol_binding="GRPC",
                                                 protocol_version=version)],
        capabilities=sdk.AgentCapabilities(streaming=streaming))
    config = ClientConfig(streaming=streaming, supported_protocol_bindings=["GRPC"],
                          grpc_channel_factory=grpc.aio.insecure_channel)
    return ClientFactory(config).create(card)


def _send(text: str) -> sdk.SendMessageRequest:
    return sdk.SendMessageRequest(message=sdk.Message(
        message_id="m1", context_id="c1", role=sdk.ROLE_USER, parts=[sdk.Part(text=text)]))


@pytest.mark.parametrize("version", ["1.0", "0.3"])
async def test_sdk_client_sends_gets_and_lists(listener: tuple[GrpcListener, Any], version: str) -> None:
    server, fake = listener
    client = _client(server.address, version=version, streaming=False)
    try:
        items = [item async for item in client.send_message(_send("hi"), context=AUTH)]
        assert len(items) == 1
        task = items[0].task
        assert task.status.state == sdk.TASK_STATE_COMPLETED
        assert task.artifacts[0].parts[0].text == "echo: hi"
        got = await client.get_task(sdk.GetTaskRequest(id=task.id), context=AUTH)
        assert (got.id, got.context_id) == (task.id, "c1")
        with pytest.raises(TaskNotFoundError):
            await client.get_task(sdk.GetTaskRequest(id="nope"), context=AUTH)
        # What the API saw is 1.0 whatever the client spoke.
        name, params, ctx = fake.calls[0]
        assert name == "SendMessage" and params["message"]["parts"] == [{"text": "hi"}]
        assert ctx.principal == "a2a:bearer"
    finally:
        await client.close()


@pytest.mark.parametrize("version", ["1.0", "0.3"])
async def test_sdk_client_streams(listener: tuple[GrpcListener, Any], version: str) -> None:
    server, _ = listener
    client = _client(server.address, version=version, streaming=True)
    try:
        items = [item async for item in client.send_message(_send("go"), context=AUTH)]
        kinds = [item.WhichOneof("payload") for item in items]
        assert kinds == ["task", "status_update", "artifact_update", "status_update"]
        assert items[-1].status_update.status.state == sdk.TASK_STATE_COMPLETED
        assert items[2].artifact_update.artifact.parts[0].text == "chunk"
        with pytest.raises(UnsupportedOperationError):  # the task is terminal now
            [i async for i in client.subscribe(sdk.SubscribeToTaskRequest(id=items[0].task.id),
                                               context=AUTH)]
    finally:
        await client.close()


async def test_sdk_client_without_the_token_is_refused(listener: tuple[GrpcListener, Any]) -> None:
    server, fake = listener
    client = _client(server.address, version="1.0", streaming=False)
    try:
        with pytest.raises(Exception, match="UNAUTHENTICATED"):
            [item async for item in client.send_message(_send("hi"))]
        assert fake.calls == []
    finally:
        await client.close()
