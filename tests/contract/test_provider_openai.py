"""OpenAI-compatible chat completions: what the client sends, and stream assembly."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from codetether.daemon.core.providers import (
    CompletionRequest,
    ProviderCredentials,
    StreamDone,
    TextDelta,
    ThinkingDelta,
    ToolCallReady,
    ToolSpec,
    UsageReport,
    create_provider,
)
from codetether.daemon.core.providers.openai import DEFAULT_BASE_URLS, ToolCallAssembler, chat_events
from codetether.daemon.errors import ConfigError, ProviderError
from codetether.daemon.testing import Turn
from codetether.daemon.wire.messages import Message, ToolCall, Usage

SCHEMA = {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}

CONVERSATION = CompletionRequest(
    model="gpt-test",
    system="You are terse.",
    messages=[
        Message(role="user", content="read a and b"),
        Message(
            role="assistant",
            content="",
            tool_calls=[
                ToolCall(id="call_a", name="read_file", arguments='{"path": "a"}'),
                ToolCall(id="call_b", name="read_file", arguments='{"path": "b"}'),
            ],
        ),
        Message(role="tool", tool_call_id="call_a", name="read_file", content="AAA"),
        Message(role="tool", tool_call_id="call_b", name="read_file", content="no such file", is_error=True),
        Message(role="user", content="thanks"),
    ],
    tools=[ToolSpec("read_file", "Read a file", SCHEMA)],
    max_tokens=321,
    temperature=0.2,
)


async def test_request_body_and_headers(server, provider_for, collect):
    server.add(Turn.text("ok"))
    await collect(provider_for("openai"), CONVERSATION)
    (sent,) = server.requests_for("openai")

    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert sent.headers["accept"] == "text/event-stream"
    body = sent.body
    assert body["model"] == "gpt-test"
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["max_completion_tokens"] == 321  # OpenAI proper: reasoning models refuse max_tokens
    assert body["temperature"] == 0.2
    assert body["tools"] == [
        {"type": "function", "function": {"name": "read_file", "description": "Read a file", "parameters": SCHEMA}}
    ]
    assert body["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "read a and b"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "a"}'}},
                {"id": "call_b", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "b"}'}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": "AAA"},
        {"role": "tool", "tool_call_id": "call_b", "content": "no such file"},
        {"role": "user", "content": "thanks"},
    ]


async def test_custom_keyless_server_uses_max_tokens_and_no_auth(server, collect):
    # llama.cpp server / Ollama / vLLM: any name with a base_url, no key needed.
    server.add(Turn.text("local answer"))
    provider = create_provider("my-llama", ProviderCredentials(base_url=server.openai_base_url + "/"))
    events = await collect(provider, CompletionRequest(model="qwen", messages=[Message(role="user", content="x")]))
    await provider.aclose()
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "local answer"
    (sent,) = server.requests
    assert "authorization" not in sent.headers
    assert sent.body["max_tokens"] == 4096 and "max_completion_tokens" not in sent.body


async def test_extra_headers_and_organization(server, collect):
    server.add(Turn.text("ok"))
    creds = ProviderCredentials(
        api_key="or-key", base_url=server.openai_base_url, organization="org-1", headers={"HTTP-Referer": "https://x"}
    )
    provider = create_provider("openrouter", creds, settings={"headers": {"X-Title": "codetether"}})
    await collect(provider, CompletionRequest(model="m", messages=[Message(role="user", content="x")]))
    await provider.aclose()
    headers = server.requests[0].headers
    assert headers["authorization"] == "Bearer or-key"
    assert headers["openai-organization"] == "org-1"
    assert headers["http-referer"] == "https://x"
    assert headers["x-title"] == "codetether"


def test_base_url_table():
    assert DEFAULT_BASE_URLS["openai"] == "https://api.openai.com/v1"
    assert DEFAULT_BASE_URLS["openrouter"] == "https://openrouter.ai/api/v1"
    assert DEFAULT_BASE_URLS["moonshotai"] == "https://api.moonshot.ai/v1"
    assert DEFAULT_BASE_URLS["zai"] == "https://api.z.ai/api/paas/v4"
    assert DEFAULT_BASE_URLS["stepfun"] == "https://api.stepfun.com/v1"
    assert DEFAULT_BASE_URLS["ollama"] == "http://localhost:11434/v1"


async def _payloads(*chunks: object) -> AsyncIterator[str]:
    for chunk in chunks:
        yield chunk if isinstance(chunk, str) else json.dumps(chunk)


def _delta(delta: dict, finish: str | None = None) -> dict:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


async def test_reasoning_fields_and_usage_on_last_choice_chunk():
    events = [
        e
        async for e in chat_events(
            "vllm",
            _payloads(
                _delta({"reasoning": "hmm "}),
                _delta({"reasoning_content": "ok"}),
                _delta({"content": "Hi"}),
                # llama.cpp server puts usage on the final choice chunk
                {**_delta({}, "stop"), "usage": {"prompt_tokens": 3, "completion_tokens": 2}},
                "[DONE]",
            ),
        )
    ]
    assert events == [
        ThinkingDelta("hmm "),
        ThinkingDelta("ok"),
        TextDelta("Hi"),
        UsageReport(Usage(3, 2)),
        StreamDone("end_turn"),
    ]


async def test_tool_calls_without_index_or_finish_reason():
    # Some compatible servers omit "index" and end with "stop" (or nothing) after calls.
    events = [
        e
        async for e in chat_events(
            "ollama",
            _payloads(
                _delta({"tool_calls": [{"id": "c1", "function": {"name": "a", "arguments": '{"x":'}}]}),
                _delta({"tool_calls": [{"function": {"arguments": " 1}"}}]}),
                _delta({"tool_calls": [{"id": "c2", "function": {"name": "b", "arguments": "{}"}}]}),
            ),
        )
    ]
    assert events == [
        ToolCallReady(ToolCall(id="c1", name="a", arguments='{"x": 1}')),
        ToolCallReady(ToolCall(id="c2", name="b", arguments="{}")),
        StreamDone("tool_use"),
    ]


async def test_in_stream_error_and_garbage_are_provider_errors():
    with pytest.raises(ProviderError, match="quota exhausted"):
        [e async for e in chat_events("x", _payloads({"error": {"message": "quota exhausted"}}))]
    with pytest.raises(ProviderError, match="malformed stream event"):
        [e async for e in chat_events("x", _payloads("{not json"))]


def test_assembler_synthesizes_missing_ids():
    assembler = ToolCallAssembler()
    assembler.add({"index": 0, "function": {"name": "a", "arguments": ""}})
    (call,) = assembler.finish()
    assert call.id.startswith("call_") and call.arguments == "{}"
    assert not assembler


async def test_unknown_provider_without_base_url_is_a_config_error():
    with pytest.raises(ConfigError, match="base_url"):
        create_provider("nowhere", ProviderCredentials(api_key="k"))


@pytest.mark.parametrize(("name", "expected"), [("moonshotai", True), ("openai", False)])
async def test_reasoning_sent_back_only_where_wanted(server, collect, name, expected):
    server.add(Turn.text("ok"))
    provider = create_provider(name, ProviderCredentials(api_key="k", base_url=server.openai_base_url))
    request = CompletionRequest(
        model="kimi-k2.5",
        messages=[
            Message(role="user", content="q"),
            Message(role="assistant", content="a", thinking="because"),
            Message(role="user", content="q2"),
        ],
    )
    await collect(provider, request)
    await provider.aclose()
    assistant = server.requests[0].body["messages"][1]
    assert assistant["content"] == "a"
    assert ("reasoning_content" in assistant) is expected


async def test_structured_output_asks_for_the_schema_or_json_mode(server, provider_for, collect):
    schema = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}
    asked = CompletionRequest(model="m", messages=[Message(role="user", content="json please")],
                              response_schema=schema)
    server.add(Turn.text('{"title": "x"}'))
    await collect(provider_for("openai"), asked)
    (sent,) = server.requests_for("openai")
    assert sent.body["response_format"] == {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema}}
    # a compatible server (llama.cpp, vLLM, Ollama behind another name) gets JSON mode; it can be turned off
    from codetether.daemon.core.providers import ProviderCredentials, create_provider

    for settings, expected in (({}, {"type": "json_object"}), ({"structured_output": False}, None)):
        server.add(Turn.text('{"title": "x"}'))
        compatible = create_provider("openrouter", ProviderCredentials(api_key="k", base_url=server.openai_base_url),
                                     settings={"max_retries": 0, **settings})
        try:
            await collect(compatible, asked)
        finally:
            await compatible.aclose()
        assert server.requests_for("openai")[-1].body.get("response_format") == expected
    # without a schema nothing is asked
    server.add(Turn.text("free text"))
    await collect(provider_for("openai"), CompletionRequest(model="m", messages=[Message(role="user", content="hi")]))
    assert "response_format" not in server.requests_for("openai")[-1].body
