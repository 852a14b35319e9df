"""Pure conversions between the A2A 0.3 shapes and the 1.0 Structs.

Server side: 0.3 requests → 1.0 (``to_v1_*``), 1.0 results and stream items → 0.3
(``from_v1_*``). Client side (talking to a 0.3 peer) the other way round. What only one
version has is dropped on the way: 1.0's ``tenant`` and a text part's file name and media
type; 0.3's extra push auth schemes beyond the first and a status update's ``final``.

Two mappings follow the official SDK so both ends agree: a 1.0 data part whose value is
not a JSON object travels in 0.3 as ``{"value": v}`` with metadata ``data_part_compat:
true``; and a 0.3 ``historyLength`` of 0 (0.3's "no limit") becomes an unset 1.0 one.
"""

from __future__ import annotations

from .. import _v1 as v1
from . import _types as v03

__all__ = [
    "from_v1_message",
    "from_v1_part",
    "from_v1_push_config",
    "from_v1_send_request",
    "from_v1_send_response",
    "from_v1_stream_response",
    "from_v1_task",
    "to_v1_cancel",
    "to_v1_delete_push_config",
    "to_v1_get_push_config",
    "to_v1_get_task",
    "to_v1_list_push_configs",
    "to_v1_message",
    "to_v1_part",
    "to_v1_push_config",
    "to_v1_send_request",
    "to_v1_send_result",
    "to_v1_stream_item",
    "to_v1_subscribe",
    "to_v1_task",
]

_STATE_TO_V1: dict[v03.TaskState, v1.TaskState] = {
    "unknown": "TASK_STATE_UNSPECIFIED",
    "submitted": "TASK_STATE_SUBMITTED",
    "working": "TASK_STATE_WORKING",
    "completed": "TASK_STATE_COMPLETED",
    "failed": "TASK_STATE_FAILED",
    "canceled": "TASK_STATE_CANCELED",
    "input-required": "TASK_STATE_INPUT_REQUIRED",
    "rejected": "TASK_STATE_REJECTED",
    "auth-required": "TASK_STATE_AUTH_REQUIRED",
}
_STATE_FROM_V1: dict[v1.TaskState, v03.TaskState] = {v: k for k, v in _STATE_TO_V1.items()}
_COMPAT_KEY = "data_part_compat"  # the SDK's marker for a wrapped non-object data value


# -- parts, messages, tasks -------------------------------------------------------------


def to_v1_part(part: v03.Part) -> v1.Part:
    """A 0.3 part as a 1.0 part."""
    if isinstance(part, v03.TextPart):
        return v1.Part(text=part.text, metadata=part.metadata)
    if isinstance(part, v03.FilePart):
        f = part.file
        return v1.Part(
            raw=f.bytes,
            url=f.uri if f.bytes is None else None,
            metadata=part.metadata,
            filename=f.name or "",
            media_type=f.mime_type or "",
        )
    metadata = part.metadata
    if metadata and metadata.get(_COMPAT_KEY) and "value" in part.data:
        rest = {k: v for k, v in metadata.items() if k != _COMPAT_KEY}
        return v1.Part(data=part.data["value"], metadata=rest or None)
    return v1.Part(data=part.data, metadata=metadata)


def from_v1_part(part: v1.Part) -> v03.Part:
    """A 1.0 part as a 0.3 part (a text part loses its file name and media type)."""
    if part.text is not None:
        return v03.TextPart(text=part.text, metadata=part.metadata)
    if part.raw is not None or part.url is not None:
        file = v03.FileContent(
            bytes=part.raw, uri=part.url, mime_type=part.media_type or None, name=part.filename or None
        )
        return v03.FilePart(file=file, metadata=part.metadata)
    if isinstance(part.data, dict):
        return v03.DataPart(data=part.data, metadata=part.metadata)
    return v03.DataPart(data={"value": part.data}, metadata={**(part.metadata or {}), _COMPAT_KEY: True})


def to_v1_message(message: v03.Message) -> v1.Message:
    """A 0.3 message as a 1.0 message."""
    return v1.Message(
        message_id=message.message_id,
        context_id=message.context_id or "",
        task_id=message.task_id or "",
        role="ROLE_USER" if message.role == "user" else "ROLE_AGENT",
        parts=[to_v1_part(p) for p in message.parts],
        metadata=message.metadata,
        extensions=list(message.extensions),
        reference_task_ids=list(message.reference_task_ids),
    )


def from_v1_message(message: v1.Message) -> v03.Message:
    """A 1.0 message as a 0.3 message."""
    return v03.Message(
        message_id=message.message_id,
        role="user" if message.role == "ROLE_USER" else "agent",
        parts=[from_v1_part(p) for p in message.parts],
        context_id=message.context_id or None,
        task_id=message.task_id or None,
        reference_task_ids=list(message.reference_task_ids),
        extensions=list(message.extensions),
        metadata=message.metadata,
    )


