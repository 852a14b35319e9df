"""Gemini: contents/parts, functionCall / functionResponse, systemInstruction, schema
clean-up, synthesized call ids."""

from __future__ import annotations

import json

from codetether.daemon.core.providers import CompletionRequest, ToolCallReady, ToolSpec
from codetether.daemon.core.providers.gemini import gemini_schema
from codetether.daemon.testing import Turn
from codetether.daemon.wire.messages import Message, ToolCall

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "ReadParams",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "title": {"type": "string", "title": "Title"},  # a property *named* title survives
        "limit": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None},
        "mode": {"$ref": "#/$defs/Mode"},
    },
    "required": ["title"],
    "$defs": {"Mode": {"title": "Mode", "enum": ["r", "w"], "type": "string"}},
}

CLEAN = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "limit": {"type": "integer", "nullable": True},
        "mode": {"enum": ["r", "w"], "type": "string"},
    },
    "required": ["title"],
}

CONVERSATION = CompletionRequest(
    model="gemini-test",
    system="You are terse.",
    messages=[
        Message(role="user", content="read a"),
        Message(role="assistant", tool_calls=[ToolCall(id="call_x", name="read_file", arguments='{"title": "a"}')]),
        Message(role="tool", tool_call_id="call_x", content="AAA"),  # name recovered from the call
        Message(role="user", content="thanks"),
    ],
    tools=[ToolSpec("read_file", "Read a file", SCHEMA), ToolSpec("now", "The time", {"type": "object", "properties": {}})],
    max_tokens=77,
    temperature=0.5,
)


def test_schema_cleanup():
    assert gemini_schema(SCHEMA) == CLEAN


async def test_request_shape_and_headers(server, provider_for, collect):
    server.add(Turn.text("ok"))
    await collect(provider_for("gemini"), CONVERSATION)
    (sent,) = server.requests_for("gemini")

    assert sent.path == "/v1beta/models/gemini-test:streamGenerateContent"
    assert sent.query == {"alt": "sse"}
    assert sent.headers["x-goog-api-key"] == "gk-test"
    body = sent.body
    assert body["systemInstruction"] == {"parts": [{"text": "You are terse."}]}
    assert body["generationConfig"] == {"maxOutputTokens": 77, "temperature": 0.5}
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {"name": "read_file", "description": "Read a file", "parameters": CLEAN},
                {"name": "now", "description": "The time"},
            ]
        }
    ]
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "read a"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "read_file", "args": {"title": "a"}}}]},
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "read_file", "response": {"content": "AAA"}}},
                {"text": "thanks"},
            ],
        },
    ]


async def test_synthesized_ids_are_stable_and_distinct(server, provider_for, collect):
    call = ToolCall(id="", name="ls", arguments='{"path": "."}')
    server.add(Turn.tools(call, call), Turn.tools(call, call))
    provider = provider_for("gemini")
    first = [e.call.id for e in await collect(provider, CONVERSATION) if isinstance(e, ToolCallReady)]
    again = [e.call.id for e in await collect(provider, CONVERSATION) if isinstance(e, ToolCallReady)]
    assert len(set(first)) == 2  # two identical calls in one turn still differ
    assert first == again  # same transcript, same answer: same ids


async def test_models_prefix_is_stripped(server, provider_for, collect):
    server.add(Turn.text("ok"))
    request = CompletionRequest(model="models/gemini-2.5-pro", messages=[Message(role="user", content="x")])
    await collect(provider_for("gemini", include_thoughts=True), request)
    sent = server.requests[0]
    assert sent.path == "/v1beta/models/gemini-2.5-pro:streamGenerateContent"
    assert sent.body["generationConfig"]["thinkingConfig"] == {"includeThoughts": True}
    assert json.dumps(sent.body)  # plain JSON all the way down


async def test_structured_output_is_json_mode(server, provider_for, collect):
    from codetether.daemon.core.providers import CompletionRequest
    from codetether.daemon.wire.messages import Message

    server.add(Turn.text('{"a": 1}'))
    await collect(provider_for("gemini"), CompletionRequest(
        model="gemini-test", messages=[Message(role="user", content="json")], max_tokens=10,
        response_schema={"type": "object"}))
    (sent,) = server.requests_for("gemini")
    assert sent.body["generationConfig"] == {"maxOutputTokens": 10, "responseMimeType": "application/json"}
