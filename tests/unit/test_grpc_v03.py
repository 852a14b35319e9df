"""A2A 0.3 over gRPC (a2a.v1.A2AService): raw 0.3 stubs against the listener, the
conversions to and from 1.0, and 0.3's error names."""

from __future__ import annotations

import importlib.util
import pathlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from a2a.utils.errors import JSON_RPC_ERROR_CODE_MAP
from codetether.daemon.errors import ERROR_TABLE
from codetether.daemon.transports.grpc import GrpcListener, ProtoJsonV03
from codetether.daemon.transports.grpc._generated import a2a_v0_3_pb2 as v03
from codetether.daemon.transports.grpc._generated import a2a_v0_3_pb2_grpc
from codetether.daemon.transports.grpc._status import legacy_name
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2

_spec = importlib.util.spec_from_file_location(
    "_grpc_fake", pathlib.Path(__file__).with_name("test_grpc_listener.py"))
assert _spec is not None and _spec.loader is not None
_fake = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fake)
FakeA2A, TOKEN = _fake.FakeA2A, _fake.TOKEN
AUTH = (("authorization", f"Bearer {TOKEN}"), ("a2a-version", "0.3"))


@pytest.fixture
async def stub_and_fake() -> AsyncIterator[tuple[Any, Any]]:
    fake = FakeA2A()
    server = GrpcListener(fake.api(), "127.0.0.1", 0, token=TOKEN)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as chan:
            yield a2a_v0_3_pb2_grpc.A2AServiceStub(chan), fake
    finally:
        await server.stop(None)


def _send(text: str, **config: Any) -> v03.SendMessageRequest:
    body: dict[str, Any] = {"message": {"messageId": "m1", "contextId": "c1", "role": "ROLE_USER",
                                        "content": [{"text": text}]}}
    if config:
        body["configuration"] = config
    return json_format.ParseDict(body, v03.SendMessageRequest())


async def test_raw_0_3_stubs_speak_every_rpc(stub_and_fake: tuple[Any, Any]) -> None:
    stub, fake = stub_and_fake
    sent = await stub.SendMessage(_send("hi", blocking=True, historyLength=3), metadata=AUTH)
    assert sent.task.status.state == v03.TASK_STATE_COMPLETED
    assert sent.task.artifacts[0].parts[0].text == "echo: hi"
    assert sent.task.history[0].content[0].text == "hi"
    _, params, _ = fake.calls[0]
    assert params["configuration"] == {"historyLength": 3, "returnImmediately": False}
    assert params["message"]["parts"] == [{"text": "hi"}]
    reply = await stub.SendMessage(_send("reply"), metadata=AUTH)
    assert reply.msg.content[0].text == "hello" and reply.msg.role == v03.ROLE_AGENT

    name = f"tasks/{sent.task.id}"
    assert (await stub.GetTask(v03.GetTaskRequest(name=name), metadata=AUTH)).context_id == "c1"
    config = v03.TaskPushNotificationConfig(push_notification_config=v03.PushNotificationConfig(
        url="https://example.com/hook", authentication=v03.AuthenticationInfo(schemes=["Bearer"])))
    made = await stub.CreateTaskPushNotificationConfig(
        v03.CreateTaskPushNotificationConfigRequest(parent=name, config_id="hook", config=config), metadata=AUTH)
    assert made.name == f"{name}/pushNotificationConfigs/hook"
    assert list(made.push_notification_config.authentication.schemes) == ["Bearer"]
    one = await stub.GetTaskPushNotificationConfig(
        v03.GetTaskPushNotificationConfigRequest(name=made.name), metadata=AUTH)
    assert one.push_notification_config.url == "https://example.com/hook"
    many = await stub.ListTaskPushNotificationConfig(
        v03.ListTaskPushNotificationConfigRequest(parent=name), metadata=AUTH)
    assert [c.name for c in many.configs] == [made.name]
    await stub.DeleteTaskPushNotificationConfig(
        v03.DeleteTaskPushNotificationConfigRequest(name=made.name), metadata=AUTH)
    assert fake.configs == {}

    card = await stub.GetAgentCard(v03.GetAgentCardRequest(), metadata=AUTH)
    assert (card.protocol_version, card.preferred_transport, card.url) == ("0.3.0", "GRPC", "127.0.0.1:1")
    assert card.supports_authenticated_extended_card and card.capabilities.streaming
    assert "bearer" in card.skills[0].security[0].schemes

    items = [i async for i in stub.SendStreamingMessage(_send("go"), metadata=AUTH)]
    assert [i.WhichOneof("payload") for i in items] == ["task", "status_update", "artifact_update",
                                                        "status_update"]
    assert [items[1].status_update.final, items[3].status_update.final] == [False, True]

    stay = await stub.SendMessage(_send("stay"), metadata=AUTH)
    subscribed = [i async for i in stub.TaskSubscription(
        v03.TaskSubscriptionRequest(name=f"tasks/{stay.task.id}"), metadata=AUTH)]
    assert [i.task.id for i in subscribed] == [stay.task.id]
    canceled = await stub.CancelTask(v03.CancelTaskRequest(name=f"tasks/{stay.task.id}"), metadata=AUTH)
    assert canceled.status.state == v03.TASK_STATE_CANCELLED  # 0.3's spelling
    assert [c[0] for c in fake.calls][-2:] == ["SubscribeToTask", "CancelTask"]