def _status_to_v1(status: v03.TaskStatus) -> v1.TaskStatus:
    message = to_v1_message(status.message) if status.message is not None else None
    return v1.TaskStatus(state=_STATE_TO_V1[status.state], message=message, timestamp=status.timestamp)


def _status_from_v1(status: v1.TaskStatus) -> v03.TaskStatus:
    message = from_v1_message(status.message) if status.message is not None else None
    return v03.TaskStatus(state=_STATE_FROM_V1[status.state], message=message, timestamp=status.timestamp)


def _artifact_to_v1(artifact: v03.Artifact) -> v1.Artifact:
    return v1.Artifact(
        artifact_id=artifact.artifact_id,
        name=artifact.name or "",
        description=artifact.description or "",
        parts=[to_v1_part(p) for p in artifact.parts],
        metadata=artifact.metadata,
        extensions=list(artifact.extensions),
    )


def _artifact_from_v1(artifact: v1.Artifact) -> v03.Artifact:
    return v03.Artifact(
        artifact_id=artifact.artifact_id,
        name=artifact.name or None,
        description=artifact.description or None,
        parts=[from_v1_part(p) for p in artifact.parts],
        metadata=artifact.metadata,
        extensions=list(artifact.extensions),
    )


def to_v1_task(task: v03.Task) -> v1.Task:
    """A 0.3 task as a 1.0 task."""
    return v1.Task(
        id=task.id,
        context_id=task.context_id,
        status=_status_to_v1(task.status),
        artifacts=[_artifact_to_v1(a) for a in task.artifacts],
        history=[to_v1_message(m) for m in task.history],
        metadata=task.metadata,
    )


def from_v1_task(task: v1.Task) -> v03.Task:
    """A 1.0 task as a 0.3 task."""
    return v03.Task(
        id=task.id,
        context_id=task.context_id,
        status=_status_from_v1(task.status),
        artifacts=[_artifact_from_v1(a) for a in task.artifacts],
        history=[from_v1_message(m) for m in task.history],
        metadata=task.metadata,
    )


# -- results and stream items -----------------------------------------------------------


def from_v1_send_response(response: v1.SendMessageResponse) -> v03.Task | v03.Message:
    """The result of 1.0 ``SendMessage`` as the result of 0.3 ``message/send``."""
    if response.task is not None:
        return from_v1_task(response.task)
    assert response.message is not None  # the oneof holds exactly one
    return from_v1_message(response.message)


def to_v1_send_result(result: v03.Task | v03.Message) -> v1.SendMessageResponse:
    """A 0.3 peer's ``message/send`` result as a 1.0 ``SendMessageResponse``."""
    if isinstance(result, v03.Task):
        return v1.SendMessageResponse(task=to_v1_task(result))
    return v1.SendMessageResponse(message=to_v1_message(result))


def from_v1_stream_response(item: v1.StreamResponse) -> v03.StreamItem:
    """One 1.0 stream item as a 0.3 one. A status update into a terminal or interrupted
    state (input/auth required) is the stream's last, so it carries ``final: true``."""
    if item.task is not None:
        return from_v1_task(item.task)
    if item.message is not None:
        return from_v1_message(item.message)
    if item.status_update is not None:
        ev = item.status_update
        state = ev.status.state
        return v03.TaskStatusUpdateEvent(
            task_id=ev.task_id,
            context_id=ev.context_id,
            status=_status_from_v1(ev.status),
            final=state in v1.TERMINAL_STATES or state in v1.INTERRUPTED_STATES,
            metadata=ev.metadata,
        )
    art = item.artifact_update
    assert art is not None  # the oneof holds exactly one
    return v03.TaskArtifactUpdateEvent(
        task_id=art.task_id,
        context_id=art.context_id,
        artifact=_artifact_from_v1(art.artifact),
        append=art.append or None,
        last_chunk=art.last_chunk or None,
        metadata=art.metadata,
    )


def to_v1_stream_item(item: v03.StreamItem) -> v1.StreamResponse:
    """A 0.3 peer's stream item as a 1.0 ``StreamResponse`` (``final`` is dropped)."""
    if isinstance(item, v03.Task):
        return v1.StreamResponse(task=to_v1_task(item))
    if isinstance(item, v03.Message):
        return v1.StreamResponse(message=to_v1_message(item))
    if isinstance(item, v03.TaskStatusUpdateEvent):
        return v1.StreamResponse(
            status_update=v1.TaskStatusUpdateEvent(
                task_id=item.task_id,
                context_id=item.context_id,
                status=_status_to_v1(item.status),
                metadata=item.metadata,
            )
        )
    return v1.StreamResponse(
        artifact_update=v1.TaskArtifactUpdateEvent(
            task_id=item.task_id,
            context_id=item.context_id,
            artifact=_artifact_to_v1(item.artifact),
            append=bool(item.append),
            last_chunk=bool(item.last_chunk),
            metadata=item.metadata,
        )
    )


# -- push notification configs ----------------------------------------------------------


