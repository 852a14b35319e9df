"""The behaviour every HTTP provider shares, run against the scripted vendor server:
streaming text and tool calls, retries before the first token, auth and vendor errors."""

from __future__ import annotations

import json
import socket

import pytest
from codetether.daemon.core.providers import (
    CompletionRequest,
    StreamDone,
    TextDelta,
    ThinkingDelta,
    ToolCallReady,
    UsageReport,
    create_provider,
)
from codetether.daemon.core.providers.base import ProviderCredentials
from codetether.daemon.errors import ProviderAuthError, ProviderError, SecretError
from codetether.daemon.testing import Turn
from codetether.daemon.wire.messages import Message, ToolCall, Usage

VENDORS = ["openai", "anthropic", "gemini", "bedrock", "copilot"]
REQUEST = CompletionRequest(model="model-x", messages=[Message(role="user", content="hi")], max_tokens=64)


def _chat_requests(server, vendor):
    return server.requests_for("openai" if vendor == "copilot" else vendor)


@pytest.mark.parametrize("vendor", VENDORS)
async def test_text_streams_in_several_deltas(vendor, server, provider_for, collect):
    server.add(Turn.text("Hello there, streaming world!", usage=Usage(21, 7)))
    events = await collect(provider_for(vendor), REQUEST)

    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(texts) >= 2
    assert "".join(texts) == "Hello there, streaming world!"
    assert events[-2:] == [UsageReport(Usage(21, 7)), StreamDone("end_turn")]
    assert len(_chat_requests(server, vendor)) == 1


@pytest.mark.parametrize("vendor", VENDORS)
async def test_tool_call_assembled_from_split_arguments(vendor, server, provider_for, collect):
    args = {"path": "src/a.txt", "limit": 10, "note": "ünïcode"}
    server.add(Turn.tool("read_file", args, id="toolu_1", text="Let me look."))
    events = await collect(provider_for(vendor), REQUEST)

    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Let me look."
    calls = [e.call for e in events if isinstance(e, ToolCallReady)]
    assert len(calls) == 1
    assert calls[0].name == "read_file"
    assert json.loads(calls[0].arguments) == args
    if vendor == "gemini":  # Gemini calls carry no id: one is synthesized
        assert calls[0].id.startswith("call_")
    else:
        assert calls[0].id == "toolu_1"
    assert events[-1] == StreamDone("tool_use")
    # the usage report comes after the calls and before the end
    assert isinstance(events[-2], UsageReport)


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "bedrock", "copilot"])
async def test_malformed_arguments_pass_through_verbatim(vendor, server, provider_for, collect):
    server.add(Turn.raw_tool("edit", '{"path": broken', id="call_bad"))
    events = await collect(provider_for(vendor), REQUEST)
    calls = [e.call for e in events if isinstance(e, ToolCallReady)]
    assert calls == [ToolCall(id="call_bad", name="edit", arguments='{"path": broken')]


@pytest.mark.parametrize("vendor", VENDORS)
async def test_two_tool_calls_in_one_turn(vendor, server, provider_for, collect):
    server.add(
        Turn.tools(
            ToolCall(id="c1", name="read_file", arguments='{"path": "a"}'),
            ToolCall(id="c2", name="list_dir", arguments='{"path": "."}'),
        )
    )
    events = await collect(provider_for(vendor), REQUEST)
    calls = [e.call for e in events if isinstance(e, ToolCallReady)]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [("read_file", {"path": "a"}), ("list_dir", {"path": "."})]
    assert len({c.id for c in calls}) == 2


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "gemini", "bedrock"])
async def test_thinking_streams_as_thinking_delta(vendor, server, provider_for, collect):
    server.add(Turn.text("42", thinking="Let me think about it."))
    events = await collect(provider_for(vendor), REQUEST)
    thinking = "".join(e.text for e in events if isinstance(e, ThinkingDelta))
    assert thinking == "Let me think about it."
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "42"


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("status", [429, 500, 503, 529])
async def test_retries_transient_status_then_succeeds(vendor, status, server, provider_for, collect):
    server.add(Turn.failure(status, "try later", retry_after=0), Turn.text("recovered"))
    events = await collect(provider_for(vendor), REQUEST)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "recovered"
    assert len(_chat_requests(server, vendor)) == 2


