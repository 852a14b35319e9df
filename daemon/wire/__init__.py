"""msgspec Structs for every type that crosses a process boundary."""

from .events import (
    ApprovalRequested,
    ApprovalResolved,
    Compaction,
    Done,
    EditProposed,
    ErrorEvent,
    FileChanged,
    QuestionAsked,
    SessionEvent,
    TextChunk,
    Thinking,
    ToolCallEnd,
    ToolCallStart,
    UsageEvent,
    UserMessage,
)
from .messages import Message, ToolCall, Usage

__all__ = [
    "ApprovalRequested",
    "ApprovalResolved",
    "Compaction",
    "Done",
    "EditProposed",
    "ErrorEvent",
    "FileChanged",
    "Message",
    "QuestionAsked",
    "SessionEvent",
    "TextChunk",
    "Thinking",
    "ToolCall",
    "ToolCallEnd",
    "ToolCallStart",
    "Usage",
    "UsageEvent",
    "UserMessage",
]
