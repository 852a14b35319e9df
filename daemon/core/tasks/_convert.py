"""Pure conversions between A2A Structs, stored records and the agent's prompt text."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import msgspec

from ...errors import ContentTypeNotSupported, InvalidParams
from ...wire import a2a
from ._ids import new_id
from ._store import TaskRecord, trim_history

__all__ = [
    "FINAL_STATES",
    "INTERRUPTED_STATES",
    "TERMINAL_STATES",
    "agent_message",
    "epoch",
    "prompt_text",
    "to_record_status",
    "to_task",
]

#: States a task never leaves (A2A 1.0 section 4.1.3).
TERMINAL_STATES = frozenset({"TASK_STATE_COMPLETED", "TASK_STATE_FAILED", "TASK_STATE_CANCELED",
                             "TASK_STATE_REJECTED"})
#: States where the task waits for its client: SendMessage answers, a stream ends.
INTERRUPTED_STATES = frozenset({"TASK_STATE_INPUT_REQUIRED", "TASK_STATE_AUTH_REQUIRED"})
FINAL_STATES = TERMINAL_STATES | INTERRUPTED_STATES

#: Media types whose raw bytes are read as text and given to the agent.
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/x-yaml",
               "application/yaml", "application/toml", "application/javascript")
#: Largest file part read into the prompt (bytes).
MAX_INLINE_FILE = 512 * 1024


def epoch(timestamp: str | None) -> float:
    """An RFC 3339 timestamp as epoch seconds (:class:`InvalidParams` if it is not one)."""
    if not timestamp:
        return 0.0
    try:
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise InvalidParams(f"not an RFC 3339 timestamp: {timestamp!r}") from exc


def prompt_text(message: a2a.Message) -> str:
    """The agent's prompt for a message: its text parts, data parts as JSON, text files
    inline and file URLs named; binary files are :class:`ContentTypeNotSupported`."""
    pieces: list[str] = []
    for part in message.parts:
        if part.text is not None:
            pieces.append(part.text)
        elif part.data is not None:
            pieces.append(f"```json\n{json.dumps(part.data, indent=2, ensure_ascii=False)}\n```")
        elif part.url is not None:
            label = f" ({part.filename})" if part.filename else ""
            pieces.append(f"[attached file{label}: {part.url}]")
        elif part.raw is not None:
            pieces.append(_inline_file(part))
    text = "\n\n".join(p for p in pieces if p)
    if not text.strip():
        raise InvalidParams("message: no text to act on (every part is empty)",
                            data={"field": "message.parts"})
    return text


def _inline_file(part: a2a.Part) -> str:
    media = (part.media_type or "").lower()
    if media and not media.startswith(_TEXT_TYPES):
        raise ContentTypeNotSupported(f"file parts of type {media!r} are not supported: this "
                                      "agent reads text (text/*, JSON, XML, YAML, TOML)",
                                      data={"mediaType": media})
    raw = part.raw or b""
    if len(raw) > MAX_INLINE_FILE:
        raise ContentTypeNotSupported(f"file part of {len(raw)} bytes: at most {MAX_INLINE_FILE}")
    try:
        body = raw.decode()
    except UnicodeDecodeError as exc:
        raise ContentTypeNotSupported("a file part without a media type must be UTF-8 text") from exc
    name = part.filename or "attached file"
    return f"--- {name} ---\n{body}\n--- end of {name} ---"


def agent_message(text: str, *, task_id: str, context_id: str) -> a2a.Message:
    """A message from the agent with one text part."""
    return a2a.Message(message_id=new_id(), role="ROLE_AGENT", parts=[a2a.Part(text=text)],
                       task_id=task_id, context_id=context_id)


def to_record_status(status: a2a.TaskStatus) -> dict[str, Any]:
    """A status as the store keeps it (A2A JSON)."""
    out: dict[str, Any] = msgspec.to_builtins(status)
    return out


def to_task(record: TaskRecord, *, history_length: int | None = None,
            include_artifacts: bool = True) -> a2a.Task:
    """The A2A Task of a stored record (its history cut to ``history_length``)."""
    doc: dict[str, Any] = {"id": record.id, "contextId": record.context_id, "status": record.status}
    if include_artifacts and record.artifacts:
        doc["artifacts"] = record.artifacts
    history = trim_history(record.history, history_length)
    if history:
        doc["history"] = history
    if record.metadata:
        doc["metadata"] = record.metadata
    return msgspec.convert(doc, a2a.Task)
