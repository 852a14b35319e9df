"""Pure helpers shared by the message converters of several vendors.

Kept free of I/O so each vendor's request shape can be tested without a server.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ...wire.messages import Message
from .base import CompletionRequest

__all__ = [
    "arguments_object",
    "merge_consecutive",
    "system_text",
    "tool_names",
]


def arguments_object(raw: str) -> dict[str, Any]:
    """Tool-call arguments as the JSON object vendors with structured history demand.

    A malformed call (the model's own broken JSON, kept verbatim in our transcript)
    cannot be sent back as an object, so it travels wrapped under ``_raw_arguments``;
    the tool result that follows already tells the model what went wrong.
    """
    try:
        value = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return {"_raw_arguments": raw}
    return value if isinstance(value, dict) else {"_raw_arguments": raw}


def system_text(request: CompletionRequest) -> str:
    """The request's system prompt plus any system messages, for vendors that take it
    out of band (Anthropic, Gemini, Bedrock)."""
    parts = [request.system] if request.system else []
    parts.extend(m.content for m in request.messages if m.role == "system" and m.content)
    return "\n\n".join(parts)


def tool_names(messages: Iterable[Message]) -> dict[str, str]:
    """tool_call_id → tool name, for vendors that key tool results by name (Gemini)."""
    return {c.id: c.name for m in messages for c in m.tool_calls}


def merge_consecutive(turns: Iterable[tuple[str, list[Any]]]) -> list[tuple[str, list[Any]]]:
    """Merge consecutive same-role turns: vendors with strict user/assistant alternation
    reject two user turns in a row, which is what several tool results look like."""
    merged: list[tuple[str, list[Any]]] = []
    for role, blocks in turns:
        if not blocks:
            continue
        if merged and merged[-1][0] == role:
            merged[-1][1].extend(blocks)
        else:
            merged.append((role, list(blocks)))
    return merged
