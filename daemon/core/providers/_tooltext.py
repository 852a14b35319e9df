"""Tool calling for models without a native tool API (the embedded GGUF models).

Tools are described in the system prompt and the model answers with
``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks (SmolLM2's format;
a JSON list of such objects inside one block is accepted too). The parser runs on
the token stream: text outside blocks streams through at once, except a trailing
fragment that could still become ``<tool_call>``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from ...wire.messages import Message, ToolCall
from .base import ProviderEvent, TextDelta, ToolCallReady, ToolSpec

__all__ = [
    "ToolCallTextParser",
    "parse_tool_block",
    "render_assistant",
    "render_tool_prompt",
    "render_tool_result",
]

OPEN = "<tool_call>"
CLOSE = "</tool_call>"

_NAME = re.compile(r'"name"\s*:\s*"((?:[^"\\]|\\.)*)"')
_ARGUMENTS = re.compile(r'"arguments"\s*:\s*(.*)\Z', re.DOTALL)


def render_tool_prompt(tools: list[ToolSpec]) -> str:
    """The system-prompt section that teaches the model the tools and the call format.

    As small as it can be while every tool stays callable: one line per tool, its
    parameters by name (``?`` optional; a type only when not a string) and the first
    clause of its description. Small local models read prompts at a few hundred
    tokens a second on a CPU, and this text precedes every first token. It must not
    vary between runs (no paths, no dates): llama.cpp reuses the evaluated prompt
    prefix only while it is identical.
    """
    return (
        "Tools:\n"
        + "\n".join(_signature(t) for t in tools)
        + f'\nTo call a tool, write exactly: {OPEN}{{"name": "read_file", "arguments": {{"path": "a.py"}}}}{CLOSE}\n'
        + "Results come back in <tool_response>. Otherwise answer in plain text."
    )


_SHORT_TYPES = {"string": "", "integer": ":int", "number": ":num", "boolean": ":bool", "array": ":list",
                "object": ":obj"}
_CLAUSE_END = re.compile(r"[.:;]\s|(?<=.{24}),\s|\s\(|\s--?\s")
_MAX_SUMMARY = 48
_DANGLING = frozenset("a an and as at by each every for from in of on or over the to with".split())


def _signature(tool: ToolSpec) -> str:
    props = tool.parameters.get("properties", {}) or {}
    required = set(tool.parameters.get("required", []) or [])
    params = ",".join(
        f"{name}{'' if name in required else '?'}{_SHORT_TYPES.get(_type_name(schema), '')}"
        for name, schema in props.items()
    )
    return f"{tool.name}({params}): {_summary(tool.description)}"


def _summary(description: str) -> str:
    """The first clause, cut at a word boundary when still long."""
    text = description.strip().split("\n", 1)[0]
    match = _CLAUSE_END.search(text + " ")
    text = text[: match.start()] if match else text
    if len(text) > _MAX_SUMMARY:
        words = text[: _MAX_SUMMARY + 1].split(" ")[:-1]
        while len(words) > 1 and words[-1].lower() in _DANGLING:
            words.pop()
        text = " ".join(words)
    return text.rstrip(" ,.")


def _type_name(schema: dict[str, object]) -> str:
    kind = schema.get("type")
    if isinstance(kind, str):
        return kind
    if isinstance(kind, list):
        return "|".join(str(k) for k in kind)
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list):
            return "|".join(_type_name(o) for o in options if isinstance(o, dict))
    return "any"


def render_assistant(message: Message) -> str:
    """An assistant turn as the model would have written it, calls included verbatim."""
    blocks = [
        f'{OPEN}{{"name": {json.dumps(c.name)}, "arguments": {c.arguments}}}{CLOSE}'
        for c in message.tool_calls
    ]
    return "\n".join(([message.content] if message.content else []) + blocks)


def render_tool_result(message: Message) -> str:
    payload: dict[str, object] = {"name": message.name or "", "content": message.content}
    if message.is_error:
        payload["error"] = True
    return f"<tool_response>{json.dumps(payload)}</tool_response>"


def parse_tool_block(body: str, new_id: Callable[[], str]) -> list[ToolCall]:
    """The calls inside one ``<tool_call>`` block.

    Valid JSON yields normalised argument text; anything else is passed through
    verbatim (best-effort name, raw argument text) so the agent loop can tell the
    model exactly what was wrong with it.
    """
    text = body.strip()
    if not text:
        return []
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    items = doc if isinstance(doc, list) else [doc] if isinstance(doc, dict) else None
    if items is not None and all(isinstance(i, dict) for i in items):
        calls = []
        for item in items:
            args = item.get("arguments", item.get("parameters", {}))
            raw = args if isinstance(args, str) else json.dumps(args)
            calls.append(ToolCall(id=new_id(), name=str(item.get("name", "")), arguments=raw))
        return calls
    name_match = _NAME.search(text)
    name = json.loads(f'"{name_match.group(1)}"') if name_match else ""
    args_match = _ARGUMENTS.search(text)
    raw = args_match.group(1).rstrip() if args_match else text
    if args_match and raw.endswith("}") and raw.count("}") > raw.count("{"):
        raw = raw[:-1].rstrip()  # the brace closing the outer {"name":..,"arguments":..}
    return [ToolCall(id=new_id(), name=name, arguments=raw)]


def _partial_open(buffer: str) -> int:
    """Length of the longest suffix of ``buffer`` that is a proper prefix of OPEN."""
    for size in range(min(len(OPEN) - 1, len(buffer)), 0, -1):
        if OPEN.startswith(buffer[-size:]):
            return size
    return 0


class ToolCallTextParser:
    """Incremental splitter of generated text into TextDelta and ToolCallReady."""

    def __init__(self, new_id: Callable[[], str]) -> None:
        self._new_id = new_id
        self._buffer = ""
        self._in_call = False
        self.calls = 0

    def feed(self, text: str) -> list[ProviderEvent]:
        self._buffer += text
        out: list[ProviderEvent] = []
        while True:
            if self._in_call:
                end = self._buffer.find(CLOSE)
                if end < 0:
                    return out
                out.extend(self._calls(self._buffer[:end]))
                self._buffer = self._buffer[end + len(CLOSE) :]
                self._in_call = False
                continue
            start = self._buffer.find(OPEN)
            if start < 0:
                keep = _partial_open(self._buffer)
                ready = self._buffer[: len(self._buffer) - keep]
                if ready:
                    out.append(TextDelta(ready))
                self._buffer = self._buffer[len(ready) :]
                return out
            if start:
                out.append(TextDelta(self._buffer[:start]))
            self._buffer = self._buffer[start + len(OPEN) :]
            self._in_call = True

    def finish(self) -> list[ProviderEvent]:
        """Flush at end of generation; an unterminated block still counts as a call."""
        rest, self._buffer = self._buffer, ""
        if self._in_call:
            self._in_call = False
            return self._calls(rest)
        return [TextDelta(rest)] if rest else []

    def _calls(self, body: str) -> list[ProviderEvent]:
        calls = parse_tool_block(body, self._new_id)
        self.calls += len(calls)
        return [ToolCallReady(c) for c in calls]
