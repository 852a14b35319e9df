"""Anthropic Messages API, streamed.

The system prompt travels top-level; assistant tool calls become ``tool_use`` blocks
and tool results ``tool_result`` blocks inside a user turn. Anthropic insists on
alternating roles, so consecutive tool results (and a user message after them) are
merged into one user turn.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ...errors import ProviderError
from ...wire.messages import ToolCall, Usage
from ._convert import arguments_object, merge_consecutive, system_text
from ._http import HttpProvider, RetryableError, decode_json, missing_key_error
from .base import (
    CompletionRequest,
    ProviderEvent,
    StreamDone,
    TextDelta,
    ThinkingDelta,
    ToolCallReady,
    UsageReport,
)

__all__ = ["ANTHROPIC_VERSION", "AnthropicProvider", "to_anthropic_messages"]

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_BASE_URL = "https://api.anthropic.com"

# In-stream error types that mean "try again later", as the HTTP statuses 429/5xx do.
_RETRYABLE_TYPES = frozenset({"overloaded_error", "rate_limit_error", "api_error"})


def to_anthropic_messages(request: CompletionRequest) -> list[dict[str, Any]]:
    """Our transcript as Messages API ``messages`` (system messages are lifted out)."""
    turns: list[tuple[str, list[Any]]] = []
    for m in request.messages:
        if m.role == "system":
            continue
        if m.role == "tool":
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": m.tool_call_id or "",
                "content": m.content,
            }
            if m.is_error:
                block["is_error"] = True
            turns.append(("user", [block]))
            continue
        # Anthropic rejects empty text blocks, so they are left out.
        blocks: list[dict[str, Any]] = [{"type": "text", "text": m.content}] if m.content else []
        if m.role == "assistant":
            blocks.extend(
                {"type": "tool_use", "id": c.id, "name": c.name, "input": arguments_object(c.arguments)}
                for c in m.tool_calls
            )
        turns.append(("user" if m.role == "user" else "assistant", blocks))
    return [{"role": role, "content": blocks} for role, blocks in merge_consecutive(turns)]


class AnthropicProvider(HttpProvider):
    """``POST {base}/v1/messages`` with ``stream: true``."""

    def _default_base_url(self) -> str:
        return DEFAULT_BASE_URL

    def _body(self, request: CompletionRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "messages": to_anthropic_messages(request),
            "stream": True,
        }
        system = system_text(request)
        if system:
            body["system"] = system
        if request.tools:
            body["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in request.tools
            ]
        if request.temperature is not None:
            body["temperature"] = request.temperature
        thinking_budget = self._settings.get("thinking_budget")
        if thinking_budget:
            body["thinking"] = {"type": "enabled", "budget_tokens": int(thinking_budget)}
        return body

    async def _stream_once(self, request: CompletionRequest) -> AsyncIterator[ProviderEvent]:
        if not self._creds.api_key:
            raise missing_key_error(self.name)
        headers = self._headers()
        headers.update({"x-api-key": self._creds.api_key, "anthropic-version": ANTHROPIC_VERSION})
        url = f"{self._base_url}/v1/messages"
        async with self._open_sse(url, self._body(request), headers) as source:
            async for event in self._events(source.aiter_sse()):
                yield event

    async def _events(self, sse_events: AsyncIterator[Any]) -> AsyncIterator[ProviderEvent]:
        tool_blocks: dict[int, dict[str, str]] = {}
        usage = Usage()
        stop_reason = "end_turn"
        async for sse in sse_events:
            doc = decode_json(self.name, sse.data) if sse.data else {}
            kind = doc.get("type", sse.event)
            if kind == "message_start":
                u = doc.get("message", {}).get("usage", {})
                # cached prompt tokens are reported apart but still fill the context window
                prompt = sum(
                    int(u.get(k) or 0)
                    for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
                )
                usage = Usage(prompt, int(u.get("output_tokens") or 0))
            elif kind == "content_block_start":
                block = doc.get("content_block", {})
                if block.get("type") == "tool_use":
                    tool_blocks[int(doc.get("index", 0))] = {
                        "id": block.get("id", ""),
                        "name": block.get("name", ""),
                        "json": "",
                    }
                elif block.get("type") == "text" and block.get("text"):
                    yield TextDelta(block["text"])
            elif kind == "content_block_delta":
                delta = doc.get("delta", {})
                dtype = delta.get("type")
                if dtype == "text_delta" and delta.get("text"):
                    yield TextDelta(delta["text"])
                elif dtype == "thinking_delta" and delta.get("thinking"):
                    yield ThinkingDelta(delta["thinking"])
                elif dtype == "input_json_delta":
                    slot = tool_blocks.get(int(doc.get("index", 0)))
                    if slot is not None:
                        slot["json"] += delta.get("partial_json", "")
            elif kind == "content_block_stop":
                slot = tool_blocks.pop(int(doc.get("index", 0)), None)
                if slot is not None:
                    yield ToolCallReady(
                        ToolCall(id=slot["id"], name=slot["name"], arguments=slot["json"] or "{}")
                    )
            elif kind == "message_delta":
                stop_reason = doc.get("delta", {}).get("stop_reason") or stop_reason
                out = doc.get("usage", {}).get("output_tokens")
                if out is not None:  # cumulative, not an increment
                    usage = Usage(usage.input_tokens, int(out))
            elif kind == "message_stop":
                break
            elif kind == "error":
                err = doc.get("error", {})
                message = f"{self.name}: {err.get('type', 'error')}: {err.get('message', '')}"
                if err.get("type") in _RETRYABLE_TYPES:
                    raise RetryableError(message, data={"provider": self.name})
                raise ProviderError(message, data={"provider": self.name})
        yield UsageReport(usage)
        yield StreamDone(stop_reason)
