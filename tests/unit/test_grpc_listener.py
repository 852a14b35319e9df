"""The gRPC listener, for real: a grpcio aio server on port 0 over a small in-process A2A
table, called by raw stubs from ``_generated`` and by the official a2a-sdk gRPC client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from codetether.daemon.api import API, CallContext, Method
from codetether.daemon.errors import (
    ERROR_TABLE,
    MethodNotFound,
    TaskNotFound,
    UnsupportedOperation,
    VersionNotSupported,
)
from codetether.daemon.transports.grpc import GrpcListener
from codetether.daemon.transports.grpc._generated import (
    a2a_pb2,
    a2a_pb2_grpc,
    a2a_v0_3_pb2,
    a2a_v0_3_pb2_grpc,
)
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

TOKEN = "s3cret-token"
AUTH = (("authorization", f"Bearer {TOKEN}"),)
BY_REASON = {codes.reason: cls for cls, codes in ERROR_TABLE.items()}
TERMINAL = {"TASK_STATE_COMPLETED", "TASK_STATE_CANCELED", "TASK_STATE_FAILED", "TASK_STATE_REJECTED"}
Json = dict[str, Any]


class FakeA2A:
    """A2A methods over dicts, the shapes of the proto3 JSON mapping. A text or id of
    ``raise:<REASON>`` raises that error class; ``reply`` answers with a message."""

    def __init__(self) -> None:
        self.tasks: dict[str, Json] = {}
        self.configs: dict[tuple[str, str], Json] = {}
        self.calls: list[tuple[str, Json, CallContext]] = []

    def api(self, *, without: tuple[str, ...] = ()) -> API:
        api = API()
        unary = {"SendMessage": self.send, "GetTask": self.get, "ListTasks": self.list,
                 "CancelTask": self.cancel, "CreateTaskPushNotificationConfig": self.create_config,
                 "GetTaskPushNotificationConfig": self.get_config,
                 "ListTaskPushNotificationConfigs": self.list_configs,
                 "DeleteTaskPushNotificationConfig": self.delete_config,
                 "GetExtendedAgentCard": self.card, "GetAgentCard": self.card}
        for name, handler in unary.items():
            if name not in without:
                api.add(Method(name, self._seen(name, handler), dict[str, Any], dict[str, Any]))
        api.add(Method("SendStreamingMessage", self._seen("SendStreamingMessage", self.stream),
                       dict[str, Any], None, streaming=True))
        api.add(Method("SubscribeToTask", self._seen("SubscribeToTask", self.subscribe),
                       dict[str, Any], None, streaming=True))
        return api

    def _seen(self, name: str, handler: Any) -> Any:
        def wrapped(params: Json, ctx: CallContext) -> Any:
            self.calls.append((name, params, ctx))
            return handler(params, ctx)
        return wrapped

    @staticmethod
    def _maybe_raise(value: str) -> None:
        if value.startswith("raise:"):
            raise BY_REASON[value.removeprefix("raise:")](f"asked to raise {value}", data={"x": 1})

    def _task(self, params: Json, state: str) -> Json:
        msg = params["message"]
        text = msg["parts"][0].get("text", "")
        self._maybe_raise(text)
        task = {"id": f"t{len(self.tasks) + 1}", "contextId": msg.get("contextId", "c1"),
                "status": {"state": state, "timestamp": "2026-11-30T12:00:00Z"},
                "artifacts": [{"artifactId": "a1", "parts": [{"text": f"echo: {text}"}]}],
                "history": [msg]}
        self.tasks[task["id"]] = task
        return task

    async def send(self, params: Json, ctx: CallContext) -> Json:
        if params["message"]["parts"][0].get("text") == "reply":
            return {"message": {"messageId": "r1", "role": "ROLE_AGENT", "parts": [{"text": "hello"}]}}
        state = "TASK_STATE_WORKING" if params["message"]["parts"][0].get("text") == "stay" \
            else "TASK_STATE_COMPLETED"
        return {"task": self._task(params, state)}

    async def stream(self, params: Json, ctx: CallContext) -> AsyncIterator[Json]:
        task = self._task(params, "TASK_STATE_SUBMITTED")
        ids = {"taskId": task["id"], "contextId": task["contextId"]}
        yield {"task": task}
        yield {"statusUpdate": {**ids, "status": {"state": "TASK_STATE_WORKING"}}}
        yield {"artifactUpdate": {**ids, "artifact": {"artifactId": "a1", "parts": [{"text": "chunk"}]},
                                  "lastChunk": True}}
        task["status"] = {"state": "TASK_STATE_COMPLETED"}
        yield {"statusUpdate": {**ids, "status": {"state": "TASK_STATE_COMPLETED"}}}

    async def get(self, params: Json, ctx: CallContext) -> Json:
        self._maybe_raise(params.get("id", ""))
        if params.get("id") not in self.tasks:
            raise TaskNotFound(f"no task {params.get('id')!r}")
        return self.tasks[params["id"]]

    async def list(self, params: Json, ctx: CallContext) -> Json:
        tasks = list(self.tasks.values())
        return {"tasks": tasks, "nextPageToken": "", "pageSize": 50, "totalSize": len(tasks)}

    async def cancel(self, params: Json, ctx: CallContext) -> Json:
        task = await self.get(params, ctx)
        task["status"] = {"state": "TASK_STATE_CANCELED"}
        return task

    async def subscribe(self, params: Json, ctx: CallContext) -> AsyncIterator[Json]:
        task = await self.get(params, ctx)
        if task["status"]["state"] in TERMINAL:
            raise UnsupportedOperation(f"task {task['id']} is already terminal")
        yield {"task": task}

    async def create_config(self, params: Json, ctx: CallContext) -> Json:
        await self.get({"id": params["taskId"]}, ctx)
        config = {**params, "id": params.get("id") or f"p{len(self.configs) + 1}"}
        self.configs[(config["taskId"], config["id"])] = config
        return config

    async def get_config(self, params: Json, ctx: CallContext) -> Json:
        return self.configs[(params["taskId"], params["id"])]

    async def list_configs(self, params: Json, ctx: CallContext) -> Json:
        return {"configs": [c for (t, _), c in self.configs.items() if t == params["taskId"]]}

    async def delete_config(self, params: Json, ctx: CallContext) -> None:
        self.configs.pop((params["taskId"], params["id"]))

    async def card(self, params: Json, ctx: CallContext) -> Json:
        return {"name": "fake", "description": "a fake agent", "version": "1",
                "supportedInterfaces": [{"url": "127.0.0.1:1", "protocolBinding": "GRPC",
                                         "protocolVersion": "1.0"}],
                "capabilities": {"streaming": True, "extendedAgentCard": True},
                "defaultInputModes": ["text/plain"], "defaultOutputModes": ["text/plain"],
                "skills": [{"id": "s", "name": "s", "description": "d", "tags": ["t"],
                            "securityRequirements": [{"schemes": {"bearer": {"list": []}}}]}]}


@pytest.fixture
def fake() -> FakeA2A:
    return FakeA2A()


@pytest.fixture
async def listener(fake: FakeA2A) -> AsyncIterator[GrpcListener]:
    server = GrpcListener(fake.api(), "127.0.0.1", 0, token=TOKEN)
    await server.start()
    try:
        yield server
    finally:
        await server.stop(None)


@pytest.fixture
async def channel(listener: GrpcListener) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(listener.address) as chan:
        yield chan


def _message(text: str, **extra: Any) -> Json:
    return {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": text}], **extra}


def _error_info(err: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    raw = dict(err.trailing_metadata() or ())["grpc-status-details-bin"]
    status = status_pb2.Status.FromString(raw)
    assert status.code == err.code().value[0] and status.message == err.details()
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return info


async def test_raw_stubs_speak_every_1_0_rpc(channel: grpc.aio.Channel, fake: FakeA2A) -> None:
    stub = a2a_pb2_grpc.A2AServiceStub(channel)
    req = json_format.ParseDict({"message": _message("hi", contextId="c9")}, a2a_pb2.SendMessageRequest())
    sent = await stub.SendMessage(req, metadata=AUTH)
    assert sent.task.status.state == a2a_pb2.TASK_STATE_COMPLETED
    assert sent.task.artifacts[0].parts[0].text == "echo: hi"
    assert sent.task.status.timestamp.ToJsonString() == "2026-11-30T12:00:00Z"
    reply = await stub.SendMessage(json_format.ParseDict({"message": _message("reply")},
                                                         a2a_pb2.SendMessageRequest()), metadata=AUTH)
    assert reply.WhichOneof("payload") == "message" and reply.message.parts[0].text == "hello"

    got = await stub.GetTask(a2a_pb2.GetTaskRequest(id=sent.task.id), metadata=AUTH)
    assert got.context_id == "c9"
    listed = await stub.ListTasks(a2a_pb2.ListTasksRequest(), metadata=AUTH)
    assert [t.id for t in listed.tasks] == [sent.task.id] and listed.total_size == 1

    config = a2a_pb2.TaskPushNotificationConfig(task_id=sent.task.id, url="https://example.com/hook",
                                                authentication=a2a_pb2.AuthenticationInfo(scheme="Bearer"))
    made = await stub.CreateTaskPushNotificationConfig(config, metadata=AUTH)
    assert made.id == "p1"
    one = await stub.GetTaskPushNotificationConfig(
        a2a_pb2.GetTaskPushNotificationConfigRequest(task_id=sent.task.id, id="p1"), metadata=AUTH)
    assert one.url == "https://example.com/hook" and one.authentication.scheme == "Bearer"
    many = await stub.ListTaskPushNotificationConfigs(
        a2a_pb2.ListTaskPushNotificationConfigsRequest(task_id=sent.task.id), metadata=AUTH)
    assert [c.id for c in many.configs] == ["p1"]
    await stub.DeleteTaskPushNotificationConfig(
        a2a_pb2.DeleteTaskPushNotificationConfigRequest(task_id=sent.task.id, id="p1"), metadata=AUTH)
    assert fake.configs == {}

    card = await stub.GetExtendedAgentCard(a2a_pb2.GetExtendedAgentCardRequest(), metadata=AUTH)
    assert card.name == "fake" and card.capabilities.streaming

    items = [item async for item in stub.SendStreamingMessage(req, metadata=AUTH)]
    assert [i.WhichOneof("payload") for i in items] == ["task", "status_update", "artifact_update",
                                                        "status_update"]
    assert items[2].artifact_update.last_chunk and items[3].status_update.status.state == 3

    stay = await stub.SendMessage(json_format.ParseDict({"message": _message("stay")},
                                                        a2a_pb2.SendMessageRequest()), metadata=AUTH)
    subscribed = [i async for i in stub.SubscribeToTask(a2a_pb2.SubscribeToTaskRequest(id=stay.task.id),
                                                        metadata=AUTH)]
    assert [i.task.id for i in subscribed] == [stay.task.id]
    canceled = await stub.CancelTask(a2a_pb2.CancelTaskRequest(id=stay.task.id), metadata=AUTH)
    assert canceled.status.state == a2a_pb2.TASK_STATE_CANCELED

    name, params, ctx = fake.calls[0]
    assert (name, params["message"]["contextId"]) == ("SendMessage", "c9")
    assert (ctx.transport, ctx.principal, ctx.method) == ("grpc", "a2a:bearer", "SendMessage")
    assert ctx.peer["remote"].startswith("ipv4:127.0.0.1:")
    assert all(c.closed.is_set() for _, _, c in fake.calls)  # every call's context ended with it


@pytest.mark.parametrize("cls", list(ERROR_TABLE), ids=lambda c: c.__name__)
async def test_every_error_class_maps_to_its_status_and_reason(channel: grpc.aio.Channel,
                                                               cls: type[Exception]) -> None:
    codes = ERROR_TABLE[cls]
    stub = a2a_pb2_grpc.A2AServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as unary:
        await stub.GetTask(a2a_pb2.GetTaskRequest(id=f"raise:{codes.reason}"), metadata=AUTH)
    assert unary.value.code() == getattr(grpc.StatusCode, codes.grpc)
    info = _error_info(unary.value)
    assert (info.reason, info.domain) == (codes.reason, "a2a-protocol.org")
    assert info.metadata["message"] == f"asked to raise raise:{codes.reason}"
    assert info.metadata["data"] == '{"x":1}'
    # The same inside a stream, before its first item.
    req = json_format.ParseDict({"message": _message(f"raise:{codes.reason}")}, a2a_pb2.SendMessageRequest())
    with pytest.raises(grpc.aio.AioRpcError) as streamed:
        [i async for i in stub.SendStreamingMessage(req, metadata=AUTH)]
    assert streamed.value.code() == getattr(grpc.StatusCode, codes.grpc)
    assert _error_info(streamed.value).reason == codes.reason


async def test_a_method_the_table_lacks_is_unimplemented(fake: FakeA2A) -> None:
    server = GrpcListener(fake.api(without=("ListTasks",)), "127.0.0.1", 0, token=TOKEN)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as chan:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await a2a_pb2_grpc.A2AServiceStub(chan).ListTasks(a2a_pb2.ListTasksRequest(), metadata=AUTH)
            assert err.value.code() == getattr(grpc.StatusCode, ERROR_TABLE[MethodNotFound].grpc)
            assert _error_info(err.value).reason == "METHOD_NOT_FOUND"
    finally:
        await server.stop(None)


@pytest.mark.parametrize("metadata", [(), (("authorization", "Bearer wrong"),),
                                      (("authorization", f"Basic {TOKEN}"),),
                                      (("authorization", f"Bearer {TOKEN}x"),)],
                         ids=["none", "wrong", "not-bearer", "longer"])
async def test_calls_without_the_token_are_unauthenticated(channel: grpc.aio.Channel, fake: FakeA2A,
                                                           metadata: tuple[tuple[str, str], ...]) -> None:
    stub = a2a_pb2_grpc.A2AServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as unary:
        await stub.ListTasks(a2a_pb2.ListTasksRequest(), metadata=metadata)
    assert unary.value.code() == grpc.StatusCode.UNAUTHENTICATED
    req = json_format.ParseDict({"message": _message("hi")}, a2a_pb2.SendMessageRequest())
    with pytest.raises(grpc.aio.AioRpcError) as streamed:
        [i async for i in stub.SendStreamingMessage(req, metadata=metadata)]
    assert streamed.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as old:
        await a2a_v0_3_pb2_grpc.A2AServiceStub(channel).GetAgentCard(a2a_v0_3_pb2.GetAgentCardRequest(),
                                                                     metadata=metadata)
    assert old.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert fake.calls == []  # nothing reached the API


async def test_health_and_reflection_are_public(channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "lf.a2a.v1.A2AService", "a2a.v1.A2AService"):
        answer = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
    requests = [reflection_pb2.ServerReflectionRequest(list_services=""),
                reflection_pb2.ServerReflectionRequest(file_containing_symbol="lf.a2a.v1.A2AService")]
    answers = [a async for a in reflect.ServerReflectionInfo(iter(requests))]
    names = {s.name for s in answers[0].list_services_response.service}
    assert {"lf.a2a.v1.A2AService", "a2a.v1.A2AService", "grpc.health.v1.Health"} <= names
    assert answers[1].file_descriptor_response.file_descriptor_proto  # described from our pool


@pytest.mark.parametrize("version", ["1.0", "1", "1.0.1", None])
async def test_a2a_versions_of_1_0_are_served(channel: grpc.aio.Channel, version: str | None) -> None:
    metadata = AUTH + ((("a2a-version", version),) if version else ())
    listed = await a2a_pb2_grpc.A2AServiceStub(channel).ListTasks(a2a_pb2.ListTasksRequest(), metadata=metadata)
    assert listed.page_size == 50


@pytest.mark.parametrize(("service", "version"), [("1.0", "2.0"), ("1.0", "0.3"), ("1.0", "1.1"),
                                                  ("0.3", "1.0"), ("1.0", "junk")])
async def test_an_unsupported_a2a_version_is_refused(channel: grpc.aio.Channel, fake: FakeA2A,
                                                     service: str, version: str) -> None:
    metadata = AUTH + (("a2a-version", version),)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        if service == "1.0":
            await a2a_pb2_grpc.A2AServiceStub(channel).ListTasks(a2a_pb2.ListTasksRequest(), metadata=metadata)
        else:
            await a2a_v0_3_pb2_grpc.A2AServiceStub(channel).GetAgentCard(a2a_v0_3_pb2.GetAgentCardRequest(),
                                                                         metadata=metadata)
    assert err.value.code() == getattr(grpc.StatusCode, ERROR_TABLE[VersionNotSupported].grpc)
    info = _error_info(err.value)
    assert info.reason == "VERSION_NOT_SUPPORTED" and version in info.metadata["message"]
    assert fake.calls == []


async def test_malformed_bytes_are_invalid_argument_and_the_server_keeps_serving(
        channel: grpc.aio.Channel) -> None:
    raw = channel.unary_unary("/lf.a2a.v1.A2AService/GetTask",
                              request_serializer=lambda b: b, response_deserializer=lambda b: b)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await raw(b"\xff\xff\xff\xff", metadata=AUTH)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _error_info(err.value).reason == "PARSE_ERROR"
    unknown = channel.unary_unary("/lf.a2a.v1.A2AService/NoSuchRpc",
                                  request_serializer=lambda b: b, response_deserializer=lambda b: b)
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await unknown(b"", metadata=AUTH)
    assert missing.value.code() == grpc.StatusCode.UNIMPLEMENTED
    # well-formed protobuf that JSON cannot hold (an infinite number in a Value)
    infinite = a2a_pb2.SendMessageRequest(message=a2a_pb2.Message(message_id="m", role=a2a_pb2.ROLE_USER))
    infinite.message.parts.add().data.number_value = float("inf")
    with pytest.raises(grpc.aio.AioRpcError) as unreadable:
        await a2a_pb2_grpc.A2AServiceStub(channel).SendMessage(infinite, metadata=AUTH)
    assert unreadable.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _error_info(unreadable.value).reason == "INVALID_PARAMS"
    far = a2a_pb2.ListTasksRequest()
    far.status_timestamp_after.seconds = 253402300800  # year 10000: no RFC 3339 spelling
    with pytest.raises(grpc.aio.AioRpcError) as undated:
        await a2a_pb2_grpc.A2AServiceStub(channel).ListTasks(far, metadata=AUTH)
    assert _error_info(undated.value).reason == "INVALID_PARAMS"
    listed = await a2a_pb2_grpc.A2AServiceStub(channel).ListTasks(a2a_pb2.ListTasksRequest(), metadata=AUTH)
    assert listed.page_size == 50


async def test_an_answer_that_does_not_fit_the_proto_is_invalid_agent_response(fake: FakeA2A) -> None:
    api = API()

    async def bad(params: Json, ctx: CallContext) -> Json:
        return {"tasks": "not a list"}

    api.add(Method("ListTasks", bad, dict[str, Any], dict[str, Any]))
    server = GrpcListener(api, "127.0.0.1", 0, token=TOKEN)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as chan:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await a2a_pb2_grpc.A2AServiceStub(chan).ListTasks(a2a_pb2.ListTasksRequest(), metadata=AUTH)
        assert err.value.code() == grpc.StatusCode.INTERNAL
        assert _error_info(err.value).reason == "INVALID_AGENT_RESPONSE"
    finally:
        await server.stop(None)


async def test_lifecycle_port_in_use_and_no_restart(fake: FakeA2A) -> None:
    first = GrpcListener(fake.api(), "127.0.0.1", 0, token=TOKEN)
    port = await first.start()
    assert port > 0 and first.address == f"127.0.0.1:{port}"
    second = GrpcListener(fake.api(), "127.0.0.1", port, token=TOKEN)
    try:
        with pytest.raises(Exception, match="cannot listen"):
            await second.start()
    finally:
        await second.stop(None)
        await first.stop(0)
    with pytest.raises(RuntimeError, match="stopped"):
        await first.start()
    with pytest.raises(ValueError, match="token"):
        GrpcListener(fake.api(), "127.0.0.1", 0, token="")
