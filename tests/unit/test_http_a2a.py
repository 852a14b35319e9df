"""The HTTP transport over the real A2A table (``build_a2a_api``) of an in-process App with
the scripted provider, called by the official a2a-sdk clients over JSON-RPC and HTTP+JSON
and by plain HTTP: the card the runner's URL goes into, a task run to its end, streamed,
got, listed, a cancel refused on a finished task, an unknown task, and the audit trail
seeing the calls with the bearer principal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from a2a.client import ClientConfig, ClientFactory
from a2a.compat.v0_3.jsonrpc_transport import CompatJsonRpcTransport
from a2a.types.a2a_pb2 import (
    AgentCard,
    CancelTaskRequest,
    GetTaskRequest,
    ListTasksRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    TaskState,
)
from a2a.utils.errors import TaskNotCancelableError, TaskNotFoundError
from codetether.daemon.api import CallRecord
from codetether.daemon.api.a2a import A2AAPI, build_a2a_api
from codetether.daemon.transports.http import HttpListener
from google.protobuf.json_format import ParseDict

TOKEN = "a2a-e2e-token"


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
    listener = HttpListener(table, host="127.0.0.1", port=0, token=TOKEN, max_body_bytes=1 << 20)
    url = await listener.start()
    app.endpoints = {"http_url": url}
    yield url, calls
    await listener.stop_accepting()
    app.stop_runs()
    await listener.drain(2.0)
    await domain.aclose()
    await app.aclose()


def request(text: str) -> SendMessageRequest:
    return SendMessageRequest(message=Message(message_id=f"m-{text}", role=Role.ROLE_USER,
                                              parts=[Part(text=text)]))


@pytest.mark.parametrize("binding", ["JSONRPC", "HTTP+JSON"])
async def test_a_task_over_the_sdk_client(agent: tuple[str, list[CallRecord]], binding: str) -> None:
    url, calls = agent
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as http:
        card = (await http.get(url + "/.well-known/agent-card.json")).json()
        assert {i["protocolBinding"] for i in card["supportedInterfaces"]} >= {"JSONRPC", "HTTP+JSON"}
        client = await ClientFactory(ClientConfig(httpx_client=http, streaming=False,
                                                  supported_protocol_bindings=[binding])).create_from_url(url)
        [answer] = [e async for e in client.send_message(request("hello"))]
        task = answer.task
        assert task.status.state == TaskState.TASK_STATE_COMPLETED
        got = await client.get_task(GetTaskRequest(id=task.id))
        assert got.id == task.id and got.context_id == task.context_id
        listed = await client.list_tasks(ListTasksRequest(page_size=10))
        assert task.id in [t.id for t in listed.tasks]
        with pytest.raises(TaskNotCancelableError):
            await client.cancel_task(CancelTaskRequest(id=task.id))
        with pytest.raises(TaskNotFoundError):
            await client.get_task(GetTaskRequest(id="no-such-task"))

        streaming = await ClientFactory(ClientConfig(httpx_client=http, streaming=True,
                                                     supported_protocol_bindings=[binding])).create_from_url(url)
        events = [e async for e in streaming.send_message(request("again"))]
        assert events[0].WhichOneof("payload") == "task"
        final = [e for e in events if e.WhichOneof("payload") == "status_update"][-1]
        assert final.status_update.status.state == TaskState.TASK_STATE_COMPLETED
    sends = [r for r in calls if r.method in ("SendMessage", "SendStreamingMessage")]
    assert sends and all(r.outcome == "success" and r.peer == {"remote": "127.0.0.1"} for r in sends)


async def test_refusals_reach_the_audit_trail(agent: tuple[str, list[CallRecord]]) -> None:
    url, calls = agent
    async with httpx.AsyncClient() as http:
        r = await http.post(url + "/", json={"jsonrpc": "2.0", "id": 1, "method": "GetTask",
                                             "params": {"id": "x"}})
        assert r.status_code == 401
        r = await http.post(url + "/", content=b"x" * 10, headers={"Authorization": f"Bearer {TOKEN}",
                                                                   "Content-Type": "text/plain"})
        assert r.json()["error"]["code"] == -32005
    assert [(c.method, c.outcome) for c in calls[-2:]] == [("http:/", "denied"), ("http:/", "failure")]


async def test_a_0_3_client_on_the_same_endpoint(agent: tuple[str, list[CallRecord]]) -> None:
    url, calls = agent
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as http:
        card = ParseDict((await http.get(url + "/.well-known/agent-card.json")).json(), AgentCard(),
                         ignore_unknown_fields=True)
        old = CompatJsonRpcTransport(http, card, url + "/")
        answer = await old.send_message(request("old"))
        assert answer.task.status.state == TaskState.TASK_STATE_COMPLETED
        assert (await old.get_task(GetTaskRequest(id=answer.task.id))).id == answer.task.id
        events = [e async for e in old.send_message_streaming(request("old stream"))]
        assert events[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED
        with pytest.raises(TaskNotFoundError):
            await old.get_task(GetTaskRequest(id="nope"))
        r = await http.post(url + "/", json={"jsonrpc": "2.0", "id": 1, "method": "message/send",
                                             "params": {"message": {"parts": 3}}})
        assert r.json()["error"]["code"] == -32602 and "message" in r.json()["error"]["message"]
    assert {"SendMessage", "SendStreamingMessage", "GetTask"} <= {c.method for c in calls}
