"""Who is calling, over what, until when: the one context every transport builds."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = ["CallContext", "Emit", "Transport"]

#: The transports a call can arrive on ("inproc": a test or embedding calling the API directly).
Transport = Literal["unix", "http", "grpc", "inproc"]


class Emit(Protocol):
    """The caller's sink for notifications (a ``session/event`` note, say). The Unix
    transport writes a JSON-RPC notification; an SSE stream writes an event; it is a
    no-op once the caller is gone. It may wait while the caller is slow to read."""

    def __call__(self, note: Any) -> Awaitable[None]: ...


async def _discard(note: Any) -> None:
    return None


@dataclass(slots=True, kw_only=True)
class CallContext:
    """One call, as every transport describes it to the API.

    ``peer`` holds what the transport knows of the other end (on the Unix socket the
    kernel's pid/uid/gid); ``principal`` is who is acting, for approvals and the audit
    trail. ``channel`` identifies the caller's connection, so two calls from the same
    one can be told apart from calls of another (a session's watcher and its run).
    ``closed`` is set when that channel is gone, and ``on_close`` callbacks run then:
    what a call leaves running for its caller (a subscription) ends with it.
    ``deadline`` is the loop time by which an answer is no longer wanted, if any.
    """

    transport: Transport
    method: str = ""
    request_id: Any = None
    peer: Mapping[str, Any] = field(default_factory=dict)
    principal: str = "client"
    deadline: float | None = None
    emit: Emit = _discard
    channel: object = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    on_close: list[Callable[[], None]] = field(default_factory=list)

    @staticmethod
    def principal_of(peer: Mapping[str, Any]) -> str:
        """``uid:<n>`` for a peer the kernel vouched for, else ``client``."""
        return f"uid:{peer['uid']}" if "uid" in peer else "client"
