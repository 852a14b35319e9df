"""The A2A 0.3 JSON shapes: kind-tagged parts and results, lower-case kebab states.

Field names are camelCase like 1.0, but 0.3 tags its objects with ``kind`` (``"message"``,
``"task"``, ``"status-update"``, ``"artifact-update"``; parts ``"text"``/``"file"``/``"data"``),
writes roles and states in lower case (``"user"``, ``"input-required"``), nests a file in
``{"bytes"|"uri", "mimeType", "name"}`` and puts a push config under its task id.
A ``kind`` is always written; a lone object decodes without it, a union needs it.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = [
    "Artifact",
    "DataPart",
    "DeleteTaskPushNotificationConfigParams",
    "FileContent",
    "FilePart",
    "GetTaskPushNotificationConfigParams",
    "ListTaskPushNotificationConfigParams",
    "Message",
    "MessageSendConfiguration",
    "MessageSendParams",
    "Part",
    "PushNotificationAuthenticationInfo",
    "PushNotificationConfig",
    "Role",
    "StreamItem",
    "Task",
    "TaskArtifactUpdateEvent",
    "TaskIdParams",
    "TaskPushNotificationConfig",
    "TaskQueryParams",
    "TaskState",
    "TaskStatus",
    "TaskStatusUpdateEvent",
    "TextPart",
    "Wire03",
]

Role = Literal["user", "agent"]
TaskState = Literal[
    "submitted",
    "working",
    "input-required",
    "completed",
    "canceled",
    "failed",
    "rejected",
    "auth-required",
    "unknown",
]

# ``bytes`` is a field name below; the annotation goes through this alias.
_Bytes = bytes


class Wire03(msgspec.Struct, rename="camel", omit_defaults=True, kw_only=True):
    """Base of the 0.3 Structs: camelCase names, defaults left out, unknown fields ignored."""


class FileContent(Wire03, kw_only=True):
    """A file of a 0.3 ``FilePart``: exactly one of ``bytes`` (base64 in JSON) or ``uri``."""

    bytes: _Bytes | None = None
    uri: str | None = None
    mime_type: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if (self.bytes is None) == (self.uri is None):
            raise ValueError("FileContent: exactly one of `bytes`, `uri` must be set")


class TextPart(Wire03, kw_only=True, tag_field="kind", tag="text"):
    """``{"kind": "text", "text": ...}``"""

    text: str
    metadata: dict[str, Any] | None = None


class FilePart(Wire03, kw_only=True, tag_field="kind", tag="file"):
    """``{"kind": "file", "file": {...}}``"""

    file: FileContent
    metadata: dict[str, Any] | None = None


class DataPart(Wire03, kw_only=True, tag_field="kind", tag="data"):
    """``{"kind": "data", "data": {...}}`` — 0.3 data is always a JSON object."""

    data: dict[str, Any]
    metadata: dict[str, Any] | None = None


Part = TextPart | FilePart | DataPart


class Message(Wire03, kw_only=True, tag_field="kind", tag="message"):
    """A 0.3 message (``kind: "message"``)."""

    message_id: str
    role: Role
    parts: list[Part]
    context_id: str | None = None
    task_id: str | None = None
    reference_task_ids: list[str] = []
    extensions: list[str] = []
    metadata: dict[str, Any] | None = None


class TaskStatus(Wire03, kw_only=True):
    """A 0.3 task status: state, optional message, RFC 3339 timestamp."""

    state: TaskState
    message: Message | None = None
    timestamp: str | None = None


class Artifact(Wire03, kw_only=True):
    """A 0.3 artifact."""

    artifact_id: str
    name: str | None = None
    description: str | None = None
    parts: list[Part]
    metadata: dict[str, Any] | None = None
    extensions: list[str] = []


class Task(Wire03, kw_only=True, tag_field="kind", tag="task"):
    """A 0.3 task (``kind: "task"``)."""

    id: str
    context_id: str
    status: TaskStatus
    artifacts: list[Artifact] = []
    history: list[Message] = []
    metadata: dict[str, Any] | None = None


class TaskStatusUpdateEvent(Wire03, kw_only=True, tag_field="kind", tag="status-update"):
    """A 0.3 status update; ``final`` (always written) marks the stream's last item."""

    task_id: str
    context_id: str
    status: TaskStatus
    final: bool
    metadata: dict[str, Any] | None = None


class TaskArtifactUpdateEvent(Wire03, kw_only=True, tag_field="kind", tag="artifact-update"):
    """A 0.3 artifact update."""

    task_id: str
    context_id: str
    artifact: Artifact
    append: bool | None = None
    last_chunk: bool | None = None
    metadata: dict[str, Any] | None = None


#: One result of ``message/stream`` or ``tasks/resubscribe`` (told apart by ``kind``).
StreamItem = Task | Message | TaskStatusUpdateEvent | TaskArtifactUpdateEvent


class PushNotificationAuthenticationInfo(Wire03, kw_only=True):
    """0.3 push auth: a list of schemes (1.0 keeps one) and credentials."""

    schemes: list[str] = []
    credentials: str | None = None


class PushNotificationConfig(Wire03, kw_only=True):
    """A 0.3 push notification config (without its task id)."""

    url: str
    id: str | None = None
    token: str | None = None
    authentication: PushNotificationAuthenticationInfo | None = None


class TaskPushNotificationConfig(Wire03, kw_only=True):
    """A 0.3 push config bound to a task: params of ``tasks/pushNotificationConfig/set``."""

    task_id: str
    push_notification_config: PushNotificationConfig


class MessageSendConfiguration(Wire03, kw_only=True):
    """Options of ``message/send``; ``blocking`` is the inverse of 1.0's ``returnImmediately``."""

    accepted_output_modes: list[str] = []
    blocking: bool | None = None
    history_length: int | None = None
    push_notification_config: PushNotificationConfig | None = None


class MessageSendParams(Wire03, kw_only=True):
    """Params of ``message/send`` and ``message/stream``."""

    message: Message
    configuration: MessageSendConfiguration | None = None
    metadata: dict[str, Any] | None = None


class TaskQueryParams(Wire03, kw_only=True):
    """Params of ``tasks/get``."""

    id: str
    history_length: int | None = None
    metadata: dict[str, Any] | None = None


class TaskIdParams(Wire03, kw_only=True):
    """Params of ``tasks/cancel`` and ``tasks/resubscribe``."""

    id: str
    metadata: dict[str, Any] | None = None


class GetTaskPushNotificationConfigParams(Wire03, kw_only=True):
    """Params of ``tasks/pushNotificationConfig/get`` (``id`` is the task's)."""

    id: str
    push_notification_config_id: str | None = None
    metadata: dict[str, Any] | None = None


class ListTaskPushNotificationConfigParams(Wire03, kw_only=True):
    """Params of ``tasks/pushNotificationConfig/list`` (``id`` is the task's)."""

    id: str
    metadata: dict[str, Any] | None = None


class DeleteTaskPushNotificationConfigParams(Wire03, kw_only=True):
    """Params of ``tasks/pushNotificationConfig/delete`` (``id`` is the task's)."""

    id: str
    push_notification_config_id: str
    metadata: dict[str, Any] | None = None
