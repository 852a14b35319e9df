"""The one error tree of codetether, and its table to every transport.

::

    CodetetherError                        -32603  500  INTERNAL             INTERNAL
    ├── ParseError                         -32700  400  INVALID_ARGUMENT     PARSE_ERROR
    ├── InvalidRequest                     -32600  400  INVALID_ARGUMENT     INVALID_REQUEST
    │   └── MessageTooLarge                -32600  413  RESOURCE_EXHAUSTED   MESSAGE_TOO_LARGE
    ├── MethodNotFound                     -32601  404  UNIMPLEMENTED        METHOD_NOT_FOUND
    ├── InvalidParams                      -32602  400  INVALID_ARGUMENT     INVALID_PARAMS
    ├── RequestCancelled                   -32800  499  CANCELLED            REQUEST_CANCELLED
    │   A2A's errors, at the codes its specification gives them:
    ├── TaskNotFound                       -32001  404  NOT_FOUND            TASK_NOT_FOUND
    ├── TaskNotCancelable                  -32002  400  FAILED_PRECONDITION  TASK_NOT_CANCELABLE
    ├── PushNotificationNotSupported       -32003  400  FAILED_PRECONDITION  PUSH_NOTIFICATION_NOT_SUPPORTED
    ├── UnsupportedOperation               -32004  400  FAILED_PRECONDITION  UNSUPPORTED_OPERATION
    ├── ContentTypeNotSupported            -32005  400  INVALID_ARGUMENT     CONTENT_TYPE_NOT_SUPPORTED
    ├── InvalidAgentResponse               -32006  500  INTERNAL             INVALID_AGENT_RESPONSE
    ├── ExtendedAgentCardNotConfigured     -32007  400  FAILED_PRECONDITION  EXTENDED_AGENT_CARD_NOT_CONFIGURED
    ├── ExtensionSupportRequired           -32008  400  FAILED_PRECONDITION  EXTENSION_SUPPORT_REQUIRED
    ├── VersionNotSupported                -32009  400  FAILED_PRECONDITION  VERSION_NOT_SUPPORTED
    │   codetether's own, outside the JSON-RPC reserved block (-32768..-32000), which A2A
    │   (-32001..-32009) and LSP (-32899..-32800) already use:
    ├── NotFound                           -31001  404  NOT_FOUND            NOT_FOUND
    ├── ConfigError                        -31002  400  FAILED_PRECONDITION  CONFIG_ERROR
    ├── SecretError                        -31003  401  UNAUTHENTICATED      SECRET_ERROR
    ├── ProviderError                      -31004  502  UNAVAILABLE          PROVIDER_ERROR
    │   └── ProviderAuthError              -31005  401  UNAUTHENTICATED      PROVIDER_AUTH_ERROR
    ├── ToolFailure                        -31006  422  FAILED_PRECONDITION  TOOL_FAILURE
    │   └── WorkspaceEscape                -31007  403  PERMISSION_DENIED    WORKSPACE_ESCAPE
    ├── ApprovalDenied                     -31008  403  PERMISSION_DENIED    APPROVAL_DENIED
    ├── Conflict                           -31009  409  ABORTED              CONFLICT
    ├── Unavailable                        -31010  503  UNAVAILABLE          UNAVAILABLE
    └── Unauthenticated                    -31011  401  UNAUTHENTICATED      UNAUTHENTICATED

The last column is each class's unique ``reason`` (A2A 1.0's ``ErrorInfo.reason`` and the
gRPC status detail); :func:`from_wire` rebuilds the exact class from it, or from the code.

Every transport maps errors through :data:`ERROR_TABLE` and :func:`from_wire`;
none keeps a table of its own. Foreign exceptions are mapped to these at the
boundary with ``raise ... from exc``.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: importing typing costs the CLI ~4 ms

if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "ApprovalDenied",
    "CodetetherError",
    "ConfigError",
    "Conflict",
    "ContentTypeNotSupported",
    "ERROR_TABLE",
    "ErrorCodes",
    "ExtendedAgentCardNotConfigured",
    "ExtensionSupportRequired",
    "InvalidAgentResponse",
    "InvalidParams",
    "InvalidRequest",
    "MessageTooLarge",
    "MethodNotFound",
    "NotFound",
    "ParseError",
    "ProviderAuthError",
    "ProviderError",
    "PushNotificationNotSupported",
    "RequestCancelled",
    "SecretError",
    "TaskNotCancelable",
    "TaskNotFound",
    "ToolFailure",
    "Unauthenticated",
    "Unavailable",
    "UnsupportedOperation",
    "VersionNotSupported",
    "WorkspaceEscape",
    "from_wire",
]


class ErrorCodes(tuple[int, int, str, str]):  # a NamedTuple would pull `typing` into the CLI
    """(jsonrpc, http, grpc, reason) of one error class."""

    __slots__ = ()

    def __new__(cls, jsonrpc: int, http: int, grpc: str, reason: str) -> ErrorCodes:
        return tuple.__new__(cls, (jsonrpc, http, grpc, reason))

    @property
    def jsonrpc(self) -> int:
        return int(self[0])

    @property
    def http(self) -> int:
        return int(self[1])

    @property
    def grpc(self) -> str:
        return str(self[2])

    @property
    def reason(self) -> str:
        return str(self[3])


class CodetetherError(Exception):
    """Base of every error codetether reports to a client."""

    def __init__(self, message: str, *, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data

    @property
    def codes(self) -> ErrorCodes:
        for cls in type(self).__mro__:
            if cls in ERROR_TABLE:
                return ERROR_TABLE[cls]
        raise AssertionError("unreachable: CodetetherError is in the table")

    def to_wire(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.codes.jsonrpc, "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return err


class ParseError(CodetetherError):
    """The frame is not valid JSON."""


class InvalidRequest(CodetetherError):
    """The frame is JSON but not a JSON-RPC 2.0 request."""


class MessageTooLarge(InvalidRequest):
    """The frame exceeds the transport's size limit."""


