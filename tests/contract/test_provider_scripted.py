"""The scripted provider (public test double) and its script files."""

from __future__ import annotations

import json

import pytest
from codetether.daemon.core.providers import (
    CompletionRequest,
    ProviderCredentials,
    StreamDone,
    TextDelta,
    ThinkingDelta,
    ToolCallReady,
    UsageReport,
    create_provider,
)
from codetether.daemon.errors import ConfigError, ProviderAuthError, ProviderError
from codetether.daemon.testing import ScriptedProvider, ScriptedVendorServer, Turn
from codetether.daemon.wire.messages import Message, ToolCall, Usage

REQUEST = CompletionRequest(model="scripted", messages=[Message(role="user", content="go")])


async def _events(provider):
    return [e async for e in provider.stream(REQUEST)]


async def test_plays_turns_in_order_and_records_requests():
    provider = ScriptedProvider(
        [
            Turn.tool("read_file", {"path": "a.txt"}),
            Turn.raw_tool("edit", '{"path": broken'),
            Turn.text("done", thinking="easy", usage=Usage(5, 1)),
        ]
    )
    first, second, third, fallback = [await _events(provider) for _ in range(4)]
    assert first == [
        ToolCallReady(ToolCall(id="call_0_read_file", name="read_file", arguments='{"path": "a.txt"}')),
        UsageReport(Usage(10, 4)),
        StreamDone("tool_use"),
    ]
    assert second[0] == ToolCallReady(ToolCall(id="call_0_edit", name="edit", arguments='{"path": broken'))
    assert third == [ThinkingDelta("easy"), TextDelta("done"), UsageReport(Usage(5, 1)), StreamDone("end_turn")]
    assert fallback[0] == TextDelta("(scripted provider: no more turns)")
    assert provider.requests == [REQUEST] * 4


async def test_raw_event_turns_get_usage_and_done():
    provider = ScriptedProvider([[TextDelta("a"), TextDelta("b")]], fallback="bye")
    events = await _events(provider)
    assert events[:2] == [TextDelta("a"), TextDelta("b")]
    assert isinstance(events[2], UsageReport) and events[3] == StreamDone("end_turn")
    assert (await _events(provider))[0] == TextDelta("bye")


async def test_failure_turns_raise_provider_errors():
    provider = ScriptedProvider([Turn.failure(401, "bad key"), Turn.failure(500, "boom")])
    with pytest.raises(ProviderAuthError, match="providers/scripted"):
        await _events(provider)
    with pytest.raises(ProviderError, match="HTTP 500: boom"):
        await _events(provider)


async def test_closed_provider_refuses():
    provider = ScriptedProvider()
    await provider.aclose()
    with pytest.raises(ProviderError, match="closed"):
        await _events(provider)


SCRIPT = {
    "fallback": "all done",
    "turns": [
        "plain text",
        {"thinking": "hmm", "text": "Reading.", "tool": "read_file", "arguments": {"path": "a"}, "id": "t1"},
        {"tool": "edit", "arguments": '{"path": broken'},
        {"tool_calls": [{"name": "a", "arguments": {}}, {"name": "b", "arguments": {"x": 1}}], "usage": {"input_tokens": 3, "output_tokens": 4}},
        {"error": 429, "message": "slow", "retry_after": 0},
    ],
}

TOML_SCRIPT = """
fallback = "all done"
turns = [
  "plain text",
  { thinking = "hmm", text = "Reading.", tool = "read_file", arguments = { path = "a" }, id = "t1" },
  { tool = "edit", arguments = '{"path": broken' },
  { tool_calls = [ { name = "a", arguments = {} }, { name = "b", arguments = { x = 1 } } ], usage = { input_tokens = 3, output_tokens = 4 } },
  { error = 429, message = "slow", retry_after = 0 },
]
"""


@pytest.mark.parametrize("suffix", [".json", ".toml"])
async def test_registry_builds_scripted_provider_from_a_script_file(tmp_path, suffix):
    path = tmp_path / f"script{suffix}"
    path.write_text(json.dumps(SCRIPT) if suffix == ".json" else TOML_SCRIPT)
    provider = create_provider("scripted", ProviderCredentials(), settings={"script": str(path)})
    assert isinstance(provider, ScriptedProvider)

    assert (await _events(provider))[0] == TextDelta("plain text")
    second = await _events(provider)
    assert second[:3] == [
        ThinkingDelta("hmm"),
        TextDelta("Reading."),
        ToolCallReady(ToolCall(id="t1", name="read_file", arguments='{"path": "a"}')),
    ]
    assert (await _events(provider))[0].call.arguments == '{"path": broken'
    fourth = await _events(provider)
    assert [e.call.name for e in fourth if isinstance(e, ToolCallReady)] == ["a", "b"]
    assert UsageReport(Usage(3, 4)) in fourth
    with pytest.raises(ProviderError, match="429"):
        await _events(provider)
    assert (await _events(provider))[0] == TextDelta("all done")


def test_bad_script_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        ScriptedProvider.from_file(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"turns": [{"tool_calls": [{"arguments": {}}]}]}')
    with pytest.raises(ConfigError, match="invalid provider script"):
        ScriptedProvider.from_file(bad)


async def test_vendor_server_plays_the_same_script_format(collect):
    async with ScriptedVendorServer(SCRIPT["turns"][:2]) as server:
        provider = create_provider("openai", ProviderCredentials(api_key="k", base_url=server.openai_base_url))
        assert (await collect(provider, REQUEST))[-2:] == [UsageReport(Usage(10, 2)), StreamDone("end_turn")]
        events = await collect(provider, REQUEST)
        await provider.aclose()
    assert [e for e in events if isinstance(e, ToolCallReady)] == [
        ToolCallReady(ToolCall(id="t1", name="read_file", arguments='{"path": "a"}'))
    ]
    assert "".join(e.text for e in events if isinstance(e, ThinkingDelta)) == "hmm"


async def test_a_provider_built_from_config_keeps_no_record_of_requests():
    """A daemon's provider lives as long as the daemon: a record nobody reads would grow by
    every request (found by bench/a2a_load: ~2 KB per A2A task)."""
    from codetether.daemon.core.providers.base import CompletionRequest
    from codetether.daemon.wire.messages import Message

    provider = ScriptedProvider.from_settings({"turns": [{"text": "a"}, {"text": "b"}]})
    request = CompletionRequest(model="m", messages=[Message(role="user", content="hi")])
    for _ in range(2):
        [event async for event in provider.stream(request)]
    assert provider.requests == [] and provider.script.next_turn() is not None
