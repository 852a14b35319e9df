"""The official a2a-sdk clients (JSON-RPC and HTTP+JSON) against the HTTP transport on a
real server on port 0: the card resolved and a client made from it, unary and streaming
sends, GetTask, errors mapped back to the SDK's own classes, auth refusals; and arbitrary
bytes as a JSON-RPC body never answered 500 nor taking the server down (hypothesis)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import msgspec
import pytest
from a2a.client import ClientConfig, ClientFactory
from a2a.client.errors import A2AClientError
from a2a.client.transports.jsonrpc import JsonRpcTransport
from a2a.client.transports.rest import RestTransport
from a2a.types.a2a_pb2 import (
    AgentCard,
    GetTaskRequest,
    ListTasksRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    TaskState,
)
from a2a.utils.errors import InvalidParamsError, TaskNotFoundError
from codetether.daemon.api import API, CallContext, Method
from codetether.daemon.errors import TaskNotFound
from codetether.daemon.transports.http import HttpListener
from codetether.daemon.wire import a2a
from google.protobuf.json_format import ParseDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TOKEN = "sdk-token"


class Empty(msgspec.Struct):
    pass


def _task(task_id: str, state: a2a.TaskState, **more: Any) -> a2a.Task:
    return a2a.Task(id=task_id, context_id="c-1", status=a2a.TaskStatus(state=state), **more)


def build(card: a2a.AgentCard) -> API:
    """A trivial agent over the wire Structs: what helper "tasks"' table will look like."""
    listed: list[a2a.ListTasksRequest] = []

    async def send(p: a2a.SendMessageRequest, ctx: CallContext) -> a2a.SendMessageResponse:
        text = p.message.parts[0].text or ""
        artifact = a2a.Artifact(artifact_id="a", parts=[a2a.Part(text=text[::-1])])
        return a2a.SendMessageResponse(task=_task("t-1", "TASK_STATE_COMPLETED", artifacts=[artifact]))

    async def stream(p: a2a.SendMessageRequest, ctx: CallContext) -> AsyncIterator[a2a.StreamResponse]:
        yield a2a.StreamResponse(task=_task("t-2", "TASK_STATE_WORKING"))
        for word in (p.message.parts[0].text or "").split():
            update = a2a.TaskArtifactUpdateEvent(task_id="t-2", context_id="c-1", append=True,
                                                 artifact=a2a.Artifact(artifact_id="a",
                                                                       parts=[a2a.Part(text=word)]))
            yield a2a.StreamResponse(artifact_update=update)
        done = a2a.TaskStatus(state="TASK_STATE_COMPLETED")
        yield a2a.StreamResponse(status_update=a2a.TaskStatusUpdateEvent(task_id="t-2", context_id="c-1",
                                                                          status=done))

    async def get_task(p: a2a.GetTaskRequest, ctx: CallContext) -> a2a.Task:
        if p.id != "t-1":
            raise TaskNotFound(f"no task {p.id}", data={"taskId": p.id})
        return _task("t-1", "TASK_STATE_COMPLETED")

    async def list_tasks(p: a2a.ListTasksRequest, ctx: CallContext) -> a2a.ListTasksResponse:
        listed.append(p)
        return a2a.ListTasksResponse(tasks=[_task("t-1", p.status)], page_size=p.page_size or 50, total_size=1)

    async def get_card(p: Empty, ctx: CallContext) -> a2a.AgentCard:
        return card

    api = API()
    api.add(Method("SendMessage", send, a2a.SendMessageRequest, a2a.SendMessageResponse))
    api.add(Method("SendStreamingMessage", stream, a2a.SendMessageRequest, None, streaming=True))
    api.add(Method("GetTask", get_task, a2a.GetTaskRequest, a2a.Task))
    api.add(Method("ListTasks", list_tasks, a2a.ListTasksRequest, a2a.ListTasksResponse))
    api.add(Method("GetAgentCard", get_card, Empty, a2a.AgentCard))
    return api


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, dict[str, Any]]]:
    card = a2a.AgentCard(name="fake", description="d", version="1",
                         capabilities=a2a.AgentCapabilities(streaming=True),
                         default_input_modes=["text/plain"], default_output_modes=["text/plain"])
    listener = HttpListener(build(card), host="127.0.0.1", port=0, token=TOKEN, max_body_bytes=1 << 16, v03={})
    url = await listener.start()
    card.supported_interfaces = [
        a2a.AgentInterface(url=url + "/a2a/", protocol_binding="JSONRPC", protocol_version="1.0"),
        a2a.AgentInterface(url=url, protocol_binding="HTTP+JSON", protocol_version="1.0")]
    yield url, msgspec.to_builtins(card)
    await listener.stop_accepting()
    await listener.drain(2.0)


def request(text: str) -> SendMessageRequest:
    return SendMessageRequest(message=Message(message_id="m-1", role=Role.ROLE_USER, parts=[Part(text=text)]))