class MethodNotFound(CodetetherError):
    """No handler has this method name."""


class InvalidParams(CodetetherError):
    """The params do not match the method's schema."""


class RequestCancelled(CodetetherError):
    """The client cancelled the request ($/cancelRequest)."""


class TaskNotFound(CodetetherError):
    """A2A: no task with that id (or not one the caller may see)."""


class TaskNotCancelable(CodetetherError):
    """A2A: the task is in a state that cannot be cancelled (a terminal one)."""


class PushNotificationNotSupported(CodetetherError):
    """A2A: the agent does not support push notifications."""


class UnsupportedOperation(CodetetherError):
    """A2A: the operation is valid but this agent does not support it."""


class ContentTypeNotSupported(CodetetherError):
    """A2A: a media type in the request is not supported."""


class InvalidAgentResponse(CodetetherError):
    """A2A: a peer agent answered with something the specification does not allow."""


class ExtendedAgentCardNotConfigured(CodetetherError):
    """A2A: the extended agent card was asked for and none is configured."""


class ExtensionSupportRequired(CodetetherError):
    """A2A: an extension the card marks required was not declared by the client."""


class VersionNotSupported(CodetetherError):
    """A2A: the requested protocol version (``A2A-Version``) is not supported."""


class NotFound(CodetetherError):
    """A named thing (session, approval, model, tool) does not exist."""


class ConfigError(CodetetherError):
    """The configuration is invalid; the message names the key and line."""


class SecretError(CodetetherError):
    """A key is missing or Vault is unreachable; the message says where the key belongs."""


class ProviderError(CodetetherError):
    """A model provider failed (after retries)."""


class ProviderAuthError(ProviderError):
    """The provider rejected the key (401/403)."""


class ToolFailure(CodetetherError):
    """A tool could not do what was asked; the agent gets this back as a tool error."""


class WorkspaceEscape(ToolFailure):
    """A path resolves outside the session's workspace root."""


class ApprovalDenied(CodetetherError):
    """The policy or the user denied the action."""


class Conflict(CodetetherError):
    """The request conflicts with current state (busy session, stale version)."""


class Unavailable(CodetetherError):
    """The daemon is shutting down or a component is degraded."""


class Unauthenticated(CodetetherError):
    """The request carries no valid credentials (an A2A call without its bearer token)."""


