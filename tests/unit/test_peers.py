"""The peers room: the registry file, which peer a name means with which token, the
poller against a real card server on loopback, and the SDK's errors mapped to ours."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from codetether.daemon.core.config import A2APeer
from codetether.daemon.core.peers import (
    Peer,
    PeerPoller,
    PeerRegistry,
    PollerState,
    card_url,
    choose_binding,
    registry_path,
    resolve_peer,
    task_text,
)
from codetether.daemon.core.peers._client import _mapped
from codetether.daemon.core.secrets import REDACTED, redact
from codetether.daemon.errors import (
    CodetetherError,
    InvalidParams,
    TaskNotCancelable,
    TaskNotFound,
    Unauthenticated,
    Unavailable,
)


def test_the_registry_survives_a_reload_and_a_bad_file(tmp_path: Path) -> None:
    path = registry_path(tmp_path / "data")
    reg = PeerRegistry(path)
    assert reg.peers() == []
    reg.put(Peer(url="http://a:1/", name="a", last_seen=1.0))
    reg.put(Peer(url="http://b:2", name="b"))
    again = PeerRegistry(path)
    assert [(p.url, p.name) for p in again.peers()] == [("http://a:1", "a"), ("http://b:2", "b")]
    assert again.get("http://a:1/") is not None and os.stat(path).st_mode & 0o777 == 0o600
    path.write_text("{not json")
    again.reload()
    assert again.peers() == []


def test_a_peer_by_name_or_url_with_its_token() -> None:
    peers = {"bee": A2APeer(url="http://bee:1/", token_env="BEE_TOKEN")}
    env = {"BEE_TOKEN": "bee-secret", "CODETETHER_A2A_TOKEN": "fallback"}
    by_name = resolve_peer("bee", peers, env)
    assert (by_name.name, by_name.url, by_name.token) == ("bee", "http://bee:1", "bee-secret")
    by_url = resolve_peer("http://bee:1", peers, env)
    assert (by_url.name, by_url.token) == ("bee", "bee-secret")
    other = resolve_peer("https://elsewhere/", peers, env)
    assert (other.name, other.url, other.token) == (None, "https://elsewhere", "fallback")
    assert "bee-secret" not in repr(by_name)
    assert redact("sent bee-secret") == f"sent {REDACTED}"  # the redactor knows it now
    with pytest.raises(InvalidParams, match=r"no peer named 'wasp' \(known: bee\)"):
        resolve_peer("wasp", peers, env)
    assert resolve_peer("bee", peers, {}).token is None


def test_the_binding_follows_the_card_unless_asked() -> None:
    card: dict[str, Any] = {"name": "x", "supportedInterfaces": [
        {"protocolBinding": "GRPC", "url": "h:2"}, {"protocolBinding": "JSONRPC", "url": "http://h:1"}]}
    assert choose_binding(card, "http://h:1") == ("GRPC", "h:2")
    assert choose_binding(card, "http://h:1", "jsonrpc") == ("JSONRPC", "http://h:1")
    with pytest.raises(InvalidParams, match="offers no HTTP\\+JSON interface"):
        choose_binding(card, "http://h:1", "http")
    assert choose_binding({"name": "old"}, "http://h:1/") == ("JSONRPC", "http://h:1")
    assert card_url("http://h:1/") == "http://h:1/.well-known/agent-card.json"


def test_a_tasks_text_is_its_artifacts_then_its_status_message() -> None:
    task = {"artifacts": [{"parts": [{"text": "a"}, {"text": "b"}]}, {"parts": [{"data": {"k": 1}}]}],
            "status": {"message": {"parts": [{"text": "why?"}]}}}
    assert task_text(task) == 'ab\n{"k": 1}\nwhy?'


def test_the_sdks_errors_become_ours() -> None:
    from a2a.client.errors import A2AClientError
    from a2a.utils.errors import TaskNotCancelableError, TaskNotFoundError

    url = "http://peer:1"
    refused = _mapped(A2AClientError("HTTP Error 401: Client error '401 Unauthorized'"), url)
    assert isinstance(refused, Unauthenticated) and refused.message == f"the agent at {url} refused the token"
    assert isinstance(_mapped(A2AClientError("gRPC Error UNAUTHENTICATED: no"), url), Unauthenticated)
    gone = _mapped(A2AClientError("Network communication error: All connection attempts failed"), url)
    assert isinstance(gone, Unavailable) and url in gone.message
    assert isinstance(_mapped(TaskNotFoundError("task x not found"), url), TaskNotFound)
    assert isinstance(_mapped(TaskNotCancelableError("done"), url), TaskNotCancelable)
    other = _mapped(ValueError("odd"), url)
    assert type(other) is CodetetherError and "odd" in other.message


@pytest.fixture
async def card_server() -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """A real HTTP server on loopback serving a card; ``state["up"] = False`` makes it 503."""
    state: dict[str, Any] = {"up": True, "name": "bee", "hits": 0}

    async def card(_request: web.Request) -> web.Response:
        state["hits"] += 1
        if not state["up"]:
            return web.Response(status=503)
        return web.json_response({"name": state["name"], "supportedInterfaces": []})

    app = web.Application()
    app.router.add_get("/.well-known/agent-card.json", card)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", state
    await runner.cleanup()


async def test_the_poller_registers_updates_and_introduces_once(
        tmp_path: Path, card_server: tuple[str, dict[str, Any]]) -> None:
    url, state = card_server
    reg = PeerRegistry(registry_path(tmp_path))
    sent: list[tuple[str, str | None, str]] = []
    fail_first = [True]

    async def introduce(to: str, token: str | None, text: str) -> str:
        if fail_first[0]:
            fail_first[0] = False
            raise Unavailable("not yet")
        sent.append((to, token, text))
        return "t1"

    poller = PeerPoller(reg, [url + "/", url, "http://127.0.0.1:1"], name="me",
                        own_url=lambda: "http://me:9", token_for=lambda u: f"tok-{u[-5:]}",
                        interval=0.01, send_introduction=introduce)
    assert poller.urls == [url, "http://127.0.0.1:1"]
    async with poller:
        assert poller.state is PollerState.RUNNING
        await poller.wait_rounds(1)
        first = reg.get(url)
        assert first is not None and first.name == "bee" and not first.introduced
        assert first.error == "introduction failed: not yet"
        await poller.wait_rounds(3)
        state["name"] = "bee2"
        seen = reg.get(url)
        assert seen is not None and seen.introduced and seen.error is None
        await poller.wait_rounds(poller.rounds + 2)
        assert sent == [(url, f"tok-{url[-5:]}", "Hello from me at http://me:9/.well-known/agent-card.json")]
        state["up"] = False
        await poller.wait_rounds(poller.rounds + 2)
    assert poller.state is PollerState.CLOSED
    on_disk = {p.url: p for p in PeerRegistry(registry_path(tmp_path)).peers()}
    assert on_disk[url].name == "bee2" and "HTTP 503" in (on_disk[url].error or "")
    assert "http://127.0.0.1:1" not in on_disk  # never answered: never registered
    with pytest.raises(RuntimeError):
        await poller.__aenter__()


async def test_no_introductions_when_told_not_to(tmp_path: Path, card_server: tuple[str, dict[str, Any]]) -> None:
    url, _state = card_server

    async def introduce(to: str, token: str | None, text: str) -> str:
        raise AssertionError("introduced")

    async with PeerPoller(PeerRegistry(registry_path(tmp_path)), [url], name="me", own_url=lambda: None,
                          token_for=lambda u: None, interval=60, auto_introduce=False,
                          send_introduction=introduce) as poller:
        await poller.wait_rounds(1)
    peer = PeerRegistry(registry_path(tmp_path)).get(url)
    assert peer is not None and not peer.introduced
    assert json.loads(registry_path(tmp_path).read_text())[0]["name"] == "bee"


async def test_our_own_url_is_not_a_peer(tmp_path: Path, card_server: tuple[str, dict[str, Any]]) -> None:
    url, state = card_server
    async with PeerPoller(PeerRegistry(registry_path(tmp_path)), [url], name="me", own_url=lambda: url + "/",
                          token_for=lambda u: None) as poller:
        await poller.wait_rounds(1)
    assert state["hits"] == 0 and poller.registry.peers() == []


async def test_closing_cancels_a_round_stuck_on_a_slow_peer(tmp_path: Path) -> None:
    started = asyncio.Event()

    async def slow(url: str) -> dict[str, Any]:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("not reached")

    poller = PeerPoller(PeerRegistry(registry_path(tmp_path)), ["http://slow"], name="me",
                        own_url=lambda: None, token_for=lambda u: None, fetch=slow)
    async with poller:
        await started.wait()
    assert poller.rounds == 0 and poller.state is PollerState.CLOSED
