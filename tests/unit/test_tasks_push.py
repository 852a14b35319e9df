"""Push notifications delivered to a real local aiohttp webhook (port 0): what it receives,
its auth headers, a retry after a 500, the audit trail, and URLs the allow-list refuses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from codetether.daemon.errors import InvalidParams

from .test_tasks import message, peers


@pytest.fixture
async def make(short_dir: Path, scripted_app: Any) -> AsyncIterator[Callable[..., Any]]:
    async with peers(short_dir, scripted_app) as build:
        yield build


@dataclass
class Webhook:
    url: str
    got: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    fail_first: int = 0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(predicate), 10)


@pytest.fixture
async def webhook() -> AsyncIterator[Webhook]:
    hook = Webhook(url="")

    async def receive(request: web.Request) -> web.Response:
        if hook.fail_first > 0:
            hook.fail_first -= 1
            return web.Response(status=500)
        body = await request.json()
        async with hook.changed:
            hook.got.append((dict(request.headers), body))
            hook.changed.notify_all()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    hook.url = f"http://127.0.0.1:{port}/hook"
    yield hook
    await runner.cleanup()


ALLOW = 'push_allow = ["http://127.0.0.1:*/*"]'


def _states(hook: Webhook) -> list[str]:
    return [b["statusUpdate"]["status"]["state"] for _, b in hook.got if "statusUpdate" in b]


async def test_every_update_is_posted_with_its_token(make: Callable[..., Any], webhook: Webhook):
    peer = await make(["Pushed answer."], a2a_config=ALLOW)
    config = {"taskPushNotificationConfig": {"url": webhook.url, "token": "tok-1"}}
    task = await peer.send("push it", configuration=config)
    await webhook.wait_for(lambda: "TASK_STATE_COMPLETED" in _states(webhook))
    assert _states(webhook)[0] == "TASK_STATE_WORKING"
    chunks = [b["artifactUpdate"] for _, b in webhook.got if "artifactUpdate" in b]
    assert "".join(c["artifact"]["parts"][0]["text"] for c in chunks) == "Pushed answer."
    headers = webhook.got[0][0]
    assert headers["X-A2A-Notification-Token"] == "tok-1"
    assert headers["Authorization"] == "Bearer tok-1"
    assert all(b.get("statusUpdate", b.get("artifactUpdate", {})).get("taskId") == task["id"]
               for _, b in webhook.got)
    entries = peer.app.recorder.audit.query(action="push_notification")
    assert entries and all(e.outcome == "success" for e in entries)


async def test_a_500_is_retried_and_the_attempts_recorded(make: Callable[..., Any], webhook: Webhook):
    webhook.fail_first = 1
    peer = await make(["ok"], a2a_config=ALLOW)
    auth = {"scheme": "Basic", "credentials": "dXNlcjpwdw=="}
    config = {"taskPushNotificationConfig": {"url": webhook.url, "token": "t", "authentication": auth}}
    await peer.send("push", configuration=config)
    await webhook.wait_for(lambda: "TASK_STATE_COMPLETED" in _states(webhook))
    assert webhook.got[0][0]["Authorization"] == "Basic dXNlcjpwdw=="
    entries = peer.app.recorder.audit.query(action="push_notification")
    assert any(e.detail.get("attempts") == 2 and e.outcome == "success" for e in entries)


async def test_configs_crud_on_a_task(make: Callable[..., Any], webhook: Webhook):
    peer = await make(["done"], a2a_config=ALLOW)
    task = await peer.send("x")
    made = await peer.call("CreateTaskPushNotificationConfig",
                           {"taskId": task["id"], "id": "c1", "url": webhook.url, "token": "k"})
    assert (made.id, made.task_id, made.token) == ("c1", task["id"], "k")
    got = await peer.call("GetTaskPushNotificationConfig", {"taskId": task["id"], "id": "c1"})
    assert got.url == webhook.url
    listed = await peer.call("ListTaskPushNotificationConfigs", {"taskId": task["id"]})
    assert [c.id for c in listed.configs] == ["c1"]
    await peer.call("DeleteTaskPushNotificationConfig", {"taskId": task["id"], "id": "c1"})
    assert (await peer.call("ListTaskPushNotificationConfigs", {"taskId": task["id"]})).configs == []
    # Idempotent (A2A 1.0 section 3.1.10; the TCK's PUSH-DEL-002): deleting it again succeeds.
    await peer.call("DeleteTaskPushNotificationConfig", {"taskId": task["id"], "id": "c1"})
    from codetether.daemon.errors import TaskNotFound
    with pytest.raises(TaskNotFound):
        await peer.call("DeleteTaskPushNotificationConfig", {"taskId": "nope", "id": "c1"})
    with pytest.raises(TaskNotFound):
        await peer.call("GetTaskPushNotificationConfig", {"taskId": task["id"], "id": "c1"})
    with pytest.raises(TaskNotFound):
        await peer.call("CreateTaskPushNotificationConfig", {"taskId": "nope", "url": webhook.url})


async def test_a_config_that_would_inject_headers_is_refused_when_made(make: Callable[..., Any],
                                                                      webhook: Webhook):
    peer = await make(["done"], a2a_config=ALLOW)
    task = await peer.send("x")
    with pytest.raises(InvalidParams, match="token"):
        await peer.call("CreateTaskPushNotificationConfig",
                        {"taskId": task["id"], "url": webhook.url, "token": "k\r\nX-Evil: 1"})
    with pytest.raises(InvalidParams, match="credentials"):
        await peer.send("y", configuration={"taskPushNotificationConfig": {
            "url": webhook.url, "authentication": {"scheme": "Basic", "credentials": "a\nb"}}})
    assert (await peer.call("ListTaskPushNotificationConfigs", {"taskId": task["id"]})).configs == []


async def test_urls_outside_the_allow_list_are_refused(make: Callable[..., Any], webhook: Webhook):
    peer = await make(["x"], a2a_config='push_allow = ["https://hooks.example.com/*"]')
    with pytest.raises(InvalidParams, match="push_allow"):
        await peer.send("x", configuration={"taskPushNotificationConfig": {"url": webhook.url}})
    with pytest.raises(InvalidParams, match="http"):
        await peer.call("SendMessage", message("x", configuration={
            "taskPushNotificationConfig": {"url": "file:///etc/passwd"}}))


async def test_loopback_is_refused_unless_a_pattern_names_it(make: Callable[..., Any], webhook: Webhook):
    peer = await make(["x"])  # no allow-list: public URLs only
    with pytest.raises(InvalidParams, match="non-public"):
        await peer.send("x", configuration={"taskPushNotificationConfig": {"url": webhook.url}})
    wildcard = await make(["x"], a2a_config='push_allow = ["*"]', home="h2")
    with pytest.raises(InvalidParams, match="non-public"):
        await wildcard.send("x", configuration={"taskPushNotificationConfig": {"url": webhook.url}})
    named = await make(["x"], a2a_config=ALLOW, home="h3")
    await named.a2a.push.check_url(webhook.url)  # allowed: the pattern names the host