@pytest.mark.parametrize("vendor", VENDORS)
async def test_gives_up_after_bounded_attempts(vendor, server, provider_for, collect):
    server.add(*[Turn.failure(503, "overloaded") for _ in range(5)])
    with pytest.raises(ProviderError, match="overloaded") as caught:
        await collect(provider_for(vendor, max_attempts=3), REQUEST)
    assert not isinstance(caught.value, ProviderAuthError)
    assert "3 attempts" in caught.value.message
    assert len(_chat_requests(server, vendor)) == 3


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("status", [401, 403])
async def test_auth_failure_names_the_vault_path(vendor, status, server, provider_for, collect, monkeypatch):
    monkeypatch.delenv("VAULT_MOUNT", raising=False)
    monkeypatch.delenv("VAULT_SECRETS_PATH", raising=False)
    if vendor == "copilot":
        server.token_status = status
    else:
        server.add(Turn.failure(status, "invalid x-api-key"))
    provider = provider_for(vendor)
    with pytest.raises(ProviderAuthError) as caught:
        await collect(provider, REQUEST)
    name = provider.name
    assert f"secret/codetether/providers/{name}" in caught.value.message
    assert caught.value.codes.jsonrpc == -31005
    # auth failures are final: no retry
    assert len(server.requests) == 1


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "gemini", "bedrock"])
async def test_other_4xx_carries_vendor_message(vendor, server, provider_for, collect):
    server.add(Turn.failure(400, "max_tokens is too large for this model"))
    with pytest.raises(ProviderError, match="max_tokens is too large for this model") as caught:
        await collect(provider_for(vendor), REQUEST)
    assert "HTTP 400" in caught.value.message
    assert len(server.requests) == 1  # not retried


@pytest.mark.parametrize("vendor", VENDORS)
async def test_connect_errors_are_retried_then_reported(vendor, server, provider_for, collect):
    # A bound socket that never listens refuses connections: a dead port without guessing one.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
        if vendor == "openai":
            provider = create_provider("openai", ProviderCredentials(api_key="k", base_url=dead + "/v1"),
                                       settings={"retry_base_delay": 0, "max_attempts": 2})
        elif vendor == "copilot":
            provider = provider_for(vendor, github_api=dead, max_attempts=2)
        else:
            server._base_url = dead  # the factory reads base_url from the server
            provider = provider_for(vendor, max_attempts=2)
        with pytest.raises(ProviderError, match="(cannot connect to|token exchange failed).*2 attempts") as err:
            await collect(provider, REQUEST)
        await provider.aclose()
        if vendor != "copilot":  # C9: the message names the URL it could not reach (no query: keys live there)
            assert f"cannot connect to {dead}/" in err.value.message
            assert "?" not in err.value.message


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "gemini", "bedrock", "copilot"])
async def test_missing_credentials_is_a_secret_error(vendor, server, collect):
    names = {"openai": "openai", "anthropic": "anthropic", "gemini": "google", "bedrock": "bedrock", "copilot": "github-copilot"}
    provider = create_provider(names[vendor], ProviderCredentials(base_url=server.base_url))
    with pytest.raises(SecretError, match=f"providers/{names[vendor]}"):
        await collect(provider, REQUEST)
    await provider.aclose()
    assert server.requests == []


@pytest.mark.parametrize("vendor", VENDORS)
async def test_use_after_close_is_an_error(vendor, server, provider_for, collect):
    provider = provider_for(vendor)
    await provider.aclose()
    with pytest.raises(ProviderError, match="closed"):
        await collect(provider, REQUEST)


@pytest.mark.parametrize("vendor", VENDORS)
async def test_abandoned_stream_closes_cleanly(vendor, server, provider_for):
    """Abandoning a stream mid-way closes the connection and leaves no request behind."""
    server.add(Turn.text("a fairly long answer that streams in pieces"), Turn.text("second"))
    provider = provider_for(vendor)
    stream = provider.stream(REQUEST)
    first = await anext(stream)
    assert isinstance(first, TextDelta)
    await stream.aclose()
    events = [e async for e in provider.stream(REQUEST)]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "second"
