"""What a session store holds: the session's metadata and the records of its transcript."""

from __future__ import annotations

import time
import uuid
from typing import Any

import msgspec

from ...wire.messages import Message

__all__ = [
    "CallStarted",
    "MessageRecord",
    "SessionMeta",
    "SummaryRecord",
    "Transcript",
    "TranscriptRecord",
    "new_meta",
]


class SessionMeta(msgspec.Struct):
    """A session's metadata (``meta.json``): small, rewritten whole on change."""

    id: str
    workspace: str
    model: str
    approval_mode: str
    created_at: float
    updated_at: float
    title: str = ""
    parent_id: str | None = None
    message_count: int = 0
    # Tool-owned state (todos, plan_mode) and files the agent has read (path -> mtime_ns).
    state: dict[str, Any] = {}
    read_files: dict[str, int] = {}


class MessageRecord(msgspec.Struct, tag="message", tag_field="type"):
    """One message of the transcript, at its index."""

    index: int
    ts: float
    message: Message


class SummaryRecord(msgspec.Struct, tag="summary", tag_field="type"):
    """A compaction summary standing in for the messages before ``covers``."""

    #: The summary replaces messages[0:covers] in the context sent to the model.
    covers: int
    ts: float
    text: str


class CallStarted(msgspec.Struct, tag="call_started", tag_field="type"):
    """Written (and fsynced) just before a side-effecting tool runs, so a resume after
    a crash knows the call may have happened and never runs it twice."""

    call_id: str
    ts: float


#: One line of a transcript.
TranscriptRecord = MessageRecord | SummaryRecord | CallStarted


class Transcript(msgspec.Struct):
    """A transcript as loaded: its messages, summaries and the tool calls begun."""

    messages: list[Message] = []
    summaries: list[SummaryRecord] = []
    started: set[str] = set()

    def add(self, record: TranscriptRecord) -> None:
        if isinstance(record, MessageRecord):
            self.messages.append(record.message)
        elif isinstance(record, SummaryRecord):
            self.summaries.append(record)
        else:
            self.started.add(record.call_id)

    @property
    def latest_summary(self) -> SummaryRecord | None:
        return self.summaries[-1] if self.summaries else None


def new_meta(workspace: str, model: str, approval_mode: str, title: str,
             parent_id: str | None) -> SessionMeta:
    """Metadata for a new session, with a fresh time-ordered id."""
    now = time.time()
    return SessionMeta(
        id=time.strftime("%Y%m%d-%H%M%S-", time.gmtime(now)) + uuid.uuid4().hex[:6],
        workspace=workspace, model=model, approval_mode=approval_mode,
        created_at=now, updated_at=now, title=title, parent_id=parent_id)

