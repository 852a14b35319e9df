"""Calling another agent: its card over plain httpx, everything else through the official
``a2a-sdk`` client, with the SDK's results handed back as proto3 JSON dicts (camelCase,
enum names), the shape the A2A specification puts on the wire.

The SDK pulls in pydantic and protobuf (~100 ms, ~30 MB), so it is imported only inside
the functions that call a peer: neither the CLI nor an idle daemon pays for it.

The SDK's exceptions are mapped to ours at this boundary: a refused token is
:class:`Unauthenticated` ("the agent at URL refused the token"), a peer that cannot be
reached is :class:`Unavailable` naming the URL, and an A2A error (task not found, not
cancelable, ...) is our class of the same name with the peer's message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

from ... import errors
from ...errors import CodetetherError, InvalidAgentResponse, InvalidParams, Unauthenticated, Unavailable

__all__ = [
    "BINDINGS",
    "INTERRUPTED",
    "TERMINAL",
    "PeerClient",
    "card_url",
    "choose_binding",
    "fetch_card",
    "parts_text",
    "task_text",
]

#: ``--transport`` names -> the card's ``protocolBinding`` values.
BINDINGS = {"jsonrpc": "JSONRPC", "http": "HTTP+JSON", "grpc": "GRPC"}
TERMINAL = frozenset({"TASK_STATE_COMPLETED", "TASK_STATE_FAILED", "TASK_STATE_CANCELED",
                      "TASK_STATE_REJECTED"})
#: States in which the peer waits for its caller: the answer so far is the result.
INTERRUPTED = frozenset({"TASK_STATE_INPUT_REQUIRED", "TASK_STATE_AUTH_REQUIRED"})
_CARD_PATH = "/.well-known/agent-card.json"


def card_url(url: str) -> str:
    """Where the public card of the agent at ``url`` is (``url`` itself if it names a .json)."""
    url = url.strip()
    return url if url.endswith(".json") else url.rstrip("/") + _CARD_PATH


async def fetch_card(url: str, *, timeout: float = 10.0) -> dict[str, Any]:
    """The public card of the agent at ``url`` (proto3 JSON, as served)."""
    import httpx

    where = card_url(url)
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as http:
            response = await http.get(where, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise Unavailable(f"cannot reach the agent at {url}: {exc or type(exc).__name__}") from exc
    if response.status_code != 200:
        raise Unavailable(f"the agent at {url} has no card at {where} (HTTP {response.status_code})")
    try:
        card = response.json()
    except ValueError as exc:
        raise InvalidAgentResponse(f"the card at {where} is not JSON") from exc
    if not isinstance(card, dict) or not isinstance(card.get("name"), str):
        raise InvalidAgentResponse(f"the card at {where} is not an agent card (no name)")
    return card


def choose_binding(card: dict[str, Any], url: str, transport: str | None = None) -> tuple[str, str]:
    """(binding, address) to call: the ``transport`` asked for (``jsonrpc``, ``http``,
    ``grpc``), else the first interface of the card (the agent's preference) we speak."""
    offered = [(str(i.get("protocolBinding", "")), str(i.get("url", "")))
               for i in card.get("supportedInterfaces") or [] if isinstance(i, dict)]
    if transport is not None:
        binding = BINDINGS[transport]
        for have, address in offered:
            if have == binding:
                return have, address
        names = ", ".join(b for b, _ in offered) or "none"
        raise InvalidParams(f"the agent at {url} offers no {binding} interface (it offers: {names})")
    import importlib.util  # here: the daemon's start-up need not pay for it

    speak = {"JSONRPC", "HTTP+JSON"} | ({"GRPC"} if importlib.util.find_spec("grpc") else set())
    for have, address in offered:
        if have in speak:
            return have, address
    return "JSONRPC", url.rstrip("/")  # a card without interfaces: the URL it was found at


def parts_text(parts: list[dict[str, Any]] | None) -> str:
    """The text of a list of parts (data parts as JSON, files by name)."""
    import json

    out = []
    for part in parts or []:
        if "text" in part:
            out.append(str(part["text"]))
        elif "data" in part:
            out.append(json.dumps(part["data"]))
        elif "url" in part or "raw" in part:
            out.append(f"[file {part.get('filename') or part.get('url') or ''}]".replace(" ]", "]"))
    return "".join(out)


def task_text(task: dict[str, Any]) -> str:
    """A task's answer: its artifacts' text, then its status message's."""
    chunks = [parts_text(a.get("parts")) for a in task.get("artifacts") or []]
    message = (task.get("status") or {}).get("message")
    if message:
        chunks.append(parts_text(message.get("parts")))
    return "\n".join(c for c in chunks if c)


class PeerClient:
    """One agent over the official SDK client: ``async with PeerClient(url) as peer``.

    ``token`` goes in ``Authorization: Bearer`` (metadata on gRPC); ``transport`` picks
    the interface (default: the card's first we speak); ``streaming`` uses
    SendStreamingMessage; ``polling`` asks the peer to answer before the task ends
    (``returnImmediately``); ``timeout`` bounds each HTTP read / gRPC call.
    """

    def __init__(self, url: str, *, token: str | None = None, transport: str | None = None,
                 streaming: bool = False, polling: bool = False, timeout: float = 300.0) -> None:
        self.url = url.strip().rstrip("/")
        self.token = token
        self.transport = transport
        self.streaming = streaming
        self.polling = polling
        self.timeout = timeout
        self.card: dict[str, Any] = {}
        self.binding = ""
        self.address = ""
        self._client: Any = None
        self._http: Any = None

    async def __aenter__(self) -> PeerClient:
        self.card = await fetch_card(self.url, timeout=min(self.timeout, 30.0))
        self.binding, self.address = choose_binding(self.card, self.url, self.transport)
        import httpx

        self._http = httpx.AsyncClient(timeout=self.timeout)
        try:
            self._client = _sdk_client(self.card, self.binding, self._http, self.streaming, self.polling)
        except Exception as exc:
            await self._http.aclose()
            raise _mapped(exc, self.url) from exc
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        try:
            if self._client is not None:
                await self._client.close()
        finally:
            await self._http.aclose()

    def _context(self) -> Any:
        from a2a.client import ClientCallContext

        params = {"authorization": f"Bearer {self.token}"} if self.token else None
        return ClientCallContext(service_parameters=params)

    async def send(self, text: str, *, context_id: str | None = None,
                   task_id: str | None = None) -> AsyncIterator[dict[str, Any]]:
        """Send one text message; yield each StreamResponse (one, unless streaming)."""
        import uuid

        from a2a.types.a2a_pb2 import Message, Part, Role, SendMessageRequest

        message = Message(message_id=uuid.uuid4().hex, role=Role.ROLE_USER, parts=[Part(text=text)])
        if context_id:
            message.context_id = context_id
        if task_id:
            message.task_id = task_id
        try:
            async for event in self._client.send_message(SendMessageRequest(message=message),
                                                         context=self._context()):
                yield _as_dict(event)
        except CodetetherError:
            raise
        except Exception as exc:
            raise _mapped(exc, self.url) from exc

    async def get_task(self, task_id: str) -> dict[str, Any]:
        """GetTask."""
        from a2a.types.a2a_pb2 import GetTaskRequest

        return await self._call("get_task", GetTaskRequest(id=task_id))

    async def list_tasks(self, page_size: int = 50, page_token: str = "") -> dict[str, Any]:
        """ListTasks (one page)."""
        from a2a.types.a2a_pb2 import ListTasksRequest

        return await self._call("list_tasks", ListTasksRequest(page_size=page_size, page_token=page_token))

    async def cancel_task(self, task_id: str) -> dict[str, Any]:
        """CancelTask."""
        from a2a.types.a2a_pb2 import CancelTaskRequest

        return await self._call("cancel_task", CancelTaskRequest(id=task_id))

    async def _call(self, name: str, request: Any) -> dict[str, Any]:
        try:
            result = await getattr(self._client, name)(request, context=self._context())
        except Exception as exc:
            raise _mapped(exc, self.url) from exc
        return _as_dict(result)


def _sdk_client(card: dict[str, Any], binding: str, http: Any, streaming: bool, polling: bool) -> Any:
    from a2a.client import ClientConfig, ClientFactory
    from a2a.types.a2a_pb2 import AgentCard
    from google.protobuf.json_format import ParseDict

    proto = ParseDict(card, AgentCard(), ignore_unknown_fields=True)
    if not proto.supported_interfaces:
        return ClientFactory(ClientConfig(httpx_client=http, streaming=streaming, polling=polling))\
            .create(proto)
    channel = None
    if binding == "GRPC":
        import grpc

        channel = grpc.aio.insecure_channel
    config = ClientConfig(httpx_client=http, streaming=streaming, polling=polling,
                          supported_protocol_bindings=[binding], grpc_channel_factory=channel)
    return ClientFactory(config).create(proto)


def _as_dict(message: Any) -> dict[str, Any]:
    from google.protobuf.json_format import MessageToDict

    result: dict[str, Any] = MessageToDict(message)
    return result


_SDK_NAMES = {"JSONParseError": "ParseError", "InternalError": "CodetetherError"}


def _mapped(exc: BaseException, url: str) -> CodetetherError:
    """The SDK's exception (or the httpx / grpc one under it) as one of ours."""
    if isinstance(exc, CodetetherError):
        return exc
    message = str(getattr(exc, "message", "") or exc) or type(exc).__name__
    status = _status(exc)
    if status in (401, 403, "UNAUTHENTICATED", "PERMISSION_DENIED"):
        return Unauthenticated(f"the agent at {url} refused the token")
    if status in ("unreachable", "UNAVAILABLE", "DEADLINE_EXCEEDED") or type(exc).__name__ == "A2AClientTimeoutError":
        return Unavailable(f"cannot reach the agent at {url}: {message}")
    name = type(exc).__name__
    ours = getattr(errors, _SDK_NAMES.get(name, name.removesuffix("Error")), None)
    if isinstance(ours, type) and issubclass(ours, CodetetherError) and name.endswith("Error"):
        return ours(message)
    return CodetetherError(f"the agent at {url}: {message}")


def _status(exc: BaseException) -> int | str | None:
    """The HTTP status or gRPC code under an SDK error, "unreachable" for a connection
    that never happened; read from the cause chain, else from the SDK's message."""
    seen: BaseException | None = exc
    while seen is not None:
        response = getattr(seen, "response", None)
        code = getattr(response, "status_code", None)
        if isinstance(code, int):
            return code
        if type(seen).__module__.startswith("httpx") and type(seen).__name__ in (
                "ConnectError", "ConnectTimeout", "NetworkError", "RemoteProtocolError"):
            return "unreachable"
        grpc_code = getattr(seen, "code", None)
        if callable(grpc_code) and hasattr(seen, "details"):  # grpc.aio.AioRpcError
            return str(getattr(grpc_code(), "name", ""))
        seen = seen.__cause__ or seen.__context__
    text = str(getattr(exc, "message", "") or exc)
    for marker, status in (("HTTP Error 401", 401), ("HTTP Error 403", 403),
                           ("UNAUTHENTICATED", "UNAUTHENTICATED"), ("UNAVAILABLE", "UNAVAILABLE"),
                           ("Network communication error", "unreachable")):
        if marker in text:
            return status
    return None
