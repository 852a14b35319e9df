"""Anthropic Messages: request shape (system top-level, tool_use / tool_result blocks,
merged user turns) and the SSE event grammar."""

from __future__ import annotations

import pytest
from codetether.daemon.core.providers import CompletionRequest, ToolSpec
from codetether.daemon.errors import ProviderError
from codetether.daemon.testing import Turn
from codetether.daemon.wire.messages import Message, ToolCall

SCHEMA = {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}

CONVERSATION = CompletionRequest(
    model="claude-test",
    system="You are terse.",
    messages=[
        Message(role="system", content="Repo: demo."),
        Message(role="user", content="read a and b"),
        Message(
            role="assistant",
            content="Reading both.",
            tool_calls=[
                ToolCall(id="toolu_a", name="read_file", arguments='{"path": "a"}'),
                ToolCall(id="toolu_b", name="read_file", arguments='{"path": broken'),
            ],
        ),
        Message(role="tool", tool_call_id="toolu_a", name="read_file", content="AAA"),
        Message(role="tool", tool_call_id="toolu_b", name="read_file", content="bad JSON", is_error=True),
        Message(role="user", content="thanks"),
    ],
    tools=[ToolSpec("read_file", "Read a file", SCHEMA)],
    max_tokens=500,
)


async def test_request_shape_and_headers(server, provider_for, collect):
    server.add(Turn.text("ok"))
    await collect(provider_for("anthropic"), CONVERSATION)
    (sent,) = server.requests_for("anthropic")

    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "ak-test"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    body = sent.body
    assert body["model"] == "claude-test"
    assert body["max_tokens"] == 500
    assert body["stream"] is True
    assert body["system"] == "You are terse.\n\nRepo: demo."
    assert body["tools"] == [{"name": "read_file", "description": "Read a file", "input_schema": SCHEMA}]
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "read a and b"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Reading both."},
                {"type": "tool_use", "id": "toolu_a", "name": "read_file", "input": {"path": "a"}},
                # malformed arguments cannot be an object: wrapped, never dropped
                {"type": "tool_use", "id": "toolu_b", "name": "read_file", "input": {"_raw_arguments": '{"path": broken'}},
            ],
        },
        # both results and the next user message merged into one user turn
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_a", "content": "AAA"},
                {"type": "tool_result", "tool_use_id": "toolu_b", "content": "bad JSON", "is_error": True},
                {"type": "text", "text": "thanks"},
            ],
        },
    ]


async def test_thinking_budget_setting(server, provider_for, collect):
    server.add(Turn.text("ok"))
    await collect(provider_for("anthropic", thinking_budget=2048), CONVERSATION)
    assert server.requests[0].body["thinking"] == {"type": "enabled", "budget_tokens": 2048}


async def _sse(*pairs):
    class Event:
        def __init__(self, event, data):
            self.event, self.data = event, data

    import json

    for event, data in pairs:
        yield Event(event, json.dumps(data))


async def test_overloaded_error_event_before_output_is_retried(provider_for):
    from codetether.daemon.core.providers._http import RetryableError

    provider = provider_for("anthropic")
    stream = provider._events(_sse(("error", {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})))
    with pytest.raises(RetryableError, match="overloaded_error: busy"):
        [e async for e in stream]
    stream = provider._events(_sse(("error", {"type": "error", "error": {"type": "invalid_request_error", "message": "no"}})))
    with pytest.raises(ProviderError, match="invalid_request_error") as caught:
        [e async for e in stream]
    assert not isinstance(caught.value, RetryableError)
