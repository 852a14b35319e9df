"""Errors on the gRPC wire: a status code from the one error table, with rich details.

A client reads the code, and in the ``grpc-status-details-bin`` trailer a
``google.rpc.Status`` whose ``google.rpc.ErrorInfo`` names the exact error class
(``reason``, domain ``a2a-protocol.org``, as A2A 1.0 asks): the official a2a-sdk maps
that reason back to its own error class. Nothing here keeps a table of its own.
"""

from __future__ import annotations

import logging
from typing import Any

import grpc
import msgspec
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from ...errors import CodetetherError

__all__ = ["DETAILS_KEY", "DOMAIN", "legacy_name", "status_of"]

log = logging.getLogger("codetether.grpc")

#: The trailer gRPC's rich error model puts the serialized google.rpc.Status in.
DETAILS_KEY = "grpc-status-details-bin"
DOMAIN = "a2a-protocol.org"


def legacy_name(exc: CodetetherError) -> str | None:
    """The A2A 0.3 error type name of ``exc`` (``TaskNotFoundError``), or None for our own.

    A2A 0.3 over gRPC had no ErrorInfo: its clients (the a2a-sdk's compat transport
    among them) read the type from the status message, ``"TaskNotFoundError: ..."``.
    The name follows from the table's reason; only errors at JSON-RPC's and A2A's
    reserved codes (not LSP's -32899..-32800) have one.
    """
    codes = exc.codes
    if not -32768 <= codes.jsonrpc <= -32000 or -32899 <= codes.jsonrpc <= -32800:
        return None
    if codes.reason == "PARSE_ERROR":
        return "JSONParseError"
    name = "".join(word.capitalize() for word in codes.reason.split("_"))
    return name if name.endswith("Error") else f"{name}Error"


def status_of(exc: CodetetherError, *, legacy: bool = False) -> tuple[grpc.StatusCode, str,
                                                                     tuple[tuple[str, bytes], ...]]:
    """The status code, message and trailing metadata that report ``exc`` (``legacy``:
    the message prefixed with the 0.3 type name, see :func:`legacy_name`)."""
    codes = exc.codes
    code: grpc.StatusCode = getattr(grpc.StatusCode, codes.grpc, grpc.StatusCode.INTERNAL)
    metadata = {"message": exc.message}
    if exc.data is not None:
        try:
            metadata["data"] = msgspec.json.encode(exc.data).decode()
        except (TypeError, msgspec.EncodeError):  # data is a courtesy; the reason is the contract
            log.debug("error data of %s is not JSON: dropped", type(exc).__name__)
    info = error_details_pb2.ErrorInfo(reason=codes.reason, domain=DOMAIN, metadata=metadata)
    detail = any_pb2.Any()
    detail.Pack(info)
    message = exc.message
    if legacy and (name := legacy_name(exc)) is not None:
        message = f"{name}: {message}"
    status = status_pb2.Status(code=_number(code), message=message, details=[detail])
    return code, message, ((DETAILS_KEY, status.SerializeToString()),)


def _number(code: grpc.StatusCode) -> int:
    value: Any = code.value  # (number, "name") in grpcio
    return int(value[0])
