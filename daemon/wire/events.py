"""Session events, streamed to clients as ``session/event`` notifications.

Each is a tagged Struct (``{"type": "text", ...}``) so every client decodes the
same union.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = [
    "ApprovalRequested",
    "ApprovalResolved",
    "Compaction",
    "Done",
    "EditProposed",
    "ErrorEvent",
    "FileChanged",
    "Notice",
    "Progress",
    "QuestionAsked",
    "SessionEvent",
    "SubagentEnded",
    "SubagentStarted",
    "TextChunk",
    "Thinking",
    "ToolCallEnd",
    "ToolCallStart",
    "ToolOutput",
    "UsageEvent",
    "UserMessage",
]


class _Event(msgspec.Struct, tag_field="type"):
    pass


class UserMessage(_Event, tag="user"):
    """The prompt a run started with (after @file mentions were attached)."""

    text: str


class TextChunk(_Event, tag="text"):
    text: str


class Thinking(_Event, tag="thinking"):
    text: str


class ToolCallStart(_Event, tag="tool_call_start"):
    call_id: str
    name: str
    arguments: str


class ToolCallEnd(_Event, tag="tool_call_end"):
    call_id: str
    name: str
    output: str
    is_error: bool = False
    duration_ms: float = 0.0
    #: File changes the call made: [{path, kind: create|modify|delete, diff, additions, deletions}]
    changes: list[dict[str, Any]] = []


class ApprovalRequested(_Event, tag="approval_request"):
    approval_id: str
    tool: str
    subject: str
    arguments: str
    reason: str = ""


class ApprovalResolved(_Event, tag="approval_resolved"):
    approval_id: str
    decision: str  # "allow" | "deny"
    by: str = ""  # "policy", "uid:<n>", ...
    tool: str = ""
    subject: str = ""
    rule: str = ""  # the policy rule, or the user's reason


class EditProposed(_Event, tag="edit_proposal"):
    """Editor sessions: an agent edit awaiting the user. ``files`` hold path (absolute),
    rel, before (None: new file), after (None: delete) and a unified diff. Decide it
    with ``approval/decide`` (``applied: true`` when the editor applied it itself)."""

    proposal_id: str
    call_id: str
    tool: str
    files: list[dict[str, Any]]
    auto_apply: bool = False  # the policy allows it: apply without asking


class ToolOutput(_Event, tag="tool_output"):
    """A piece of a running tool's output as it arrives (bash stdout/stderr), before its
    ToolCallEnd. The tool's result is still the whole (budgeted) output."""

    call_id: str
    text: str
    stream: str = "stdout"  # "stdout" | "stderr"


class Progress(_Event, tag="progress"):
    """What the run is doing while nothing else streams, for spinners and status lines.
    ``phase``: "loading_model" | "prompt" (the model reads ``tokens`` prompt tokens) |
    "generating" | "tool" (``detail`` names it) | "compacting"."""

    phase: str
    detail: str = ""
    tokens: int = 0


class Notice(_Event, tag="notice"):
    """Something the user should know that is not an error: an @mention that was refused,
    a config that fell back, a limit that was hit."""

    text: str
    level: str = "warning"  # "info" | "warning"


class QuestionAsked(_Event, tag="question"):
    question_id: str
    question: str
    options: list[str] = []


class UsageEvent(_Event, tag="usage"):
    input_tokens: int
    output_tokens: int
    model: str = ""
    operation: str = "chat"  # "chat" | "compaction"


class Compaction(_Event, tag="compaction"):
    summarized_messages: int
    summary_chars: int


class FileChanged(_Event, tag="file_changed"):
    path: str


class SubagentStarted(_Event, tag="subagent_started"):
    """A ``task`` call started (or found again, ``resumed``) a child agent: its session."""

    session_id: str
    name: str
    call_id: str
    mode: str
    model: str
    resumed: bool = False


class SubagentEnded(_Event, tag="subagent_ended"):
    """The child agent of a ``task`` call ended ("timeout" when its limit stopped it)."""

    session_id: str
    name: str
    call_id: str
    stop_reason: str
    steps: int
    input_tokens: int = 0
    output_tokens: int = 0


class Done(_Event, tag="done"):
    stop_reason: str  # "end_turn" | "max_steps" | "cancelled" | "error"
    steps: int
    text: str = ""


class ErrorEvent(_Event, tag="error"):
    code: int
    message: str
    data: Any = None


SessionEvent = (
    UserMessage
    | TextChunk
    | Thinking
    | ToolCallStart
    | ToolCallEnd
    | ToolOutput
    | Progress
    | Notice
    | ApprovalRequested
    | ApprovalResolved
    | EditProposed
    | QuestionAsked
    | UsageEvent
    | Compaction
    | FileChanged
    | SubagentStarted
    | SubagentEnded
    | Done
    | ErrorEvent
)
