"""The a2a_delegate tool against a real peer: an in-process App (scripted provider) behind
the real HTTP transport on loopback, called through the official SDK client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from codetether.daemon.api.a2a import A2AAPI, build_a2a_api
from codetether.daemon.core.config import A2APeer
from codetether.daemon.core.tools import ToolContext, Workspace, default_registry
from codetether.daemon.core.tools.a2a_delegate import A2ADelegateParams, A2ADelegateTool
from codetether.daemon.errors import InvalidParams, ToolFailure
from codetether.daemon.transports.http import HttpListener

TOKEN = "peer-b-token-0123456789"


@pytest.fixture
async def peer_b(short_dir: Path, scripted_app: Any) -> AsyncIterator[str]:
    ws = short_dir / "ws"
    ws.mkdir()
    app = scripted_app(short_dir / "b", [{"text": "B says: the answer is 42"}], fallback="B again",
                       config=f'[a2a]\nname = "bee"\nworkspace = "{ws}"\n')
    domain = A2AAPI(app)
    listener = HttpListener(build_a2a_api(app, domain), host="127.0.0.1", port=0, token=TOKEN,
                            max_body_bytes=1 << 20)
    url = await listener.start()
    app.endpoints = {"http_url": url}
    yield url
    await listener.stop_accepting()
    app.stop_runs()
    await listener.drain(2.0)
    await domain.aclose()
    await app.aclose()


def _ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(workspace=Workspace(tmp_path), session_id="s1")


def test_it_is_registered_and_needs_approval() -> None:
    tool = default_registry().get("a2a_delegate")
    assert isinstance(tool, A2ADelegateTool) and not tool.read_only
    schema = tool.schema()
    assert set(schema["required"]) == {"peer", "message"}
    assert tool.approval_subject(A2ADelegateParams(peer="bee", message="x")) == "bee"


async def test_delegates_to_a_configured_peer_and_returns_its_answer(
        peer_b: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEE_TOKEN", TOKEN)
    tool = A2ADelegateTool(lambda: {"bee": A2APeer(url=peer_b, token_env="BEE_TOKEN")})
    result = await tool.run(tool.parse({"peer": "bee", "message": "what is the answer?"}), _ctx(tmp_path))
    assert not result.is_error
    assert result.output == "[bee completed]\nB says: the answer is 42"
    assert result.metadata["state"] == "completed" and result.metadata["url"] == peer_b
    assert result.metadata["task_id"] and result.metadata["context_id"]


async def test_a_url_with_the_default_token_and_the_failures_named(
        peer_b: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tool = A2ADelegateTool(dict)
    monkeypatch.setenv("CODETETHER_A2A_TOKEN", TOKEN)
    ok = await tool.run(tool.parse({"peer": peer_b, "message": "hi"}), _ctx(tmp_path))
    assert ok.output.startswith(f"[{peer_b} completed]\n")
    monkeypatch.setenv("CODETETHER_A2A_TOKEN", "wrong-token")
    with pytest.raises(ToolFailure, match=f"a2a_delegate {peer_b}: the agent at {peer_b} refused the token"):
        await tool.run(tool.parse({"peer": peer_b, "message": "hi"}), _ctx(tmp_path))
    with pytest.raises(ToolFailure, match="cannot reach the agent at http://127.0.0.1:1"):
        await tool.run(tool.parse({"peer": "http://127.0.0.1:1", "message": "hi"}), _ctx(tmp_path))
    with pytest.raises(InvalidParams, match="no peer named 'wasp'"):
        await tool.run(tool.parse({"peer": "wasp", "message": "hi"}), _ctx(tmp_path))


async def test_the_peers_come_from_config_toml_by_default(
        peer_b: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "a"
    (home / "config").mkdir(parents=True)
    (home / "config" / "config.toml").write_text(
        f'[a2a.peers.bee]\nurl = "{peer_b}"\ntoken_env = "BEE_TOKEN"\n')
    monkeypatch.setenv("CODETETHER_HOME", str(home))
    monkeypatch.setenv("BEE_TOKEN", TOKEN)
    tool = A2ADelegateTool()
    result = await tool.run(tool.parse({"peer": "bee", "message": "hi"}), _ctx(tmp_path))
    assert result.output.startswith("[bee completed]")
