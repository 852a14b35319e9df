"""The A2A HTTP transport over a small in-process API table, on a real aiohttp server on
port 0, called by a real HTTP client: JSON-RPC (unary, SSE, batches, 0.3 names), the
HTTP+JSON routes, the card with its ETag, the probes, auth, the body limit, every kind of
bad input, the audit record of each request, and an ordered shutdown. After each refusal
the server keeps serving."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import msgspec
import pytest
from codetether.daemon.api import API, CallContext, CallRecord, Method
from codetether.daemon.errors import TaskNotFound
from codetether.daemon.transports.http import HttpListener, ListenerState

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}", "A2A-Version": "1.0"}


class Part(msgspec.Struct, omit_defaults=True, rename="camel"):
    text: str | None = None


class Msg(msgspec.Struct, omit_defaults=True, rename="camel"):
    message_id: str
    role: str
    parts: list[Part]


class SendReq(msgspec.Struct, omit_defaults=True, rename="camel"):
    message: Msg
    tenant: str = ""


class GetTaskReq(msgspec.Struct, omit_defaults=True, rename="camel"):
    id: str
    history_length: int | None = None
    tenant: str = ""


class Empty(msgspec.Struct):
    pass


def task(task_id: str, state: str = "TASK_STATE_COMPLETED", **extra: Any) -> dict[str, Any]:
    return {"id": task_id, "contextId": "ctx-1", "status": {"state": state}, **extra}


@dataclass
class Fake:
    """The table's handlers, and what they saw."""

    seen: list[tuple[str, Any, CallContext]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    waiting: asyncio.Event = field(default_factory=asyncio.Event)
    records: list[CallRecord] = field(default_factory=list)

    async def send(self, p: SendReq, ctx: CallContext) -> dict[str, Any]:
        self.seen.append(("SendMessage", p, ctx))
        text = p.message.parts[0].text or ""
        if text == "wait":
            self.waiting.set()
            await self.release.wait()
        return {"task": task("t-1", artifacts=[{"artifactId": "a", "parts": [{"text": text.upper()}]}])}

    async def stream(self, p: SendReq, ctx: CallContext) -> AsyncIterator[dict[str, Any]]:
        yield {"task": task("t-2", "TASK_STATE_WORKING")}
        for word in (p.message.parts[0].text or "").split():
            if word == "boom":
                raise TaskNotFound("the task vanished", data={"taskId": "t-2"})
            yield {"artifactUpdate": {"taskId": "t-2", "contextId": "ctx-1",
                                      "artifact": {"artifactId": "a", "parts": [{"text": word}]}}}
        yield {"statusUpdate": {"taskId": "t-2", "contextId": "ctx-1",
                                "status": {"state": "TASK_STATE_COMPLETED"}}}

    async def subscribe(self, p: GetTaskReq, ctx: CallContext) -> AsyncIterator[dict[str, Any]]:
        if p.id != "t-1":
            raise TaskNotFound(f"no task {p.id}", data={"taskId": p.id})
        yield {"task": task("t-1")}

    async def get_task(self, p: GetTaskReq, ctx: CallContext) -> dict[str, Any]:
        self.seen.append(("GetTask", p, ctx))
        if p.id != "t-1":
            raise TaskNotFound(f"no task {p.id}", data={"taskId": p.id})
        return task("t-1", history=[{"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "hi"}]}]
                    * (p.history_length or 0))

    async def card(self, p: Empty, ctx: CallContext) -> dict[str, Any]:
        return {"name": "fake", "description": "a fake agent", "version": "1.0",
                "supportedInterfaces": [], "capabilities": {"streaming": True}}


def table(fake: Fake) -> API:
    api = API()
    api.add(Method("SendMessage", fake.send, SendReq, dict))
    api.add(Method("SendStreamingMessage", fake.stream, SendReq, None, streaming=True))
    api.add(Method("SubscribeToTask", fake.subscribe, GetTaskReq, None, streaming=True))
    api.add(Method("GetTask", fake.get_task, GetTaskReq, dict))
    api.add(Method("GetAgentCard", fake.card, Empty, dict))
    api.observers.append(fake.records.append)
    return api


def _up(params: dict[str, Any]) -> dict[str, Any]:
    """A toy 0.3 -> 1.0 converter: kind-tagged parts, a lower-case role."""
    msg = params["message"]
    return {"message": {"messageId": msg["messageId"], "role": "ROLE_" + msg["role"].upper(),
                        "parts": [{"text": p["text"]} for p in msg["parts"]]}}


def _down(result: dict[str, Any]) -> dict[str, Any]:
    out = dict(result.get("task", result))
    out["kind"] = "task"
    out["status"] = {"state": out["status"]["state"].removeprefix("TASK_STATE_").lower()}
    return out


V03 = {"message/send": ("SendMessage", _up, _down), "message/stream": ("SendStreamingMessage", _up, _down)}


@dataclass
class Server:
    fake: Fake
    listener: HttpListener
    url: str
    http: aiohttp.ClientSession

    async def rpc(self, method: str, params: Any = None, *, headers: dict[str, str] | None = None,
                  path: str = "/", req_id: Any = 1) -> tuple[int, Any]:
        frame = {"jsonrpc": "2.0", "id": req_id, "method": method, "params": params or {}}
        async with self.http.post(self.url + path, json=frame, headers=headers or AUTH) as r:
            return r.status, await r.json()

    async def alive(self) -> None:
        status, answer = await self.rpc("GetTask", {"id": "t-1"})
        assert status == 200 and answer["result"]["id"] == "t-1"


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    fake = Fake()
    listener = HttpListener(table(fake), host="127.0.0.1", port=0, token=TOKEN, max_body_bytes=4096, v03=V03)
    url = await listener.start()
    async with aiohttp.ClientSession() as http:
        yield Server(fake, listener, url, http)
    fake.release.set()
    await listener.stop_accepting()
    await listener.drain(2.0)


def msg(text: str, role: str = "ROLE_USER") -> dict[str, Any]:
    return {"message": {"messageId": "m-1", "role": role, "parts": [{"text": text}]}}


async def sse(response: aiohttp.ClientResponse) -> list[tuple[str, Any]]:
    """(event name, decoded data) of every event in an SSE body."""
    assert response.headers["Content-Type"].startswith("text/event-stream")
    events: list[tuple[str, Any]] = []
    data: list[str] = []
    name = "message"
    async for raw in response.content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if data:
                events.append((name, json.loads("\n".join(data))))
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
    return events


async def test_unary_jsonrpc_on_every_path_runs_as_the_bearer(server: Server) -> None:
    for path in ("/", "/a2a", "/a2a/"):
        status, answer = await server.rpc("SendMessage", msg("hello"), path=path, req_id=path)
        assert status == 200 and answer["id"] == path
        assert answer["result"]["task"]["artifacts"][0]["parts"] == [{"text": "HELLO"}]
    _, params, ctx = server.fake.seen[-1]
    assert isinstance(params, SendReq)
    assert (ctx.transport, ctx.principal, ctx.peer) == ("http", "a2a:bearer", {"remote": "127.0.0.1"})
    assert [r.method for r in server.fake.records] == ["SendMessage"] * 3


async def test_streaming_method_answers_sse_and_an_error_mid_stream_is_the_last_event(server: Server) -> None:
    frame = {"jsonrpc": "2.0", "id": "s1", "method": "SendStreamingMessage", "params": msg("one two")}
    async with server.http.post(server.url, json=frame, headers=AUTH) as r:
        events = await sse(r)
    assert [e[1]["id"] for e in events] == ["s1"] * 4
    assert list(events[-1][1]["result"]) == ["statusUpdate"]
    frame["params"] = msg("one boom")
    async with server.http.post(server.url, json=frame, headers=AUTH) as r:
        events = await sse(r)
    assert len(events) == 3 and events[-1][1]["error"]["code"] == -32001
    info = events[-1][1]["error"]["data"][0]
    assert info["reason"] == "TASK_NOT_FOUND" and info["metadata"] == {"taskId": "t-2"}
    await server.alive()


async def test_stream_error_before_the_first_item_is_a_plain_json_answer(server: Server) -> None:
    status, answer = await server.rpc("SubscribeToTask", {"id": "nope"})
    assert status == 200 and answer["error"]["code"] == -32001


async def test_bad_input_is_answered_and_the_server_keeps_serving(server: Server) -> None:
    url, http = server.url, server.http
    async with http.post(url, data=b"hello", headers={**AUTH, "Content-Type": "text/plain"}) as r:
        assert (r.status, (await r.json())["error"]["code"]) == (200, -32005)
    await server.alive()
    async with http.post(url, data=b"{nope", headers={**AUTH, "Content-Type": "application/json"}) as r:
        assert (await r.json())["error"]["code"] == -32700
    await server.alive()
    status, answer = await server.rpc("NoSuchMethod", {})
    assert answer["error"]["code"] == -32601
    await server.alive()
    status, answer = await server.rpc("SendMessage", {"message": {"messageId": "m", "role": "r", "parts": 5}})
    assert answer["error"]["code"] == -32602 and "message.parts" in answer["error"]["message"]
    violation = answer["error"]["data"][1]["fieldViolations"][0]
    assert violation["field"] == "message.parts"
    await server.alive()
    status, answer = await server.rpc("GetTask", {"id": "t-1"}, headers={**AUTH, "A2A-Version": "9.9"})
    assert answer["error"]["code"] == -32009 and answer["id"] == 1
    await server.alive()
    async with http.post(url, json={"jsonrpc": "1.0", "id": 3}, headers=AUTH) as r:
        assert (await r.json())["error"]["code"] == -32600
    await server.alive()


async def test_version_header_missing_or_known_is_served(server: Server) -> None:
    for version in (None, "0.3", "1", "1.0"):
        headers = {"Authorization": f"Bearer {TOKEN}"} | ({"A2A-Version": version} if version else {})
        status, answer = await server.rpc("GetTask", {"id": "t-1"}, headers=headers)
        assert answer["result"]["id"] == "t-1", version


async def test_v03_names_are_converted_both_ways(server: Server) -> None:
    params = {"message": {"messageId": "m", "role": "user", "kind": "message",
                          "parts": [{"kind": "text", "text": "old"}]}}
    status, answer = await server.rpc("message/send", params, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer["result"]["kind"] == "task" and answer["result"]["status"] == {"state": "completed"}
    assert server.fake.seen[-1][1].message.role == "ROLE_USER"
    frame = {"jsonrpc": "2.0", "id": 2, "method": "message/stream", "params": params}
    async with server.http.post(server.url, json=frame, headers=AUTH) as r:
        events = await sse(r)
    assert events[0][1]["result"]["status"] == {"state": "working"}
    status, answer = await server.rpc("message/send", {"message": 7})
    assert answer["error"]["code"] == -32602
    await server.alive()


async def test_batches_answer_in_one_array(server: Server) -> None:
    frames = [{"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "t-1"}},
              {"jsonrpc": "2.0", "id": 2, "method": "GetTask", "params": {"id": "x"}},
              {"jsonrpc": "2.0", "method": "GetTask", "params": {"id": "t-1"}},
              {"jsonrpc": "2.0", "id": 3, "method": "SendStreamingMessage", "params": msg("a")},
              "junk"]
    async with server.http.post(server.url, json=frames, headers=AUTH) as r:
        answers = await r.json()
    assert [a["id"] for a in answers] == [1, 2, 3, None]
    assert "result" in answers[0] and [a["error"]["code"] for a in answers[1:]] == [-32001, -32600, -32600]
    async with server.http.post(server.url, json=[], headers=AUTH) as r:
        assert (await r.json())["error"]["code"] == -32600


async def test_auth_is_required_except_on_probes_and_the_card(server: Server) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        for verb, path in (("POST", "/"), ("GET", "/tasks/t-1"), ("GET", "/nowhere"), ("GET", "/v1/sessions")):
            async with server.http.request(verb, server.url + path, json={}, headers=headers) as r:
                assert r.status == 401, (headers, path)
                assert r.headers["WWW-Authenticate"] == 'Bearer realm="codetether"'
                assert (await r.json())["error"]["status"] == "UNAUTHENTICATED"
    denied = [r for r in server.fake.records if r.outcome == "denied"]
    assert len(denied) == 12 and denied[0].method == "http:/" and denied[0].peer["status"] == 401
    assert denied[0].error_code is None and "bearer token" in (denied[0].error or "")
    for path in ("/health", "/ready", "/.well-known/agent-card.json", "/.well-known/agent.json"):
        async with server.http.get(server.url + path) as r:
            assert r.status == 200, path
    await server.alive()


async def test_oversized_bodies_are_413(server: Server) -> None:
    big = msg("x" * 5000)
    async with server.http.post(server.url, json={"jsonrpc": "2.0", "id": 1, "method": "SendMessage",
                                                  "params": big}, headers=AUTH) as r:
        assert r.status == 413
        answer = await r.json()
        assert answer["error"]["code"] == -32600 and answer["error"]["data"][0]["reason"] == "MESSAGE_TOO_LARGE"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: aiohttp's limit trips
        yield b'{"message": {"parts": ['
        for _ in range(100):
            yield b'{"text": "' + b"y" * 100 + b'"},'
        yield b"]}}"

    async with server.http.post(server.url + "/message:send", data=chunks(),
                                headers={**AUTH, "Content-Type": "application/json"}) as r:
        assert r.status == 413 and (await r.json())["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert [r.outcome for r in server.fake.records[-2:]] == ["denied", "denied"]
    await server.alive()


async def test_rest_binding(server: Server) -> None:
    url, http = server.url, server.http
    async with http.post(url + "/message:send", json=msg("rest"), headers=AUTH) as r:
        assert r.status == 200 and (await r.json())["task"]["id"] == "t-1"
    async with http.get(url + "/tasks/t-1?historyLength=2", headers=AUTH) as r:
        assert len((await r.json())["history"]) == 2
    assert server.fake.seen[-1][1] == GetTaskReq(id="t-1", history_length=2)
    async with http.get(url + "/acme/tasks/t-1", headers=AUTH) as r:
        assert r.status == 200
    assert server.fake.seen[-1][1].tenant == "acme"
    async with http.get(url + "/tasks/missing", headers=AUTH) as r:
        body = await r.json()
        assert r.status == 404 and body["error"]["code"] == 404 and body["error"]["status"] == "NOT_FOUND"
        assert body["error"]["details"][0]["reason"] == "TASK_NOT_FOUND"
    async with http.get(url + "/tasks/t-1?historyLength=lots", headers=AUTH) as r:
        body = await r.json()
        assert r.status == 400 and "historyLength" in body["error"]["message"]
    async with http.post(url + "/message:send", data=b"<xml/>",
                         headers={**AUTH, "Content-Type": "application/xml"}) as r:
        assert (await r.json())["error"]["details"][0]["reason"] == "CONTENT_TYPE_NOT_SUPPORTED"
    async with http.get(url + "/tasks/t-1", headers={**AUTH, "A2A-Version": "2"}) as r:
        assert (await r.json())["error"]["details"][0]["reason"] == "VERSION_NOT_SUPPORTED"
    for verb in ("GET", "POST"):
        async with http.request(verb, url + "/tasks/t-1:subscribe", headers=AUTH) as r:
            assert [e[1]["task"]["id"] for e in await sse(r)] == ["t-1"]
    async with http.post(url + "/message:stream", json=msg("a boom"), headers=AUTH) as r:
        events = await sse(r)
    assert events[-1][0] == "error" and events[-1][1]["error"]["details"][0]["reason"] == "TASK_NOT_FOUND"
    async with http.get(url + "/extendedAgentCard", headers=AUTH) as r:  # not in this table
        assert r.status == 404 and (await r.json())["error"]["details"][0]["reason"] == "METHOD_NOT_FOUND"
    async with http.delete(url + "/message:send", headers=AUTH) as r:
        assert r.status == 405 and (await r.json())["error"]["code"] == 405
    await server.alive()


async def test_proto_field_names_are_accepted_beside_the_json_names(server: Server) -> None:
    # A ProtoJSON parser takes `history_length` for `historyLength`; the A2A TCK's JSON-RPC
    # client sends the proto names (it failed CORE-HIST-001/002 while they were ignored).
    status, answer = await server.rpc("GetTask", {"id": "t-1", "history_length": 3})
    assert status == 200 and len(answer["result"]["history"]) == 3
    assert server.fake.seen[-1][1] == GetTaskReq(id="t-1", history_length=3)
    _, answer = await server.rpc("GetTask", {"id": "t-1", "history_length": 3, "historyLength": 1})
    assert len(answer["result"]["history"]) == 1
    _, answer = await server.rpc("SendMessage", {"message": {"message_id": "m-9", "role": "ROLE_USER",
                                                             "parts": [{"text": "snake"}]}})
    assert answer["result"]["task"]["artifacts"][0]["parts"] == [{"text": "SNAKE"}]
    assert server.fake.seen[-1][1].message.message_id == "m-9"
    async with server.http.get(server.url + "/tasks/t-1?history_length=2", headers=AUTH) as r:
        assert r.status == 200 and len((await r.json())["history"]) == 2
    async with server.http.post(server.url + "/message:send", headers=AUTH, json={
            "message": {"message_id": "m-10", "role": "ROLE_USER", "parts": [{"text": "rest"}]}}) as r:
        assert r.status == 200
    assert server.fake.seen[-1][1].message.message_id == "m-10"


async def test_card_has_a_strong_etag_and_answers_304(server: Server) -> None:
    async with server.http.get(server.url + "/.well-known/agent-card.json") as r:
        card, etag = await r.json(), r.headers["ETag"]
        assert card["name"] == "fake" and r.headers["Cache-Control"] == "public, max-age=300"
    assert etag.startswith('"') and not etag.startswith("W/")
    for match in (etag, f'"other", {etag}', "*"):
        async with server.http.get(server.url + "/.well-known/agent.json", headers={"If-None-Match": match}) as r:
            assert r.status == 304 and r.headers["ETag"] == etag
    async with server.http.get(server.url + "/.well-known/agent.json", headers={"If-None-Match": '"x"'}) as r:
        assert r.status == 200
    assert server.fake.records[-1].method == "GetAgentCard"


async def test_rest_api_routes_of_the_socket_table() -> None:
    seen: list[Any] = []

    class Recent(msgspec.Struct):
        limit: int = 10

    class Query(msgspec.Struct):
        actor: str | None = None

    async def recent(p: Recent, ctx: CallContext) -> list[int]:
        seen.append(p)
        return list(range(p.limit))

    async def query(p: Query, ctx: CallContext) -> list[str]:
        return [p.actor or "anyone"]

    async def sessions(p: Empty, ctx: CallContext) -> list[str]:
        return ["s1"]

    socket_api = API()
    for name, fn, params in (("audit/recent", recent, Recent), ("audit/query", query, Query),
                             ("session/list", sessions, Empty)):
        socket_api.add(Method(name, fn, params, list))
    listener = HttpListener(table(Fake()), host="127.0.0.1", port=0, token=TOKEN, max_body_bytes=4096,
                            rest_api=socket_api, v03={})
    url = await listener.start()
    try:
        async with aiohttp.ClientSession(headers=AUTH) as http:
            async with http.get(url + "/v1/audit/events?limit=3") as r:
                assert await r.json() == [0, 1, 2]
            async with http.post(url + "/v1/audit/query", json={"actor": "me"}) as r:
                assert await r.json() == ["me"]
            async with http.get(url + "/v1/sessions") as r:
                assert await r.json() == ["s1"]
    finally:
        await listener.drain(1.0)
    assert seen == [Recent(limit=3)]


async def test_ready_turns_503_while_draining_and_drain_waits_for_requests_in_flight(server: Server) -> None:
    probe = aiohttp.ClientSession()
    async with probe.get(server.url + "/ready") as r:
        assert r.status == 200
    call = asyncio.create_task(server.rpc("SendMessage", msg("wait")))
    await server.fake.waiting.wait()
    await server.listener.stop_accepting()
    async with probe.get(server.url + "/ready") as r:  # its pooled connection is still open
        assert r.status == 503 and (await r.json())["status"] == "draining"
    await probe.close()
    drained = asyncio.create_task(server.listener.drain(5.0))
    await asyncio.sleep(0.05)
    assert not drained.done() and server.listener.inflight == 1
    server.fake.release.set()
    assert (await call)[1]["result"]["task"]["id"] == "t-1"
    await drained
    assert server.listener.state is ListenerState.CLOSED
    with pytest.raises(aiohttp.ClientConnectionError):
        async with server.http.get(server.url + "/health"):
            pass
    with pytest.raises(RuntimeError, match="closed"):
        await server.listener.start()


async def test_an_idle_stream_pings_and_ends_when_its_client_leaves() -> None:
    ended = asyncio.Event()

    async def idle(p: GetTaskReq, ctx: CallContext) -> AsyncIterator[dict[str, Any]]:
        try:
            yield {"task": task(p.id, "TASK_STATE_WORKING")}
            await asyncio.Event().wait()  # a task with nothing new, for ever
        finally:
            ended.set()

    api = API()
    api.add(Method("SubscribeToTask", idle, GetTaskReq, None, streaming=True))
    listener = HttpListener(api, host="127.0.0.1", port=0, token=TOKEN, max_body_bytes=4096, v03={},
                            sse_keepalive=0.05)
    url = await listener.start()
    try:
        async with aiohttp.ClientSession(headers=AUTH) as http:
            async with http.get(url + "/tasks/t-9:subscribe") as r:
                assert json.loads((await r.content.readline()).decode()[5:])["task"]["id"] == "t-9"
                assert await r.content.readline() == b"\n"
                assert await r.content.readline() == b": ping\n"  # the idle stream is kept alive
            # the client left: the next ping fails and the API's stream is closed
            await asyncio.wait_for(ended.wait(), 5)
    finally:
        await listener.drain(1.0)


async def test_push_config_routes_map_path_query_and_body() -> None:
    seen: list[tuple[str, Any]] = []

    def echo(name: str) -> Any:
        async def handler(p: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
            seen.append((name, p))
            return {} if name.startswith("Delete") else {"echo": p}
        return handler

    api = API()
    for name in ("CreateTaskPushNotificationConfig", "GetTaskPushNotificationConfig",
                 "ListTaskPushNotificationConfigs", "DeleteTaskPushNotificationConfig", "CancelTask",
                 "ListTasks", "GetExtendedAgentCard"):
        api.add(Method(name, echo(name), dict[str, Any], dict))
    listener = HttpListener(api, host="127.0.0.1", port=0, token=TOKEN, max_body_bytes=4096, v03={})
    url = await listener.start()
    try:
        async with aiohttp.ClientSession(headers=AUTH) as http:
            async with http.post(url + "/tasks/t-1/pushNotificationConfigs",
                                 json={"url": "https://hook.example/x", "taskId": "other"}) as r:
                assert (await r.json())["echo"] == {"url": "https://hook.example/x", "taskId": "t-1"}
            async with http.get(url + "/tasks/t-1/pushNotificationConfigs/c-1") as r:
                assert (await r.json())["echo"] == {"taskId": "t-1", "id": "c-1"}
            async with http.get(url + "/acme/tasks/t-1/pushNotificationConfigs?pageSize=5") as r:
                assert (await r.json())["echo"] == {"taskId": "t-1", "tenant": "acme", "pageSize": "5"}
            async with http.delete(url + "/tasks/t-1/pushNotificationConfigs/c-1") as r:
                assert r.status == 200 and await r.json() == {}
            async with http.post(url + "/tasks/t-1:cancel") as r:
                assert (await r.json())["echo"] == {"id": "t-1"}
            async with http.get(url + "/tasks?contextId=c&status=TASK_STATE_WORKING") as r:
                assert (await r.json())["echo"] == {"contextId": "c", "status": "TASK_STATE_WORKING"}
            async with http.get(url + "/extendedAgentCard") as r:
                assert (await r.json())["echo"] == {}
    finally:
        await listener.drain(1.0)
    assert [name for name, _ in seen][:4] == ["CreateTaskPushNotificationConfig", "GetTaskPushNotificationConfig",
                                              "ListTaskPushNotificationConfigs", "DeleteTaskPushNotificationConfig"]