async def test_0_3_errors_carry_the_type_name_and_error_info(stub_and_fake: tuple[Any, Any]) -> None:
    stub, _ = stub_and_fake
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetTask(v03.GetTaskRequest(name="tasks/nope"), metadata=AUTH)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert err.value.details() == "TaskNotFoundError: no task 'nope'"
    status = status_pb2.Status.FromString(dict(err.value.trailing_metadata())["grpc-status-details-bin"])
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info) and info.reason == "TASK_NOT_FOUND"
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await stub.GetTask(v03.GetTaskRequest(name="jobs/1"), metadata=AUTH)
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad.value.details().startswith("InvalidParamsError: name: expected tasks/{id}")


def test_legacy_names_are_the_0_3_type_names() -> None:
    theirs = {code: cls.__name__ for cls, code in JSON_RPC_ERROR_CODE_MAP.items()}
    for cls, codes in ERROR_TABLE.items():
        name = legacy_name(cls("x"))
        if codes.jsonrpc in theirs and cls is next(c for c, k in ERROR_TABLE.items() if k.jsonrpc == codes.jsonrpc):
            assert name == theirs[codes.jsonrpc], cls
        if codes.jsonrpc > -32000 or codes.jsonrpc == -32800:
            assert name is None, cls  # codetether's own, and LSP's cancel


def test_parts_convert_both_ways() -> None:
    adapter = ProtoJsonV03()
    _, params = adapter.request("SendMessage", {"message": {"messageId": "m", "role": "ROLE_USER", "content": [
        {"file": {"fileWithUri": "https://x/y.png", "mimeType": "image/png", "name": "y.png"}},
        {"file": {"fileWithBytes": "aGk="}},
        {"data": {"data": {"k": 1}}, "metadata": {"m": True}}]}})
    assert params["message"]["parts"] == [
        {"url": "https://x/y.png", "mediaType": "image/png", "filename": "y.png"},
        {"raw": "aGk="}, {"data": {"k": 1}, "metadata": {"m": True}}]
    back = adapter.result("SendMessage", {"message": {**params["message"], "parts": [
        *params["message"]["parts"], {"data": [1, 2]}], "referenceTaskIds": ["t0"]}})
    assert back["message"]["content"] == [
        {"file": {"fileWithUri": "https://x/y.png", "mimeType": "image/png", "name": "y.png"}},
        {"file": {"fileWithBytes": "aGk="}}, {"data": {"data": {"k": 1}}, "metadata": {"m": True}},
        {"data": {"data": {"value": [1, 2]}}}]
    assert "referenceTaskIds" not in back["message"]  # 0.3 has no such field
    assert adapter.request("SendMessage", {"configuration": {}})[1]["configuration"] == {
        "returnImmediately": True}  # 0.3's blocking defaults to false
    assert adapter.request("GetTask", {"name": "tasks/a", "historyLength": 2}) == (
        "GetTask", {"id": "a", "historyLength": 2})
    with pytest.raises(Exception, match="pushNotificationConfigs"):
        adapter.request("DeleteTaskPushNotificationConfig", {"name": "tasks/a"})
