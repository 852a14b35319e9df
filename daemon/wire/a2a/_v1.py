"""A2A 1.0 tasks, messages, streams and requests (proto ``lf.a2a.v1``) as msgspec Structs.

One Struct per proto message, same names; the JSON is the proto3 JSON mapping: camelCase
names, enums as their proto names, ``bytes`` as base64, ``google.protobuf.Struct`` as a
dict, ``Value`` as any JSON, ``Timestamp`` as an RFC 3339 string. A field the proto marks
REQUIRED has no default; other fields default to their proto3 zero (left out of the
JSON) or, when the proto tracks presence (``optional``, messages, oneofs), to ``None``.
Oneofs are validated on construction and decode: exactly one member set.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from ._base import Wire, exactly_one

__all__ = [
    "INTERRUPTED_STATES",
    "TERMINAL_STATES",
    "Artifact",
    "AuthenticationInfo",
    "CancelTaskRequest",
    "DeleteTaskPushNotificationConfigRequest",
    "GetExtendedAgentCardRequest",
    "GetTaskPushNotificationConfigRequest",
    "GetTaskRequest",
    "ListTaskPushNotificationConfigsRequest",
    "ListTaskPushNotificationConfigsResponse",
    "ListTasksRequest",
    "ListTasksResponse",
    "Message",
    "Part",
    "Role",
    "SendMessageConfiguration",
    "SendMessageRequest",
    "SendMessageResponse",
    "StreamResponse",
    "SubscribeToTaskRequest",
    "Task",
    "TaskArtifactUpdateEvent",
    "TaskPushNotificationConfig",
    "TaskState",
    "TaskStatus",
    "TaskStatusUpdateEvent",
]

TaskState = Literal[
    "TASK_STATE_UNSPECIFIED",
    "TASK_STATE_SUBMITTED",
    "TASK_STATE_WORKING",
    "TASK_STATE_COMPLETED",
    "TASK_STATE_FAILED",
    "TASK_STATE_CANCELED",
    "TASK_STATE_INPUT_REQUIRED",
    "TASK_STATE_REJECTED",
    "TASK_STATE_AUTH_REQUIRED",
]
Role = Literal["ROLE_UNSPECIFIED", "ROLE_USER", "ROLE_AGENT"]

#: States a task never leaves.
TERMINAL_STATES: Final[frozenset[TaskState]] = frozenset(
    {"TASK_STATE_COMPLETED", "TASK_STATE_FAILED", "TASK_STATE_CANCELED", "TASK_STATE_REJECTED"}
)
#: States where the task waits on the client; a stream ends there too.
INTERRUPTED_STATES: Final[frozenset[TaskState]] = frozenset(
    {"TASK_STATE_INPUT_REQUIRED", "TASK_STATE_AUTH_REQUIRED"}
)


# -- data model -------------------------------------------------------------------------


class Part(Wire, kw_only=True):
    """One piece of content: exactly one of ``text``, ``raw`` (bytes), ``url``, ``data``."""

    text: str | None = None
    raw: bytes | None = None
    url: str | None = None
    data: Any = None  # google.protobuf.Value; a JSON null here counts as unset
    metadata: dict[str, Any] | None = None
    filename: str = ""
    media_type: str = ""

    def __post_init__(self) -> None:
        exactly_one(self, ("text", "raw", "url", "data"))


class Message(Wire, kw_only=True):
    """One turn of the conversation between client and agent."""

    message_id: str
    context_id: str = ""
    task_id: str = ""
    role: Role
    parts: list[Part]
    metadata: dict[str, Any] | None = None
    extensions: list[str] = []
    reference_task_ids: list[str] = []


class TaskStatus(Wire, kw_only=True):
    """A task's state, with the agent's message about it and when it was set."""

    state: TaskState
    message: Message | None = None
    timestamp: str | None = None  # RFC 3339


class Artifact(Wire, kw_only=True):
    """An output of a task."""

    artifact_id: str
    name: str = ""
    description: str = ""
    parts: list[Part]
    metadata: dict[str, Any] | None = None
    extensions: list[str] = []


class Task(Wire, kw_only=True):
    """The unit of work: its status, its outputs and (optionally) its history."""

    id: str
    context_id: str = ""
    status: TaskStatus
    artifacts: list[Artifact] = []
    history: list[Message] = []
    metadata: dict[str, Any] | None = None


class TaskStatusUpdateEvent(Wire, kw_only=True):
    """A stream item: the task's status changed."""

    task_id: str
    context_id: str
    status: TaskStatus
    metadata: dict[str, Any] | None = None