def _push_to_v1(config: v03.PushNotificationConfig, task_id: str) -> v1.TaskPushNotificationConfig:
    auth = config.authentication
    return v1.TaskPushNotificationConfig(
        id=config.id or "",
        task_id=task_id,
        url=config.url,
        token=config.token or "",
        authentication=(
            v1.AuthenticationInfo(
                scheme=auth.schemes[0] if auth.schemes else "", credentials=auth.credentials or ""
            )
            if auth is not None
            else None
        ),
    )


def _push_from_v1(config: v1.TaskPushNotificationConfig) -> v03.PushNotificationConfig:
    auth = config.authentication
    return v03.PushNotificationConfig(
        url=config.url,
        id=config.id or None,
        token=config.token or None,
        authentication=(
            v03.PushNotificationAuthenticationInfo(
                schemes=[auth.scheme] if auth.scheme else [], credentials=auth.credentials or None
            )
            if auth is not None
            else None
        ),
    )


def to_v1_push_config(config: v03.TaskPushNotificationConfig) -> v1.TaskPushNotificationConfig:
    """``tasks/pushNotificationConfig/set`` params as 1.0 ``CreateTaskPushNotificationConfig``'s."""
    return _push_to_v1(config.push_notification_config, config.task_id)


def from_v1_push_config(config: v1.TaskPushNotificationConfig) -> v03.TaskPushNotificationConfig:
    """A 1.0 push config as the 0.3 one (under its task id)."""
    return v03.TaskPushNotificationConfig(
        task_id=config.task_id, push_notification_config=_push_from_v1(config)
    )


# -- requests ---------------------------------------------------------------------------


def to_v1_send_request(params: v03.MessageSendParams) -> v1.SendMessageRequest:
    """``message/send`` / ``message/stream`` params as a 1.0 ``SendMessageRequest``."""
    cfg = params.configuration
    configuration = None
    if cfg is not None:
        configuration = v1.SendMessageConfiguration(
            accepted_output_modes=list(cfg.accepted_output_modes),
            task_push_notification_config=(
                _push_to_v1(cfg.push_notification_config, "") if cfg.push_notification_config else None
            ),
            history_length=cfg.history_length or None,
            return_immediately=cfg.blocking is False,
        )
    return v1.SendMessageRequest(
        message=to_v1_message(params.message), configuration=configuration, metadata=params.metadata
    )


def from_v1_send_request(request: v1.SendMessageRequest) -> v03.MessageSendParams:
    """A 1.0 ``SendMessageRequest`` as ``message/send`` params for a 0.3 peer."""
    cfg = request.configuration
    configuration = None
    if cfg is not None:
        push = cfg.task_push_notification_config
        configuration = v03.MessageSendConfiguration(
            accepted_output_modes=list(cfg.accepted_output_modes),
            blocking=not cfg.return_immediately,
            history_length=cfg.history_length,
            push_notification_config=_push_from_v1(push) if push is not None else None,
        )
    return v03.MessageSendParams(
        message=from_v1_message(request.message), configuration=configuration, metadata=request.metadata
    )


def to_v1_get_task(params: v03.TaskQueryParams) -> v1.GetTaskRequest:
    """``tasks/get`` params as a 1.0 ``GetTaskRequest``."""
    return v1.GetTaskRequest(id=params.id, history_length=params.history_length or None)


def to_v1_cancel(params: v03.TaskIdParams) -> v1.CancelTaskRequest:
    """``tasks/cancel`` params as a 1.0 ``CancelTaskRequest``."""
    return v1.CancelTaskRequest(id=params.id, metadata=params.metadata)


def to_v1_subscribe(params: v03.TaskIdParams) -> v1.SubscribeToTaskRequest:
    """``tasks/resubscribe`` params as a 1.0 ``SubscribeToTaskRequest``."""
    return v1.SubscribeToTaskRequest(id=params.id)


def to_v1_get_push_config(
    params: v03.GetTaskPushNotificationConfigParams,
) -> v1.GetTaskPushNotificationConfigRequest:
    """``tasks/pushNotificationConfig/get`` params (config id optional in 0.3) as 1.0's."""
    return v1.GetTaskPushNotificationConfigRequest(
        task_id=params.id, id=params.push_notification_config_id or ""
    )


def to_v1_list_push_configs(
    params: v03.ListTaskPushNotificationConfigParams,
) -> v1.ListTaskPushNotificationConfigsRequest:
    """``tasks/pushNotificationConfig/list`` params as 1.0's."""
    return v1.ListTaskPushNotificationConfigsRequest(task_id=params.id)


def to_v1_delete_push_config(
    params: v03.DeleteTaskPushNotificationConfigParams,
) -> v1.DeleteTaskPushNotificationConfigRequest:
    """``tasks/pushNotificationConfig/delete`` params as 1.0's."""
    return v1.DeleteTaskPushNotificationConfigRequest(
        task_id=params.id, id=params.push_notification_config_id
    )
