"""Push delivery's guards, against real local aiohttp webhooks (port 0) and a name lookup
the test scripts (the delivery's injectable ``resolve``): DNS rebinding between the URL
check and the connection, redirects, header injection from a config, a webhook's endless
answer, a webhook that never answers, and secrets of a URL kept out of logs and the audit."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from codetether.daemon.core.tasks import PushConfigRecord, PushDelivery
from codetether.daemon.core.tasks._push_policy import refusal, shown
from codetether.daemon.errors import InvalidParams
from codetether.daemon.wire import a2a

PUBLIC = "93.184.216.34"


@dataclass
class Hook:
    """A local webhook: ``behave(request)`` answers; every request is counted."""

    behave: Callable[[web.Request], Any]
    url: str = ""
    port: int = 0
    hits: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Any]]:
    runners: list[web.AppRunner] = []

    async def start(behave: Callable[[web.Request], Any]) -> Hook:
        hook = Hook(behave)

        async def receive(request: web.Request) -> Any:
            hook.hits.append(dict(request.headers))
            return await hook.behave(request)

        app = web.Application()
        app.router.add_post("/hook", receive)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        hook.port = runner.addresses[0][1]
        hook.url = f"http://127.0.0.1:{hook.port}/hook"
        return hook

    yield start
    for runner in runners:
        await runner.cleanup()


async def ok(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=204)


class Trail:
    """An audit sink that keeps entries and wakes waiters (PushDelivery's ``Audit``)."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.changed = asyncio.Condition()

    def record(self, category: str, action: str, *, principal: str, outcome: Any,
               resource: str | None = None, detail: dict[str, Any] | None = None,
               duration_ms: float | None = None) -> None:
        self.entries.append({"outcome": outcome, "resource": resource, **(detail or {})})
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def wait(self, count: int) -> list[dict[str, Any]]:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: len(self.entries) >= count), 20)
        return self.entries


def update(n: int = 0) -> a2a.StreamResponse:
    status = a2a.TaskStatus(state="TASK_STATE_WORKING", timestamp=f"2026-01-01T00:00:{n:02d}Z")
    return a2a.StreamResponse(status_update=a2a.TaskStatusUpdateEvent(
        task_id="t1", context_id="c1", status=status))


@pytest.fixture
async def push() -> AsyncIterator[Callable[..., PushDelivery]]:
    made: list[PushDelivery] = []

    def build(allow: list[str], **kw: Any) -> PushDelivery:
        kw.setdefault("base_delay", 0.01)
        delivery = PushDelivery(lambda: allow, Trail(), **kw)
        made.append(delivery)
        return delivery

    yield build
    for delivery in made:
        await delivery.aclose()


def trail(delivery: PushDelivery) -> Trail:
    assert isinstance(delivery.audit, Trail)
    return delivery.audit


