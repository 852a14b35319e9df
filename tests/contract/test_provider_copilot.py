"""GitHub Copilot: token exchange, caching until expiry, and the chat request headers."""

from __future__ import annotations

import pytest
from codetether.daemon.core.providers import (
    CompletionRequest,
    ProviderCredentials,
    TextDelta,
    create_provider,
)
from codetether.daemon.core.providers.copilot import CopilotProvider
from codetether.daemon.errors import ProviderAuthError
from codetether.daemon.testing import ScriptedVendorServer, Turn
from codetether.daemon.wire.messages import Message

REQUEST = CompletionRequest(model="claude-opus-4", messages=[Message(role="user", content="hi")])


async def test_token_exchange_then_chat_headers(server, provider_for, collect):
    server.add(Turn.text("hello"))
    provider = provider_for("copilot")
    assert isinstance(provider, CopilotProvider)
    events = await collect(provider, REQUEST)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "hello"

    token_request, chat = server.requests
    assert token_request.vendor == "copilot-token"
    assert token_request.method == "GET"
    assert token_request.headers["authorization"] == "token gho_test"
    # the chat URL came from the token answer's endpoints.api
    assert chat.path == "/chat/completions"
    assert chat.headers["authorization"] == "Bearer copilot-test-token"
    assert chat.headers["copilot-integration-id"] == "vscode-chat"
    assert chat.headers["editor-version"].startswith("codetether/")
    assert chat.body["model"] == "claude-opus-4" and chat.body["stream"] is True


async def test_token_cached_until_expiry(server, provider_for, collect):
    server.add(Turn.text("one"), Turn.text("two"))
    provider = provider_for("copilot")
    await collect(provider, REQUEST)
    await collect(provider, REQUEST)
    assert [r.vendor for r in server.requests] == ["copilot-token", "openai", "openai"]


async def test_token_refreshed_when_near_expiry(collect):
    # A token valid for 30 s is inside the refresh margin: every call exchanges anew.
    async with ScriptedVendorServer([Turn.text("one"), Turn.text("two")], token_ttl=30) as server:
        provider = create_provider(
            "github-copilot", ProviderCredentials(api_key="gho_x"), settings={"github_api": server.base_url}
        )
        await collect(provider, REQUEST)
        await collect(provider, REQUEST)
        await provider.aclose()
    assert [r.vendor for r in server.requests] == ["copilot-token", "openai", "copilot-token", "openai"]


async def test_chat_url_override(collect):
    async with ScriptedVendorServer() as tokens, ScriptedVendorServer([Turn.text("elsewhere")]) as chat:
        provider = create_provider(
            "github-copilot",
            ProviderCredentials(api_key="gho_x"),
            settings={"github_api": tokens.base_url, "base_url": chat.base_url},
        )
        events = await collect(provider, REQUEST)
        await provider.aclose()
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "elsewhere"
    assert [r.vendor for r in tokens.requests] == ["copilot-token"]
    assert [r.vendor for r in chat.requests] == ["openai"]


async def test_chat_auth_failure_drops_cached_token(server, provider_for, collect):
    server.add(Turn.text("one"), Turn.failure(401, "token revoked"), Turn.text("three"))
    provider = provider_for("copilot")
    await collect(provider, REQUEST)
    with pytest.raises(ProviderAuthError, match="secret/codetether/providers/github-copilot"):
        await collect(provider, REQUEST)
    await collect(provider, REQUEST)
    assert [r.vendor for r in server.requests] == ["copilot-token", "openai", "openai", "copilot-token", "openai"]
