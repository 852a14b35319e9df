"""Push delivery's guards in the real daemon (`codetether serve`, the a2a-sdk client): a
host an allow pattern names is reached through the system's lookup and the guarded
connector; a redirect is not followed; a config whose credentials would add a header
line is refused when the task is sent, naming the field, and nothing reaches the hook."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from a2a.client import ClientConfig, ClientFactory
from a2a.types.a2a_pb2 import (
    AuthenticationInfo,
    Message,
    Part,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    TaskPushNotificationConfig,
    TaskState,
)
from a2a.utils.errors import InvalidParamsError
from aiohttp import web

from .conftest import Home, foreground


def _request(text: str, push: TaskPushNotificationConfig) -> SendMessageRequest:
    request = SendMessageRequest(message=Message(message_id=f"m-{text}", role=Role.ROLE_USER,
                                                 parts=[Part(text=text)]))
    request.configuration.CopyFrom(SendMessageConfiguration(task_push_notification_config=push))
    return request


async def _audit_until(home: Home, ready: Any) -> list[dict[str, Any]]:
    """The daemon's push audit entries, once ``ready(entries)`` (each query a CLI call)."""
    deadline = time.monotonic() + 30
    while True:
        entries: list[dict[str, Any]] = await asyncio.to_thread(
            home.json, "audit", "query", "--action", "push_notification")
        if ready(entries) or time.monotonic() > deadline:
            return entries


async def test_push_guards_in_the_real_daemon(home: Home) -> None:
    hits: dict[str, list[dict[str, str]]] = {"/hook": [], "/redirect": [], "/redirected": []}

    async def record(request: web.Request) -> web.Response:
        await request.read()
        hits[request.path].append(dict(request.headers))
        if request.path == "/redirect":
            raise web.HTTPTemporaryRedirect(f"http://localhost:{port}/redirected")
        return web.Response(status=204)

    app = web.Application()
    for path in hits:
        app.router.add_post(path, record)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    home.script(*({"text": f"pushed {i}"} for i in range(3)))
    home.write_config(home.config_file.read_text() + f'\n[a2a]\nworkspace = "{home.workspace}"\n'
                      f'push_allow = ["http://localhost:{port}/*", "http://127.0.0.1:{port}/*"]\n')
    named = f"http://localhost:{port}/hook"
    redirect = f"http://127.0.0.1:{port}/redirect"
    injected = f"http://127.0.0.1:{port}/hook"
    try:
        with foreground(home, "serve", "--port", "0", "--grpc-port", "-1") as (_proc, bound):
            token = home.cli("auth", "token", check=True).stdout.strip()
            async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
                client = await ClientFactory(ClientConfig(httpx_client=http, streaming=False)
                                             ).create_from_url(bound["http_url"])
                bad = AuthenticationInfo(scheme="Basic", credentials="abc\r\nX-Evil: 1")
                for text, push in (("named", TaskPushNotificationConfig(url=named, token="named")),
                                   ("redirect", TaskPushNotificationConfig(url=redirect))):
                    [answer] = [e async for e in client.send_message(_request(text, push))]
                    assert answer.task.status.state == TaskState.TASK_STATE_COMPLETED
                # CR LF in the credentials: the config is refused with the task, naming the field.
                injected_push = TaskPushNotificationConfig(url=injected, authentication=bad)
                with pytest.raises(InvalidParamsError, match="authentication.credentials"):
                    [e async for e in client.send_message(_request("injected", injected_push))]

            def every_config_seen(entries: list[dict[str, Any]]) -> bool:
                return {named, redirect} <= {e["resource"] for e in entries}

            entries = await _audit_until(home, every_config_seen)
    finally:
        await runner.cleanup()
    by_resource = {r: [e for e in entries if e["resource"] == r] for r in (named, redirect)}
    assert all(by_resource.values()), entries
    # A pattern naming "localhost": the system's lookup, the guarded connector, delivered.
    assert all(e["outcome"] == "success" for e in by_resource[named])
    assert hits["/hook"] and all(h["X-A2A-Notification-Token"] == "named" for h in hits["/hook"])
    # The 307 is the answer; its Location (another allowed URL even) is never requested.
    assert all((e["outcome"], e["detail"]["status"]) == ("failure", 307) for e in by_resource[redirect])
    assert hits["/redirect"] and hits["/redirected"] == []
    # The refused config never became a delivery.
    assert not any(e["resource"] == injected for e in entries)
    assert not any("X-Evil" in h for h in hits["/hook"])
