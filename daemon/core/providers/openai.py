"""OpenAI-compatible chat completions: OpenAI, OpenRouter, Moonshot, Z.AI, StepFun, and
any local server speaking the same protocol (llama.cpp server, Ollama, vLLM).

Tool calls stream as fragments keyed by ``index``; :class:`ToolCallAssembler` glues
them and the provider emits one :class:`ToolCallReady` per call once the model says
it is done (``finish_reason``) or the stream ends.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from ...errors import ConfigError, ProviderError
from ...wire.messages import ToolCall, Usage
from ._http import HttpProvider, decode_json, missing_key_error
from .base import (
    CompletionRequest,
    ProviderEvent,
    StreamDone,
    TextDelta,
    ThinkingDelta,
    ToolCallReady,
    ToolSpec,
    UsageReport,
)

__all__ = [
    "DEFAULT_BASE_URLS",
    "OpenAIProvider",
    "ToolCallAssembler",
    "to_openai_messages",
    "to_openai_tools",
]

DEFAULT_BASE_URLS: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "openrouter": "https://openrouter.ai/api/v1",
    "moonshotai": "https://api.moonshot.ai/v1",
    "zai": "https://api.z.ai/api/paas/v4",
    "stepfun": "https://api.stepfun.com/v1",
    "ollama": "http://localhost:11434/v1",
    "llamacpp": "http://localhost:8080/v1",
    "vllm": "http://localhost:8000/v1",
}

# Local servers run without a key; a cloud vendor without one is a configuration gap.
_KEYLESS = frozenset({"ollama", "llamacpp", "vllm"})

# Vendors whose thinking models want their reasoning back in the history.
_REASONING_IN_HISTORY = frozenset({"moonshotai"})

_STOP_REASONS = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
}


def to_openai_messages(request: CompletionRequest, *, reasoning: bool = False) -> list[dict[str, Any]]:
    """Our transcript as chat-completions ``messages``.

    ``reasoning`` sends assistant thinking back as ``reasoning_content``, which
    Moonshot's thinking models expect across tool-call steps.
    """
    out: list[dict[str, Any]] = []
    if request.system:
        out.append({"role": "system", "content": request.system})
    for m in request.messages:
        if m.role == "tool":
            out.append({"role": "tool", "tool_call_id": m.tool_call_id or "", "content": m.content})
        elif m.role == "assistant":
            # null, not "": some servers reject empty content beside tool_calls
            turn: dict[str, Any] = {"role": "assistant", "content": m.content or None}
            if m.tool_calls:
                turn["tool_calls"] = [
                    {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                    for c in m.tool_calls
                ]
            else:
                turn["content"] = m.content
            if reasoning and m.thinking:
                turn["reasoning_content"] = m.thinking
            out.append(turn)
        else:
            out.append({"role": m.role, "content": m.content})
    return out


def to_openai_tools(tools: list[ToolSpec]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in tools
    ]


class ToolCallAssembler:
    """Collects streamed tool-call fragments into whole calls.

    Fragments carry an ``index``; a few compatible servers omit it, so a fragment
    with a new ``id`` opens a new slot and one without continues the last.
    """

    def __init__(self) -> None:
        self._slots: dict[int, dict[str, str]] = {}
        self._last: int | None = None

    def add(self, fragment: Mapping[str, Any]) -> None:
        index = fragment.get("index")
        frag_id = fragment.get("id") or ""
        if not isinstance(index, int):
            known = next((i for i, s in self._slots.items() if frag_id and s["id"] == frag_id), None)
            if known is not None:
                index = known
            elif frag_id or self._last is None:
                index = len(self._slots)
            else:
                index = self._last
        slot = self._slots.setdefault(index, {"id": "", "name": "", "arguments": ""})
        self._last = index
        function = fragment.get("function") or {}
        if frag_id:
            slot["id"] = frag_id
        if function.get("name"):
            slot["name"] = function["name"]
        if isinstance(function.get("arguments"), str):
            slot["arguments"] += function["arguments"]

    def __bool__(self) -> bool:
        return bool(self._slots)

    def finish(self) -> list[ToolCall]:
        """The assembled calls in index order; the assembler is empty afterwards."""
        calls = [
            ToolCall(
                id=s["id"] or f"call_{uuid.uuid4().hex[:24]}",
                name=s["name"],
                arguments=s["arguments"] or "{}",
            )
            for _, s in sorted(self._slots.items())
        ]
        self._slots.clear()
        self._last = None
        return calls


class OpenAIProvider(HttpProvider):
    """A chat-completions endpoint. ``name`` picks the base URL from
    :data:`DEFAULT_BASE_URLS` unless the credentials or settings carry ``base_url``.

    Settings: ``base_url``, ``headers``, ``stream_usage`` (default true),
    ``reasoning_in_history``, plus the retry and timeout keys of :mod:`._http`.
    """

    def _default_base_url(self) -> str | None:
        return DEFAULT_BASE_URLS.get(self.name)

    def _require_base_url(self) -> str:
        if not self._base_url:
            raise ConfigError(
                f"provider {self.name!r} has no base_url: set it in the provider settings "
                "or in its Vault secret (field base_url)"
            )
        return self._base_url

    async def _target(self) -> tuple[str, dict[str, str]]:
        """URL and headers of one request (Copilot overrides this to swap tokens)."""
        url = f"{self._require_base_url()}/chat/completions"
        headers = self._headers()
        key = self._creds.api_key
        if key:
            headers["Authorization"] = f"Bearer {key}"
        elif self.name in DEFAULT_BASE_URLS and self.name not in _KEYLESS:
            raise missing_key_error(self.name)
        if self._creds.organization:
            headers["OpenAI-Organization"] = self._creds.organization
        return url, headers

    def _body(self, request: CompletionRequest) -> dict[str, Any]:
        reasoning = bool(self._settings.get("reasoning_in_history", self.name in _REASONING_IN_HISTORY))
        body: dict[str, Any] = {
            "model": request.model,
            "messages": to_openai_messages(request, reasoning=reasoning),
            "stream": True,
        }
        # Without this OpenAI sends no usage when streaming; a few old compatible
        # servers reject the field, hence the opt-out.
        if self._settings.get("stream_usage", True):
            body["stream_options"] = {"include_usage": True}
        # OpenAI's reasoning models refuse max_tokens; compatible servers only know it.
        body["max_completion_tokens" if self.name == "openai" else "max_tokens"] = request.max_tokens
        if request.tools:
            body["tools"] = to_openai_tools(request.tools)
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.response_schema is not None and self._settings.get("structured_output", True):
            # OpenAI enforces a schema; compatible servers (llama.cpp, vLLM, Ollama) know JSON mode.
            body["response_format"] = (
                {"type": "json_schema", "json_schema": {"name": "reply", "schema": request.response_schema}}
                if self.name == "openai" else {"type": "json_object"})
        return body

    async def _stream_once(self, request: CompletionRequest) -> AsyncIterator[ProviderEvent]:
        url, headers = await self._target()
        async with self._open_sse(url, self._body(request), headers) as source:
            async for event in chat_events(self.name, (sse.data async for sse in source.aiter_sse())):
                yield event


async def chat_events(provider: str, data: AsyncIterator[str]) -> AsyncIterator[ProviderEvent]:
    """Chat-completions SSE ``data`` payloads → provider events."""
    calls = ToolCallAssembler()
    emitted = 0
    usage: Usage | None = None
    stop_reason: str | None = None
    async for payload in data:
        if payload.strip() == "[DONE]":
            break
        chunk = decode_json(provider, payload)
        if not isinstance(chunk, dict):
            continue
        if isinstance(chunk.get("error"), dict):  # some servers report failures in-stream
            raise ProviderError(f"{provider}: {chunk['error'].get('message', chunk['error'])}")
        if isinstance(chunk.get("usage"), dict):
            u = chunk["usage"]
            usage = Usage(int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0))
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            thinking = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(thinking, str) and thinking:
                yield ThinkingDelta(thinking)
            if isinstance(delta.get("content"), str) and delta["content"]:
                yield TextDelta(delta["content"])
            for fragment in delta.get("tool_calls") or ():
                calls.add(fragment)
            if choice.get("finish_reason"):
                stop_reason = str(choice["finish_reason"])
                # emit now: the usage chunk may trail by a while on slow gateways
                for call in calls.finish():
                    emitted += 1
                    yield ToolCallReady(call)
    for call in calls.finish():
        emitted += 1
        yield ToolCallReady(call)
    if usage is not None:
        yield UsageReport(usage)
    if emitted and stop_reason in (None, "stop"):
        stop_reason = "tool_calls"  # a few servers say "stop" after calling tools
    yield StreamDone(_STOP_REASONS.get(stop_reason or "stop", stop_reason or "stop"))