ERROR_TABLE: dict[type[CodetetherError], ErrorCodes] = {
    CodetetherError: ErrorCodes(-32603, 500, "INTERNAL", "INTERNAL"),
    ParseError: ErrorCodes(-32700, 400, "INVALID_ARGUMENT", "PARSE_ERROR"),
    InvalidRequest: ErrorCodes(-32600, 400, "INVALID_ARGUMENT", "INVALID_REQUEST"),
    MessageTooLarge: ErrorCodes(-32600, 413, "RESOURCE_EXHAUSTED", "MESSAGE_TOO_LARGE"),
    MethodNotFound: ErrorCodes(-32601, 404, "UNIMPLEMENTED", "METHOD_NOT_FOUND"),
    InvalidParams: ErrorCodes(-32602, 400, "INVALID_ARGUMENT", "INVALID_PARAMS"),
    RequestCancelled: ErrorCodes(-32800, 499, "CANCELLED", "REQUEST_CANCELLED"),
    TaskNotFound: ErrorCodes(-32001, 404, "NOT_FOUND", "TASK_NOT_FOUND"),
    TaskNotCancelable: ErrorCodes(-32002, 400, "FAILED_PRECONDITION", "TASK_NOT_CANCELABLE"),
    PushNotificationNotSupported: ErrorCodes(-32003, 400, "FAILED_PRECONDITION", "PUSH_NOTIFICATION_NOT_SUPPORTED"),
    UnsupportedOperation: ErrorCodes(-32004, 400, "FAILED_PRECONDITION", "UNSUPPORTED_OPERATION"),
    ContentTypeNotSupported: ErrorCodes(-32005, 400, "INVALID_ARGUMENT", "CONTENT_TYPE_NOT_SUPPORTED"),
    InvalidAgentResponse: ErrorCodes(-32006, 500, "INTERNAL", "INVALID_AGENT_RESPONSE"),
    ExtendedAgentCardNotConfigured: ErrorCodes(-32007, 400, "FAILED_PRECONDITION",
                                               "EXTENDED_AGENT_CARD_NOT_CONFIGURED"),
    ExtensionSupportRequired: ErrorCodes(-32008, 400, "FAILED_PRECONDITION", "EXTENSION_SUPPORT_REQUIRED"),
    VersionNotSupported: ErrorCodes(-32009, 400, "FAILED_PRECONDITION", "VERSION_NOT_SUPPORTED"),
    NotFound: ErrorCodes(-31001, 404, "NOT_FOUND", "NOT_FOUND"),
    ConfigError: ErrorCodes(-31002, 400, "FAILED_PRECONDITION", "CONFIG_ERROR"),
    SecretError: ErrorCodes(-31003, 401, "UNAUTHENTICATED", "SECRET_ERROR"),
    ProviderError: ErrorCodes(-31004, 502, "UNAVAILABLE", "PROVIDER_ERROR"),
    ProviderAuthError: ErrorCodes(-31005, 401, "UNAUTHENTICATED", "PROVIDER_AUTH_ERROR"),
    ToolFailure: ErrorCodes(-31006, 422, "FAILED_PRECONDITION", "TOOL_FAILURE"),
    WorkspaceEscape: ErrorCodes(-31007, 403, "PERMISSION_DENIED", "WORKSPACE_ESCAPE"),
    ApprovalDenied: ErrorCodes(-31008, 403, "PERMISSION_DENIED", "APPROVAL_DENIED"),
    Conflict: ErrorCodes(-31009, 409, "ABORTED", "CONFLICT"),
    Unavailable: ErrorCodes(-31010, 503, "UNAVAILABLE", "UNAVAILABLE"),
    Unauthenticated: ErrorCodes(-31011, 401, "UNAUTHENTICATED", "UNAUTHENTICATED"),
}

_BY_CODE: dict[int, type[CodetetherError]] = {}
_BY_REASON: dict[str, type[CodetetherError]] = {}
for _cls, _codes in ERROR_TABLE.items():
    # Shared codes (-32600) map to the first class registered (the base); the reason, when
    # the sender gave one, names the exact class.
    _BY_CODE.setdefault(_codes.jsonrpc, _cls)
    _BY_REASON[_codes.reason] = _cls


def from_wire(err: dict[str, Any]) -> CodetetherError:
    """Rebuild the error a server sent (round-trips class, message and data): by the
    ``reason`` in its data when there is one, else by its code."""
    data = err.get("data")
    reason = data.get("reason") if isinstance(data, dict) else None
    cls = _BY_REASON.get(reason) if isinstance(reason, str) else None
    if cls is None:
        cls = _BY_CODE.get(int(err.get("code", -32603)), CodetetherError)
    return cls(str(err.get("message", "")), data=data)