class TaskArtifactUpdateEvent(Wire, kw_only=True):
    """A stream item: an artifact, or a chunk of it (``append``, ``lastChunk``)."""

    task_id: str
    context_id: str
    artifact: Artifact
    append: bool = False
    last_chunk: bool = False
    metadata: dict[str, Any] | None = None


class AuthenticationInfo(Wire, kw_only=True):
    """How to authenticate a push notification: an HTTP auth scheme and credentials."""

    scheme: str
    credentials: str = ""


class TaskPushNotificationConfig(Wire, kw_only=True):
    """Where (and with what token/auth) to POST a task's updates."""

    tenant: str = ""
    id: str = ""
    task_id: str = ""
    url: str
    token: str = ""
    authentication: AuthenticationInfo | None = None


# -- requests ---------------------------------------------------------------------------


class SendMessageConfiguration(Wire, kw_only=True):
    """Options of a SendMessage call."""

    accepted_output_modes: list[str] = []
    task_push_notification_config: TaskPushNotificationConfig | None = None
    history_length: int | None = None
    return_immediately: bool = False


class SendMessageRequest(Wire, kw_only=True):
    """Params of ``SendMessage`` and ``SendStreamingMessage``."""

    tenant: str = ""
    message: Message
    configuration: SendMessageConfiguration | None = None
    metadata: dict[str, Any] | None = None


class GetTaskRequest(Wire, kw_only=True):
    """Params of ``GetTask``."""

    tenant: str = ""
    id: str
    history_length: int | None = None


class ListTasksRequest(Wire, kw_only=True):
    """Params of ``ListTasks``; ``status`` left at UNSPECIFIED means any state."""

    tenant: str = ""
    context_id: str = ""
    status: TaskState = "TASK_STATE_UNSPECIFIED"
    page_size: int | None = None
    page_token: str = ""
    history_length: int | None = None
    status_timestamp_after: str | None = None  # RFC 3339
    include_artifacts: bool | None = None


class CancelTaskRequest(Wire, kw_only=True):
    """Params of ``CancelTask``."""

    tenant: str = ""
    id: str
    metadata: dict[str, Any] | None = None


class SubscribeToTaskRequest(Wire, kw_only=True):
    """Params of ``SubscribeToTask``."""

    tenant: str = ""
    id: str


class GetTaskPushNotificationConfigRequest(Wire, kw_only=True):
    """Params of ``GetTaskPushNotificationConfig``."""

    tenant: str = ""
    task_id: str
    id: str


class DeleteTaskPushNotificationConfigRequest(Wire, kw_only=True):
    """Params of ``DeleteTaskPushNotificationConfig`` (its result is ``{}``)."""

    tenant: str = ""
    task_id: str
    id: str


class ListTaskPushNotificationConfigsRequest(Wire, kw_only=True):
    """Params of ``ListTaskPushNotificationConfigs``."""

    tenant: str = ""
    task_id: str
    page_size: int = 0
    page_token: str = ""


class GetExtendedAgentCardRequest(Wire, kw_only=True):
    """Params of ``GetExtendedAgentCard``."""

    tenant: str = ""


# -- responses --------------------------------------------------------------------------


class SendMessageResponse(Wire, kw_only=True):
    """Result of ``SendMessage``: exactly one of ``task`` or ``message``."""

    task: Task | None = None
    message: Message | None = None

    def __post_init__(self) -> None:
        exactly_one(self, ("task", "message"))


class StreamResponse(Wire, kw_only=True):
    """One item of a stream: exactly one of task, message, statusUpdate, artifactUpdate."""

    task: Task | None = None
    message: Message | None = None
    status_update: TaskStatusUpdateEvent | None = None
    artifact_update: TaskArtifactUpdateEvent | None = None

    def __post_init__(self) -> None:
        exactly_one(self, ("task", "message", "status_update", "artifact_update"))


class ListTasksResponse(Wire, kw_only=True, omit_defaults=False):
    """Result of ``ListTasks``. Every field is REQUIRED, so all are always sent (as the
    SDK does); they still default on decode, as a proto3 peer leaves zeros out."""

    tasks: list[Task] = []
    next_page_token: str = ""
    page_size: int = 0
    total_size: int = 0


class ListTaskPushNotificationConfigsResponse(Wire, kw_only=True):
    """Result of ``ListTaskPushNotificationConfigs``."""

    configs: list[TaskPushNotificationConfig] = []
    next_page_token: str = ""