class Rebinding:
    """A hostile DNS server for ``hook.test``: the first lookup (the config's check) and
    then every other one (each delivery's check) answer a public address, the lookups in
    between (each connection) answer 127.0.0.1, where the webhook listens."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        n = len(self.calls)
        return ["127.0.0.1"] if n >= 3 and n % 2 == 1 else [PUBLIC]


# -- DNS rebinding ----------------------------------------------------------------------


async def test_a_name_rebound_to_loopback_at_connect_time_is_refused_and_audited(
        short_dir: Any, scripted_app: Any, serve: Callable[..., Any]) -> None:
    from .test_tasks import peers

    hook = await serve(ok)
    async with peers(short_dir, scripted_app) as make:
        peer = await make(["Rebound."])  # no allow-list: public addresses only
        dns = Rebinding()
        peer.a2a.push.resolve = dns
        seen = Trail()
        real = peer.a2a.push.audit

        class Both:
            def record(self, *args: Any, **kw: Any) -> Any:
                seen.record(*args, **kw)
                return real.record(*args, **kw)

        peer.a2a.push.audit = Both()
        url = f"http://hook.test:{hook.port}/hook"
        await peer.send("push it", configuration={"taskPushNotificationConfig": {"url": url}})
        await seen.wait(2)  # at least the first two updates' deliveries
        entries = peer.app.recorder.audit.query(action="push_notification")
    assert hook.hits == []  # nothing reached the webhook
    assert entries and all(e.outcome == "denied" for e in entries)
    assert "127.0.0.1 is loopback" in entries[0].detail["error"]
    assert "at connect time" in entries[0].detail["error"]
    # The connection's lookup was the third: the config's check and the delivery's
    # check both saw the public address.
    assert dns.calls[:3] == [("hook.test", hook.port)] * 3


async def test_a_host_a_pattern_names_is_connected_to_through_the_lookup(
        push: Callable[..., PushDelivery], serve: Callable[..., Any]) -> None:
    hook = await serve(ok)
    delivery = push(["http://hook.test:*/*"])
    delivery.resolve = Rebinding()  # the named host may resolve to loopback: it is trusted
    url = f"http://hook.test:{hook.port}/hook"
    await delivery.check_url(url)
    delivery.deliver([PushConfigRecord(task_id="t1", id="c1", url=url, token="k")], update())
    [entry] = await trail(delivery).wait(1)
    assert entry["outcome"] == "success"
    assert hook.hits[0]["Host"] == f"hook.test:{hook.port}"


async def test_connect_time_lookup_keeps_only_allowed_addresses(
        push: Callable[..., PushDelivery], serve: Callable[..., Any]) -> None:
    from codetether.daemon.core.tasks._push_connect import GuardedResolver, PushRefused

    async def mixed(host: str, port: int) -> list[str]:
        return ["127.0.0.1", PUBLIC, "::ffff:10.0.0.1"]

    guarded = GuardedResolver(lambda: mixed, lambda host: False)
    assert [r["host"] for r in await guarded.resolve("x.test", 80, socket.AF_UNSPEC)] == [PUBLIC]

    async def private(host: str, port: int) -> list[str]:
        return ["10.1.2.3", "fe80::1"]

    with pytest.raises(PushRefused, match="10.1.2.3 is private.*fe80::1 is link-local"):
        await GuardedResolver(lambda: private, lambda host: False).resolve("x.test", 80, socket.AF_UNSPEC)


@pytest.mark.parametrize(("address", "why"), [
    ("127.0.0.1", "loopback"), ("10.0.0.1", "private"), ("169.254.169.254", "link-local"),
    ("100.64.0.1", "non-public"), ("0.0.0.0", "private"), ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"), ("::1", "loopback"), ("fc00::1", "private"),
    ("::ffff:127.0.0.1", "carries 127.0.0.1 is loopback"), ("2002:7f00:1::", "carries"),
    ("64:ff9b::a9fe:a9fe", "carries 169.254.169.254"), ("8.8.8.8", None),
    ("2606:4700:4700::1111", None), ("64:ff9b::808:808", None),
    # IPv4-compatible (::/96) and IPv4-translated (::ffff:0:0/96) forms carry an IPv4 too;
    # a local-use NAT64 prefix (RFC 8215) reaches the operator's own IPv4 network;
    # site-local (fec0::/10) is deprecated but still a private scope where it is routed.
    ("::127.0.0.1", "carries 127.0.0.1 is loopback"), ("::a00:1", "carries 10.0.0.1 is private"),
    ("::ffff:0:7f00:1", "carries 127.0.0.1 is loopback"), ("64:ff9b:1::a00:1", "local-use NAT64"),
    ("fec0::1", "site-local")])
def test_the_address_rule(address: str, why: str | None) -> None:
    got = refusal(address)
    assert (got is None) if why is None else (got is not None and why in got)


# -- redirects, headers, answers ----------------------------------------------------------


async def test_a_redirect_to_loopback_is_not_followed(push: Callable[..., PushDelivery],
                                                      serve: Callable[..., Any]) -> None:
    target = await serve(ok)

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(f"http://localhost:{target.port}/hook")

    hook = await serve(redirect)
    delivery = push(["http://127.0.0.1:*/*"])
    delivery.deliver([PushConfigRecord(task_id="t1", id="c1", url=hook.url)], update())
    [entry] = await trail(delivery).wait(1)
    assert (entry["outcome"], entry["status"], entry["attempts"]) == ("failure", 307, 1)
    assert len(hook.hits) == 1 and target.hits == []


@pytest.mark.parametrize(("token", "auth", "field_"), [
    ("t\r\nX-Evil: 1", None, "token"),
    ("t", {"scheme": "Basic", "credentials": "abc\r\nX-Evil: 1"}, "credentials"),
    ("t", {"scheme": "Bearer x\nX-Evil:", "credentials": ""}, "scheme"),
    ("t", {"scheme": "Basic", "credentials": {"not": "a string"}}, "credentials")])
async def test_header_injection_from_a_config_is_refused(
        push: Callable[..., PushDelivery], serve: Callable[..., Any],
        token: str, auth: dict[str, Any] | None, field_: str) -> None:
    hook = await serve(ok)
    delivery = push(["http://127.0.0.1:*/*"])
    record = PushConfigRecord(task_id="t1", id="c1", url=hook.url, token=token, authentication=auth)
    with pytest.raises(InvalidParams, match=field_):
        await delivery.check_config(record)
    delivery.deliver([record], update())
    [entry] = await trail(delivery).wait(1)
    assert entry["outcome"] == "denied" and field_ in entry["error"]
    assert hook.hits == []
    # The wire type (what a client sends) is checked the same way.
    wire_auth = a2a.AuthenticationInfo(scheme="Basic", credentials="a\nb")
    with pytest.raises(InvalidParams, match="credentials"):
        await delivery.check_config(a2a.TaskPushNotificationConfig(url=hook.url, authentication=wire_auth))


async def test_an_endless_answer_is_not_read_to_its_end(push: Callable[..., PushDelivery],
                                                         serve: Callable[..., Any]) -> None:
    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        await response.prepare(request)
        chunk = b"x" * 65536
        try:
            while True:
                await response.write(chunk)
        except (ConnectionError, RuntimeError):
            return response  # the client went away: what we want

    hook = await serve(endless)
    delivery = push(["http://127.0.0.1:*/*"], timeout=10.0)
    started = time.monotonic()
    delivery.deliver([PushConfigRecord(task_id="t1", id="c1", url=hook.url)], update())
    [entry] = await trail(delivery).wait(1)
    assert (entry["outcome"], entry["status"]) == ("success", 200)
    assert time.monotonic() - started < 5  # not the 10 s timeout of reading it all


async def test_a_webhook_that_never_answers_costs_one_round_then_is_skipped(
        push: Callable[..., PushDelivery], serve: Callable[..., Any]) -> None:
    never = asyncio.Event()

    async def stall(request: web.Request) -> web.Response:
        await never.wait()
        return web.Response(status=204)

    slow, fine = await serve(stall), await serve(ok)
    delivery = push(["http://127.0.0.1:*/*"], workers=1, attempts=2, timeout=0.3, cooldown=60)
    slow_config = PushConfigRecord(task_id="t1", id="slow", url=slow.url)
    fine_config = PushConfigRecord(task_id="t1", id="fine", url=fine.url)
    for n in range(3):
        delivery.deliver([slow_config, fine_config], update(n))
    entries = await trail(delivery).wait(6)
    slow_entries = [e for e in entries if e["config_id"] == "slow"]
    assert slow_entries[0]["outcome"] == "failure" and slow_entries[0]["attempts"] == 2
    assert "Timeout" in slow_entries[0]["error"]
    assert [e["attempts"] for e in slow_entries[1:]] == [0, 0]
    assert all("skipped" in e["error"] for e in slow_entries[1:])
    assert len(slow.hits) == 2  # one round of attempts, not one per update
    assert [e["outcome"] for e in entries if e["config_id"] == "fine"] == ["success"] * 3
    never.set()


# -- secrets of a URL ----------------------------------------------------------------------


async def test_a_urls_secrets_stay_out_of_logs_and_the_audit(
        push: Callable[..., PushDelivery], serve: Callable[..., Any], caplog: pytest.LogCaptureFixture) -> None:
    hook = await serve(ok)
    delivery = push(["http://127.0.0.1:*/*"], workers=1, queue_size=1)
    url = f"{hook.url}?key=s3cr3t"
    config = PushConfigRecord(task_id="t1", id="c1", url=url, token="tok")
    with caplog.at_level(logging.WARNING, logger="codetether.tasks.push"):
        delivery.deliver([config], update(0))
        delivery.deliver([config], update(1))  # the queue holds one: dropped, logged
    [entry] = await trail(delivery).wait(1)
    assert "dropped" in caplog.text and "s3cr3t" not in caplog.text
    assert entry["outcome"] == "success" and entry["resource"] == hook.url
    with pytest.raises(InvalidParams, match="no credentials in the URL"):
        await delivery.check_url(f"http://user:pw@127.0.0.1:{hook.port}/hook")
    assert shown("https://u:p@h.example:8443/a/b?token=x#f") == "https://h.example:8443/a/b"
    assert shown("https://h.example?token=x") == "https://h.example"


async def test_a_lookup_that_hangs_is_bounded(push: Callable[..., PushDelivery]) -> None:
    async def hang(host: str, port: int) -> list[str]:
        await asyncio.Event().wait()
        return []

    delivery = push([], timeout=0.2)
    delivery.resolve = hang
    with pytest.raises(InvalidParams, match="cannot resolve.*timed out"):
        await delivery.check_url("https://hooks.example.com/x")


# -- allow patterns ----------------------------------------------------------------------


async def test_a_wildcard_in_an_allow_patterns_host_stays_in_the_host(push: Callable[..., PushDelivery]) -> None:
    # fnmatch's * matches "/" too: on the whole URL, "https://*.example.com/*" let
    # "https://evil.test/a.example.com/x" through (a public host the operator never allowed).
    async def public(host: str, port: int) -> list[str]:
        return [PUBLIC]

    delivery = push(["https://*.example.com/*", "http://127.0.0.1:*/*"], resolve=public)
    for url in ("https://evil.test/a.example.com/x", "https://evil.test?.example.com/x",
                "https://evil.test#.example.com/x", "http://127.0.0.1.evil.test:80/x"):
        with pytest.raises(InvalidParams, match="not in \\[a2a\\] push_allow"):
            await delivery.check_url(url)
    await delivery.check_url("https://hooks.example.com/a/b?x=1")
    await delivery.check_url("https://a.b.example.com/")
    await push(["*"], resolve=public).check_url("https://anything.test/x")


async def test_a_url_that_does_not_parse_is_not_echoed(push: Callable[..., PushDelivery]) -> None:
    # Credentials pasted into a URL with an unencoded "/" or "?" (common in base64 secrets)
    # do not parse as user info; the refusal goes to the caller and, through the call's
    # audit record, to the audit trail: it must not carry them.
    delivery = push([])
    for url in ("https://user:abc/def@hooks.example.com/", "https://user:abc?def@hooks.example.com/"):
        with pytest.raises(InvalidParams) as caught:
            await delivery.check_url(url)
        assert "abc" not in caught.value.message and "user" not in caught.value.message
