"""A pytest plugin for running the A2A TCK against a server that requires a bearer token.

The TCK (a2aproject/a2a-tck, 1.0-dev) has no option for credentials. Loaded into its
pytest run (``-p tck_auth`` with this folder on ``PYTHONPATH``; ``scripts/run-tck.sh``
does it), this adds ``Authorization: Bearer $TCK_AUTH_TOKEN`` to every HTTP request
its httpx clients send (``httpx.Client.send`` is what ``httpx.get``/``post`` and the
TCK's own clients end in) and the same ``authorization`` metadata to every gRPC call
on a channel from ``grpc.insecure_channel``. A request that already carries an
``Authorization`` header is left as it is. It needs only httpx and grpcio (the TCK's
own dependencies), so it runs in the TCK's environment, not ours.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, NamedTuple

import grpc
import httpx

__all__ = ["install"]

#: The environment variable with the token to send.
TOKEN_ENV = "TCK_AUTH_TOKEN"


class _CallDetails(NamedTuple):
    """A ``grpc.ClientCallDetails`` with the metadata replaced."""

    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: bool | None
    compression: Any


#: The four client interceptor kinds in one base (grpc ships no type information).
_Interceptor: Any = type("_Interceptor", (grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                                          grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor), {})


class _BearerInterceptor(_Interceptor):  # type: ignore[misc]
    """Adds ``authorization: Bearer <token>`` to each call's metadata."""

    def __init__(self, token: str) -> None:
        self.token = token

    def _details(self, details: Any) -> Any:
        metadata = list(details.metadata or ())
        if not any(key.lower() == "authorization" for key, _ in metadata):
            metadata.append(("authorization", f"Bearer {self.token}"))
        return _CallDetails(details.method, details.timeout, metadata, details.credentials,
                            getattr(details, "wait_for_ready", None), getattr(details, "compression", None))

    def intercept_unary_unary(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        """A unary call."""
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        """A server-streaming call."""
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation: Callable[..., Any], details: Any, requests: Any) -> Any:
        """A client-streaming call."""
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation: Callable[..., Any], details: Any, requests: Any) -> Any:
        """A bidirectional call."""
        return continuation(self._details(details), requests)


def install(token: str) -> None:
    """Patch httpx and grpc (for this process) to send ``token``."""
    sync_send: Callable[..., httpx.Response] = httpx.Client.send
    async_send: Callable[..., Any] = httpx.AsyncClient.send
    insecure_channel: Callable[..., grpc.Channel] = grpc.insecure_channel

    def _authorize(request: httpx.Request) -> None:
        if "authorization" not in request.headers:
            request.headers["Authorization"] = f"Bearer {token}"

    def send(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        _authorize(request)
        return sync_send(self, request, **kwargs)

    async def asend(self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        _authorize(request)
        response: httpx.Response = await async_send(self, request, **kwargs)
        return response

    def channel(target: str, *args: Any, **kwargs: Any) -> grpc.Channel:
        return grpc.intercept_channel(insecure_channel(target, *args, **kwargs), _BearerInterceptor(token))

    httpx.Client.send = send  # type: ignore[method-assign]
    httpx.AsyncClient.send = asend  # type: ignore[method-assign]
    grpc.insecure_channel = channel


if _token := os.environ.get(TOKEN_ENV, ""):
    install(_token)
