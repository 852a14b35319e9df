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
from a2a.types.a2a_pb2 import AgentCard, GetTaskRequest, Message, Part, Role, SendMessageRequest
from a2a.utils.errors import InvalidParamsError, TaskNotFoundError
from codetether.daemon.api import API, CallContext, Method
from codetether.daemon.errors import TaskNotFound
from codetether.daemon.transports.http import HttpListener
from google.protobuf.json_format import ParseDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TOKEN = "sdk-token"


class Empty(msgspec.Struct):
    pass


class SendReq(msgspec.Struct, rename="camel"):
    message: dict[str, Any]
    configuration: dict[str, Any] | None = None


class GetTaskReq(msgspec.Struct, rename="camel"):
    id: str
    history_length: int | None = None


def _task(task_id: str, state: str) -> dict[str, Any]:
    return {"id": task_id, "contextId": "c-1", "status": {"state": state}}


def build(card: dict[str, Any]) -> API:
    async def send(p: SendReq, ctx: CallContext) -> dict[str, Any]:
        text = p.message["parts"][0]["text"]
        return {"task": {**_task("t-1", "TASK_STATE_COMPLETED"),
                         "artifacts": [{"artifactId": "a", "parts": [{"text": text[::-1]}]}]}}

    async def stream(p: SendReq, ctx: CallContext) -> AsyncIterator[dict[str, Any]]:
        yield {"task": _task("t-2", "TASK_STATE_WORKING")}
        for word in p.message["parts"][0]["text"].split():
            yield {"artifactUpdate": {"taskId": "t-2", "contextId": "c-1", "append": True,
                                      "artifact": {"artifactId": "a", "parts": [{"text": word}]}}}
        yield {"statusUpdate": {"taskId": "t-2", "contextId": "c-1", "status": {"state": "TASK_STATE_COMPLETED"}}}

    async def get_task(p: GetTaskReq, ctx: CallContext) -> dict[str, Any]:
        if p.id != "t-1":
            raise TaskNotFound(f"no task {p.id}", data={"taskId": p.id})
        return _task("t-1", "TASK_STATE_COMPLETED")

    async def get_card(p: Empty, ctx: CallContext) -> dict[str, Any]:
        return card

    api = API()
    api.add(Method("SendMessage", send, SendReq, dict))
    api.add(Method("SendStreamingMessage", stream, SendReq, None, streaming=True))
    api.add(Method("GetTask", get_task, GetTaskReq, dict))
    api.add(Method("GetAgentCard", get_card, Empty, dict))
    return api


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, dict[str, Any]]]:
    card: dict[str, Any] = {"name": "fake", "description": "d", "version": "1",
                            "capabilities": {"streaming": True}, "defaultInputModes": ["text/plain"],
                            "defaultOutputModes": ["text/plain"]}
    listener = HttpListener(build(card), host="127.0.0.1", port=0, token=TOKEN, max_body_bytes=1 << 16, v03={})
    url = await listener.start()
    card["supportedInterfaces"] = [
        {"url": url + "/a2a/", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"},
        {"url": url, "protocolBinding": "HTTP+JSON", "protocolVersion": "1.0"}]
    yield url, card
    await listener.stop_accepting()
    await listener.drain(2.0)


def request(text: str) -> SendMessageRequest:
    return SendMessageRequest(message=Message(message_id="m-1", role=Role.ROLE_USER, parts=[Part(text=text)]))


@pytest.mark.parametrize("binding", ["JSONRPC", "HTTP+JSON"])
async def test_sdk_client_from_the_card(served: tuple[str, dict[str, Any]], binding: str):
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
async def test_sdk_transports_map_errors_and_refusals(served: tuple[str, dict[str, Any]], transport: Any):
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


class Threaded:
    """The listener on its own loop in a thread, for hypothesis's synchronous tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="http-test-loop", daemon=True)
        self.thread.start()
        self.listener = HttpListener(build({"name": "x"}), host="127.0.0.1", port=0, token=TOKEN,
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
def test_arbitrary_bodies_never_500(threaded: Threaded, body: bytes, content_type: str):
    r = threaded.http.post(threaded.url + "/", content=body, headers={"Content-Type": content_type})
    assert r.status_code in (200, 204), (r.status_code, r.text)
    if r.status_code == 200:
        answer = r.json()
        assert isinstance(answer, (dict, list))
    alive = threaded.http.get(threaded.url + "/health")
    assert alive.status_code == 200
