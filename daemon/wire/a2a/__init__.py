"""A2A (Agent2Agent) on the wire: msgspec Structs for A2A 1.0 and the 0.3 compatibility shapes.

The Structs here carry the names of the messages of the A2A 1.0.1 proto (``lf.a2a.v1``) and
encode to the proto3 JSON mapping the specification puts on the wire: camelCase names, enum
values as their proto names (``"TASK_STATE_WORKING"``, ``"ROLE_USER"``), ``bytes`` as base64,
RFC 3339 timestamps as strings, zero values left out. Oneofs (``Part``, ``SendMessageResponse``,
``StreamResponse``, ``SecurityScheme``, ``OAuthFlows``) are checked: exactly one member set, or
``msgspec.ValidationError`` on decode (``ValueError`` when built in code) naming the members.
Unknown fields are ignored, so a newer peer's requests still decode. A ProtoJSON parser
also accepts a field under its proto name (``history_length``): ``camel_keys(raw, Struct)``
renames those to the JSON names before a document is converted.

Use msgspec directly: ``msgspec.json.decode(body, type=a2a.SendMessageRequest)``,
``msgspec.json.encode(task)``, ``msgspec.convert(raw_dict, a2a.Part)``, ``msgspec.to_builtins(task)``.

The A2A 0.3 shapes and the converters between 0.3 and 1.0 live in ``a2a.v0_3``.
"""

from ._base import (
    now_rfc3339,
)
from ._card import (
    AgentCapabilities,
    AgentCard,
    AgentCardSignature,
    AgentExtension,
    AgentInterface,
    AgentProvider,
    AgentSkill,
    APIKeySecurityScheme,
    AuthorizationCodeOAuthFlow,
    ClientCredentialsOAuthFlow,
    DeviceCodeOAuthFlow,
    HTTPAuthSecurityScheme,
    ImplicitOAuthFlow,
    MutualTlsSecurityScheme,
    OAuth2SecurityScheme,
    OAuthFlows,
    OpenIdConnectSecurityScheme,
    PasswordOAuthFlow,
    SecurityRequirement,
    SecurityScheme,
    StringList,
)
from ._names import (
    camel_keys,
)
from ._v1 import (
    INTERRUPTED_STATES,
    TERMINAL_STATES,
    Artifact,
    AuthenticationInfo,
    CancelTaskRequest,
    DeleteTaskPushNotificationConfigRequest,
    GetExtendedAgentCardRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    ListTaskPushNotificationConfigsRequest,
    ListTaskPushNotificationConfigsResponse,
    ListTasksRequest,
    ListTasksResponse,
    Message,
    Part,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    SendMessageResponse,
    StreamResponse,
    SubscribeToTaskRequest,
    Task,
    TaskArtifactUpdateEvent,
    TaskPushNotificationConfig,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)

__all__ = [
    "APIKeySecurityScheme",
    "AgentCapabilities",
    "AgentCard",
    "AgentCardSignature",
    "AgentExtension",
    "AgentInterface",
    "AgentProvider",
    "AgentSkill",
    "Artifact",
    "AuthenticationInfo",
    "AuthorizationCodeOAuthFlow",
    "CancelTaskRequest",
    "ClientCredentialsOAuthFlow",
    "DeleteTaskPushNotificationConfigRequest",
    "DeviceCodeOAuthFlow",
    "GetExtendedAgentCardRequest",
    "GetTaskPushNotificationConfigRequest",
    "GetTaskRequest",
    "HTTPAuthSecurityScheme",
    "INTERRUPTED_STATES",
    "ImplicitOAuthFlow",
    "ListTaskPushNotificationConfigsRequest",
    "ListTaskPushNotificationConfigsResponse",
    "ListTasksRequest",
    "ListTasksResponse",
    "Message",
    "MutualTlsSecurityScheme",
    "OAuth2SecurityScheme",
    "OAuthFlows",
    "OpenIdConnectSecurityScheme",
    "Part",
    "PasswordOAuthFlow",
    "Role",
    "SecurityRequirement",
    "SecurityScheme",
    "SendMessageConfiguration",
    "SendMessageRequest",
    "SendMessageResponse",
    "StreamResponse",
    "StringList",
    "SubscribeToTaskRequest",
    "TERMINAL_STATES",
    "Task",
    "TaskArtifactUpdateEvent",
    "TaskPushNotificationConfig",
    "TaskState",
    "TaskStatus",
    "TaskStatusUpdateEvent",
    "camel_keys",
    "now_rfc3339",
]