@pytest.mark.parametrize("binding", ["JSONRPC", "HTTP+JSON"])
async def test_sdk_client_from_the_card(served: tuple[str, dict[str, Any]], binding: str) -> None:
    url, _ = served
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        for streaming in (False, True):
            config = ClientConfig(httpx_client=http, streaming=streaming, supported_protocol_bindings=[binding])
            client = await ClientFactory(config).create_from_url(url)
            events = [e async for e in client.send_message(request("alpha beta"))]
            if streaming:
                assert [e.WhichOneof("payload") for e in events] == \
                    ["task", "artifact_update", "artifact_update", "status_update"]
                assert events[2].artifact_update.artifact.parts[0].text == "beta"
            else:
                assert events[0].task.artifacts[0].parts[0].text == "ateb ahpla"
            assert (await client.get_task(GetTaskRequest(id="t-1"))).status.state == 3  # COMPLETED
            with pytest.raises(TaskNotFoundError):
                await client.get_task(GetTaskRequest(id="gone"))


@pytest.mark.parametrize("transport", [JsonRpcTransport, RestTransport])
async def test_sdk_transports_map_errors_and_refusals(served: tuple[str, dict[str, Any]], transport: Any) -> None:
    url, card = served
    proto_card = ParseDict(card, AgentCard(), ignore_unknown_fields=True)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}", "A2A-Version": "1.0"}) as http:
        client = transport(http, proto_card, url)
        with pytest.raises(TaskNotFoundError) as caught:
            await client.get_task(GetTaskRequest(id="gone"))
        assert caught.value.data == {"taskId": "gone"} or transport is RestTransport
        if transport is JsonRpcTransport:  # a message without parts: the field is named
            with pytest.raises(InvalidParamsError, match="message"):
                await client.send_message(SendMessageRequest())
        assert (await client.send_message(request("ok"))).task.id == "t-1"
    async with httpx.AsyncClient(headers={"Authorization": "Bearer nope"}) as http:
        with pytest.raises(A2AClientError, match="401"):
            await transport(http, proto_card, url).get_task(GetTaskRequest(id="t-1"))


async def test_rest_query_params_are_typed_by_the_request_struct(served: tuple[str, dict[str, Any]]) -> None:
    url, card = served
    proto_card = ParseDict(card, AgentCard(), ignore_unknown_fields=True)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}", "A2A-Version": "1.0"}) as http:
        sdk = RestTransport(http, proto_card, url)
        answer = await sdk.list_tasks(ListTasksRequest(page_size=2, status=TaskState.TASK_STATE_WORKING,
                                                       include_artifacts=True))
        assert answer.page_size == 2 and answer.tasks[0].status.state == TaskState.TASK_STATE_WORKING
        r = await http.get(url + "/tasks", params={"pageSize": "x"})
        assert r.status_code == 400 and "pageSize" in r.json()["error"]["message"]


class Threaded:
    """The listener on its own loop in a thread, for hypothesis's synchronous tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="http-test-loop", daemon=True)
        self.thread.start()
        card = a2a.AgentCard(name="x", description="x", version="1", capabilities=a2a.AgentCapabilities())
        self.listener = HttpListener(build(card), host="127.0.0.1", port=0, token=TOKEN,
                                     max_body_bytes=4096, v03={})
        self.url = asyncio.run_coroutine_threadsafe(self.listener.start(), self.loop).result(10)
        self.http = httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)

    def close(self) -> None:
        self.http.close()
        asyncio.run_coroutine_threadsafe(self.listener.drain(1.0), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def threaded() -> Iterator[Threaded]:
    server = Threaded()
    yield server
    server.close()


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                     max_leaves=12)
_frames = st.fixed_dictionaries({"jsonrpc": st.sampled_from(["2.0", "1.0"]),
                                 "method": st.sampled_from(["SendMessage", "GetTask", "x", "message/send"]),
                                 "params": _json, "id": _json})
_bodies = st.one_of(st.binary(max_size=600),
                    _json.map(lambda v: json.dumps(v).encode()),
                    _frames.map(lambda v: json.dumps(v).encode()),
                    st.lists(_frames, max_size=3).map(lambda v: json.dumps(v).encode()))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_bodies, content_type=st.sampled_from(["application/json", "text/plain", "application/a2a+json"]))
def test_arbitrary_bodies_never_500(threaded: Threaded, body: bytes, content_type: str) -> None:
    r = threaded.http.post(threaded.url + "/", content=body, headers={"Content-Type": content_type})
    assert r.status_code in (200, 204), (r.status_code, r.text)
    if r.status_code == 200:
        answer = r.json()
        assert isinstance(answer, (dict, list))
    alive = threaded.http.get(threaded.url + "/health")
    assert alive.status_code == 200
