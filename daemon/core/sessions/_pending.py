"""What an interrupted run left to resume (S7)."""

from __future__ import annotations

from collections.abc import Sequence

from ...wire.messages import Message

__all__ = ["has_pending_work"]


def has_pending_work(messages: Sequence[Message]) -> bool:
    """An interrupted run left something to do: a prompt or tool results the model has
    not answered, or tool calls with no result (S7)."""
    if not messages:
        return False
    last = messages[-1]
    if last.role != "assistant":
        return True
    return bool(last.tool_calls)
