"""Conversation messages, as stored in transcripts and sent to providers."""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["Message", "Role", "ToolCall", "Usage"]

Role = Literal["system", "user", "assistant", "tool"]


class ToolCall(msgspec.Struct, frozen=True):
    """One tool call as the model emitted it. ``arguments`` is the raw JSON text,
    kept verbatim so a malformed call can be reported back to the model."""

    id: str
    name: str
    arguments: str = "{}"


class Message(msgspec.Struct, omit_defaults=True):
    role: Role
    content: str = ""
    tool_calls: list[ToolCall] = []
    tool_call_id: str | None = None
    name: str | None = None  # tool name on role=tool messages
    is_error: bool = False  # tool result that is an error
    thinking: str | None = None


class Usage(msgspec.Struct, omit_defaults=True):
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
        )
