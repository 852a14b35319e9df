"""`codetether serve` as a user runs it: the real daemon process with the socket, HTTP and
gRPC listening, driven by the official a2a-sdk clients over JSON-RPC, HTTP+JSON and gRPC
(1.0 and 0.3), then stopped with SIGTERM."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest
from a2a.client import ClientCallContext, ClientConfig, ClientFactory
from a2a.types.a2a_pb2 import (
    AgentCard,
    GetTaskRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    TaskState,
)
from google.protobuf.json_format import ParseDict

from .conftest import CLI, Home, foreground


@pytest.fixture
def served(home: Home) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any], str]]:
    home.script(*({"text": f"answer {i}"} for i in range(12)))
    home.write_config(home.config_file.read_text() + f'\n[a2a]\nworkspace = "{home.workspace}"\n')
    with foreground(home, "serve", "--port", "0", "--grpc-port", "0") as (proc, bound):
        token = home.cli("auth", "token", check=True).stdout.strip()
        yield proc, bound, token


def _request(text: str) -> SendMessageRequest:
    return SendMessageRequest(message=Message(message_id=f"m-{text}", role=Role.ROLE_USER,
                                              parts=[Part(text=text)]))


async def test_serve_answers_the_sdk_on_every_transport(served: Any, home: Home) -> None:
    proc, bound, token = served
    url, address = bound["http_url"], bound["grpc_address"]
    assert url.startswith("http://127.0.0.1:") and address.startswith("127.0.0.1:")
    status = home.json("daemon", "status")
    assert status["http_url"] == url and status["grpc_address"] == address and status["pid"] == proc.pid

    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        card_json = (await http.get(url + "/.well-known/agent-card.json")).json()
        bindings = {i["protocolBinding"]: i["url"] for i in card_json["supportedInterfaces"]}
        assert bindings == {"JSONRPC": url, "HTTP+JSON": url, "GRPC": address}
        card = ParseDict(card_json, AgentCard(), ignore_unknown_fields=True)
        for binding in ("JSONRPC", "HTTP+JSON"):
            client = await ClientFactory(ClientConfig(
                httpx_client=http, streaming=False, supported_protocol_bindings=[binding])).create_from_url(url)
            [answer] = [e async for e in client.send_message(_request(binding))]
            assert answer.task.status.state == TaskState.TASK_STATE_COMPLETED, binding
            text = answer.task.artifacts[0].parts[0].text
            assert text.startswith("answer "), binding
            assert (await client.get_task(GetTaskRequest(id=answer.task.id))).id == answer.task.id

    auth = ClientCallContext(service_parameters={"authorization": f"Bearer {token}"})
    for streaming in (False, True):
        client = ClientFactory(ClientConfig(streaming=streaming, supported_protocol_bindings=["GRPC"],
                                            grpc_channel_factory=grpc.aio.insecure_channel)).create(card)
        events = [e async for e in client.send_message(_request(f"grpc {streaming}"), context=auth)]
        last = events[-1]
        state = (last.task.status.state if last.WhichOneof("payload") == "task"
                 else last.status_update.status.state)
        assert state == TaskState.TASK_STATE_COMPLETED, streaming


async def test_no_token_no_answer_and_sigterm_stops_every_listener(served: Any) -> None:
    proc, bound, token = served
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(bound["http_url"] + "/health")).status_code == 200
        r = await http.post(bound["http_url"] + "/", json={"jsonrpc": "2.0", "id": 1, "method": "ListTasks"})
        assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
        assert token not in r.text
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    async with httpx.AsyncClient(timeout=5) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(bound["http_url"] + "/health")


def test_serve_refuses_a_port_in_use_and_a_short_token(home: Home) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = home.cli("serve", "--port", str(port), "--grpc-port", "-1", timeout=60)
        assert done.returncode == 5 and "address already in use" in done.stderr
    short = subprocess.run([CLI, "serve", "--port", "0", "--grpc-port", "-1"], text=True, timeout=60,
                           capture_output=True, env={**home.env, "CODETETHER_AUTH_TOKEN": "short"})
    assert short.returncode == 5 and "at least 16 characters" in short.stderr


async def test_serve_conformance_plays_the_tck_scenarios(home: Home) -> None:
    home.script({"text": "never used"})
    with foreground(home, "serve", "--port", "0", "--grpc-port", "-1", "--conformance") as (proc, bound):
        url = bound["http_url"]
        token = home.cli("auth", "token", check=True).stdout.strip()
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}", "A2A-Version": "1.0"},
                                     timeout=30) as http:
            r = await http.post(url + "/", json={"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {
                "message": {"messageId": "tck-reject-task-1", "role": "ROLE_USER", "parts": [{"text": "x"}]}}})
        assert r.json()["result"]["task"]["status"]["state"] == "TASK_STATE_REJECTED"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_the_auto_started_daemon_opens_the_listeners_config_asks_for(home: Home) -> None:
    home.script({"text": "x"})
    home.write_config(home.config_file.read_text()
                      + '\n[a2a]\nenabled = true\nlisten = "127.0.0.1:0"\ngrpc_listen = "127.0.0.1:0"\n')
    try:
        home.cli("daemon", "start", check=True)  # ready only once every listener is bound
        status = home.json("daemon", "status")
        assert status["http_url"].startswith("http://127.0.0.1:") and status["grpc_address"]
        token = home.cli("auth", "token", check=True).stdout.strip()
        r = httpx.get(status["http_url"] + "/.well-known/agent-card.json", timeout=10)
        assert r.status_code == 200 and r.json()["capabilities"]["streaming"] is True
        r = httpx.post(status["http_url"] + "/", timeout=10, headers={"Authorization": f"Bearer {token}"},
                       json={"jsonrpc": "2.0", "id": 1, "method": "ListTasks", "params": {}})
        assert "result" in r.json()
    finally:
        home.stop()


async def test_push_notifications_reach_a_real_webhook(home: Home) -> None:
    import asyncio

    from a2a.types.a2a_pb2 import SendMessageConfiguration, TaskPushNotificationConfig
    from aiohttp import web

    got: list[tuple[str, dict[str, Any]]] = []
    done = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        got.append((request.headers.get("X-A2A-Notification-Token", ""), body))
        state = (body.get("statusUpdate") or body.get("task") or {}).get("status", {}).get("state")
        if state == "TASK_STATE_COMPLETED":
            done.set()
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    home.script({"text": "pushed"})
    home.write_config(home.config_file.read_text()
                      + f'\n[a2a]\nworkspace = "{home.workspace}"\npush_allow = ["http://127.0.0.1:{port}/*"]\n')
    try:
        with foreground(home, "serve", "--port", "0", "--grpc-port", "-1") as (proc, bound):
            url = bound["http_url"]
            token = home.cli("auth", "token", check=True).stdout.strip()
            async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
                client = await ClientFactory(ClientConfig(httpx_client=http, streaming=False)).create_from_url(url)
                request = _request("push me")
                request.configuration.CopyFrom(SendMessageConfiguration(
                    task_push_notification_config=TaskPushNotificationConfig(
                        url=f"http://127.0.0.1:{port}/hook", token="hook-token")))
                [answer] = [e async for e in client.send_message(request)]
                assert answer.task.status.state == TaskState.TASK_STATE_COMPLETED
            async with asyncio.timeout(30):
                await done.wait()
            assert got and all(t == "hook-token" for t, _ in got)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
    finally:
        await runner.cleanup()
