"""The one error tree of codetether, and its table to every transport.

::

    CodetetherError                      -32603  500  INTERNAL
    ├── ParseError                       -32700  400  INVALID_ARGUMENT
    ├── InvalidRequest                   -32600  400  INVALID_ARGUMENT
    │   └── MessageTooLarge              -32600  413  RESOURCE_EXHAUSTED
    ├── MethodNotFound                   -32601  404  UNIMPLEMENTED
    ├── InvalidParams                    -32602  400  INVALID_ARGUMENT
    ├── RequestCancelled                 -32800  499  CANCELLED
    ├── NotFound                         -32001  404  NOT_FOUND
    ├── ConfigError                      -32002  400  FAILED_PRECONDITION
    ├── SecretError                      -32003  401  UNAUTHENTICATED
    ├── ProviderError                    -32004  502  UNAVAILABLE
    │   └── ProviderAuthError            -32005  401  UNAUTHENTICATED
    ├── ToolFailure                      -32006  422  FAILED_PRECONDITION
    │   └── WorkspaceEscape              -32007  403  PERMISSION_DENIED
    ├── ApprovalDenied                   -32008  403  PERMISSION_DENIED
    ├── Conflict                         -32009  409  ABORTED
    └── Unavailable                      -32010  503  UNAVAILABLE

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
    "ERROR_TABLE",
    "ErrorCodes",
    "InvalidParams",
    "InvalidRequest",
    "MessageTooLarge",
    "MethodNotFound",
    "NotFound",
    "ParseError",
    "ProviderAuthError",
    "ProviderError",
    "RequestCancelled",
    "SecretError",
    "ToolFailure",
    "Unavailable",
    "WorkspaceEscape",
    "from_wire",
]


class ErrorCodes(tuple):  # noqa: SLOT001 - a NamedTuple would pull `typing` into the CLI
    """(jsonrpc, http, grpc) codes of one error class."""

    __slots__ = ()

    def __new__(cls, jsonrpc: int, http: int, grpc: str) -> ErrorCodes:
        return tuple.__new__(cls, (jsonrpc, http, grpc))

    @property
    def jsonrpc(self) -> int:
        return int(self[0])

    @property
    def http(self) -> int:
        return int(self[1])

    @property
    def grpc(self) -> str:
        return str(self[2])


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


ERROR_TABLE: dict[type[CodetetherError], ErrorCodes] = {
    CodetetherError: ErrorCodes(-32603, 500, "INTERNAL"),
    ParseError: ErrorCodes(-32700, 400, "INVALID_ARGUMENT"),
    InvalidRequest: ErrorCodes(-32600, 400, "INVALID_ARGUMENT"),
    MessageTooLarge: ErrorCodes(-32600, 413, "RESOURCE_EXHAUSTED"),
    MethodNotFound: ErrorCodes(-32601, 404, "UNIMPLEMENTED"),
    InvalidParams: ErrorCodes(-32602, 400, "INVALID_ARGUMENT"),
    RequestCancelled: ErrorCodes(-32800, 499, "CANCELLED"),
    NotFound: ErrorCodes(-32001, 404, "NOT_FOUND"),
    ConfigError: ErrorCodes(-32002, 400, "FAILED_PRECONDITION"),
    SecretError: ErrorCodes(-32003, 401, "UNAUTHENTICATED"),
    ProviderError: ErrorCodes(-32004, 502, "UNAVAILABLE"),
    ProviderAuthError: ErrorCodes(-32005, 401, "UNAUTHENTICATED"),
    ToolFailure: ErrorCodes(-32006, 422, "FAILED_PRECONDITION"),
    WorkspaceEscape: ErrorCodes(-32007, 403, "PERMISSION_DENIED"),
    ApprovalDenied: ErrorCodes(-32008, 403, "PERMISSION_DENIED"),
    Conflict: ErrorCodes(-32009, 409, "ABORTED"),
    Unavailable: ErrorCodes(-32010, 503, "UNAVAILABLE"),
}

_BY_CODE: dict[int, type[CodetetherError]] = {}
for _cls, _codes in ERROR_TABLE.items():
    # The most specific class wins for shared codes only if registered first; keep the
    # base class for -32600 so a client sees InvalidRequest for both.
    _BY_CODE.setdefault(_codes.jsonrpc, _cls)


def from_wire(err: dict[str, Any]) -> CodetetherError:
    """Rebuild the error a server sent (round-trips class, message and data)."""
    cls = _BY_CODE.get(int(err.get("code", -32603)), CodetetherError)
    return cls(str(err.get("message", "")), data=err.get("data"))
