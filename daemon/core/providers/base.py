"""The provider contract every model backend implements.

A provider turns a :class:`CompletionRequest` into an async stream of
:class:`ProviderEvent`. Providers assemble tool-call deltas themselves and emit a
:class:`ToolCallReady` once a call is complete, so the agent loop never sees
vendor-specific delta shapes. ``arguments`` stays the model's raw JSON text: the
agent loop, not the provider, decides what to do with malformed JSON.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

import msgspec

from ...wire.messages import Message, ToolCall, Usage
from ..secrets import ProviderCredentials  # re-exported: every provider is built from one

__all__ = [
    "CompletionRequest",
    "ModelInfo",
    "ProgressReport",
    "Provider",
    "ProviderCredentials",
    "ProviderEvent",
    "StreamDone",
    "TextDelta",
    "ThinkingDelta",
    "ToolCallReady",
    "ToolSpec",
    "UsageReport",
]


class ToolSpec(msgspec.Struct, frozen=True):
    """A tool as offered to the model: name, description, JSON Schema parameters."""

    name: str
    description: str
    parameters: dict[str, Any]


class CompletionRequest(msgspec.Struct):
    """What the agent asks a provider for: one model turn over ``messages``."""

    model: str
    messages: list[Message]
    tools: list[ToolSpec] = []
    system: str = ""
    max_tokens: int = 4096
    temperature: float | None = None
    #: The JSON Schema the reply must follow (structured output), or None for free text.
    #: Providers that can enforce it do (OpenAI: json_schema; compatible servers and
    #: Gemini: JSON mode; the embedded model: a grammar); the others get the prompt only.
    response_schema: dict[str, Any] | None = None


class ModelInfo(msgspec.Struct, frozen=True):
    """A model a provider offers, with its context window when known."""

    provider: str
    id: str
    context_window: int = 8192
    supports_tools: bool = True


class TextDelta(msgspec.Struct, frozen=True):
    """A piece of the answer's text, as it streams."""

    text: str


class ThinkingDelta(msgspec.Struct, frozen=True):
    """A piece of the model's reasoning, where the vendor streams it."""

    text: str


class ToolCallReady(msgspec.Struct, frozen=True):
    """A tool call, complete (the provider assembled its deltas)."""

    call: ToolCall


class UsageReport(msgspec.Struct, frozen=True):
    """Tokens the turn used, as the vendor reported them."""

    usage: Usage


class StreamDone(msgspec.Struct, frozen=True):
    """The turn ended, and why."""

    stop_reason: str = "end_turn"  # "end_turn" | "tool_use" | "max_tokens" | vendor value


class ProgressReport(msgspec.Struct, frozen=True):
    """What the provider is busy with before the first token (a local model loading,
    reading the prompt): clients show it while nothing else streams."""

    phase: str  # "loading_model" | "prompt"
    detail: str = ""
    tokens: int = 0


ProviderEvent = TextDelta | ThinkingDelta | ToolCallReady | UsageReport | StreamDone | ProgressReport


class Provider(Protocol):
    """A model backend. ``name`` is the config/CLI prefix: ``<name>/<model>``."""

    name: str

    def stream(self, request: CompletionRequest) -> AsyncIterator[ProviderEvent]:
        """Stream one model turn. Raise ProviderError / ProviderAuthError on failure."""
        ...

    async def list_models(self) -> list[ModelInfo]:
        """Models this provider offers (static table where the vendor has no listing)."""
        ...

    async def aclose(self) -> None: ...
