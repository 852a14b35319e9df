"""Amazon Bedrock Converse, streamed (``converse-stream``).

Requests are SigV4-signed by botocore and the binary ``application/vnd.amazon.eventstream``
answer is decoded by botocore's :class:`EventStreamBuffer`; nothing of either is
hand-written here. A Bedrock API key (``api_key`` in the secret) is sent as a bearer
token instead, for accounts that use those.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.eventstream import EventStreamBuffer, ParserError

from ...errors import ProviderError
from ...wire.messages import ToolCall, Usage
from ._convert import arguments_object, merge_consecutive, system_text
from ._http import HttpProvider, RetryableError, decode_json, missing_key_error
from .base import (
    CompletionRequest,
    ProviderEvent,
    StreamDone,
    TextDelta,
    ThinkingDelta,
    ToolCallReady,
    UsageReport,
)

__all__ = ["BedrockProvider", "to_bedrock_messages"]

_AWS_FIELDS = "aws_access_key_id, aws_secret_access_key, region"
# Stream exceptions that mean "later", mirroring HTTP 429/5xx.
_RETRYABLE_EXCEPTIONS = frozenset(
    {"throttlingException", "serviceUnavailableException", "internalServerException", "modelStreamErrorException"}
)


def to_bedrock_messages(request: CompletionRequest) -> list[dict[str, Any]]:
    """Our transcript as Converse ``messages`` (strict alternation, like Anthropic)."""
    turns: list[tuple[str, list[Any]]] = []
    for m in request.messages:
        if m.role == "system":
            continue
        if m.role == "tool":
            result = {
                "toolUseId": m.tool_call_id or "",
                "content": [{"text": m.content or "(empty)"}],
                "status": "error" if m.is_error else "success",
            }
            turns.append(("user", [{"toolResult": result}]))
            continue
        blocks: list[dict[str, Any]] = [{"text": m.content}] if m.content else []
        if m.role == "assistant":
            blocks.extend(
                {"toolUse": {"toolUseId": c.id, "name": c.name, "input": arguments_object(c.arguments)}}
                for c in m.tool_calls
            )
        turns.append(("user" if m.role == "user" else "assistant", blocks))
    return [{"role": role, "content": blocks} for role, blocks in merge_consecutive(turns)]


class BedrockProvider(HttpProvider):
    """``POST https://bedrock-runtime.{region}.amazonaws.com/model/{modelId}/converse-stream``."""

    @property
    def _region(self) -> str:
        return self._creds.region or str(self._settings.get("region") or "us-east-1")

    def _default_base_url(self) -> str:
        return f"https://bedrock-runtime.{self._region}.amazonaws.com"

    def _body(self, request: CompletionRequest) -> dict[str, Any]:
        inference: dict[str, Any] = {"maxTokens": request.max_tokens}
        if request.temperature is not None:
            inference["temperature"] = request.temperature
        body: dict[str, Any] = {"messages": to_bedrock_messages(request), "inferenceConfig": inference}
        system = system_text(request)
        if system:
            body["system"] = [{"text": system}]
        if request.tools:
            body["toolConfig"] = {
                "tools": [
                    {
                        "toolSpec": {
                            "name": t.name,
                            "description": t.description,
                            "inputSchema": {"json": t.parameters},
                        }
                    }
                    for t in request.tools
                ]
            }
        return body

    def _signed_headers(self, url: str, payload: bytes) -> dict[str, str]:
        headers = self._headers()
        headers.update({"Content-Type": "application/json", "Accept": "application/vnd.amazon.eventstream"})
        c = self._creds
        if c.aws_access_key_id and c.aws_secret_access_key:
            aws_request = AWSRequest(method="POST", url=url, data=payload, headers=headers)
            credentials = Credentials(c.aws_access_key_id, c.aws_secret_access_key, c.aws_session_token)
            SigV4Auth(credentials, "bedrock", self._region).add_auth(aws_request)
            return dict(aws_request.headers.items())
        if c.api_key:
            headers["Authorization"] = f"Bearer {c.api_key}"
            return headers
        raise missing_key_error(self.name, fields=_AWS_FIELDS)

    async def _stream_once(self, request: CompletionRequest) -> AsyncIterator[ProviderEvent]:
        # The model id is one path segment: "anthropic.claude-3-5-sonnet-20240620-v1:0"
        # must reach AWS as ...v1%3A0 and be signed in that form.
        url = f"{self._base_url}/model/{quote(request.model, safe='')}/converse-stream"
        payload = json.dumps(self._body(request)).encode()
        headers = self._signed_headers(url, payload)
        async with self.client.stream("POST", url, content=payload, headers=headers) as response:
            await self._raise_for_status(response, fields=_AWS_FIELDS)
            buffer = EventStreamBuffer()
            state = _StreamState()
            async for chunk in response.aiter_bytes():
                buffer.add_data(chunk)
                try:
                    messages = list(buffer)
                except ParserError as exc:
                    raise ProviderError(f"{self.name}: corrupt event stream: {exc}") from exc
                for message in messages:
                    for event in self._on_message(message.headers, message.payload, state):
                        yield event
            yield UsageReport(state.usage)
            yield StreamDone(state.stop_reason)

    def _on_message(self, headers: Mapping[str, Any], payload: bytes, state: _StreamState) -> list[ProviderEvent]:
        if headers.get(":message-type") == "exception":
            kind = str(headers.get(":exception-type", "exception"))
            detail = decode_json(self.name, payload).get("message", "") if payload else ""
            error_cls = RetryableError if kind in _RETRYABLE_EXCEPTIONS else ProviderError
            raise error_cls(f"{self.name}: {kind}: {detail}", data={"provider": self.name})
        kind = str(headers.get(":event-type", ""))
        doc = decode_json(self.name, payload) if payload else {}
        out: list[ProviderEvent] = []
        if kind == "contentBlockStart":
            tool = doc.get("start", {}).get("toolUse")
            if tool:
                index = int(doc.get("contentBlockIndex", 0))
                state.tools[index] = [tool.get("toolUseId", ""), tool.get("name", ""), ""]
        elif kind == "contentBlockDelta":
            delta = doc.get("delta", {})
            index = int(doc.get("contentBlockIndex", 0))
            if delta.get("text"):
                out.append(TextDelta(delta["text"]))
            elif isinstance(delta.get("toolUse"), dict) and index in state.tools:
                state.tools[index][2] += delta["toolUse"].get("input", "")
            elif isinstance(delta.get("reasoningContent"), dict) and delta["reasoningContent"].get("text"):
                out.append(ThinkingDelta(delta["reasoningContent"]["text"]))
        elif kind == "contentBlockStop":
            slot = state.tools.pop(int(doc.get("contentBlockIndex", 0)), None)
            if slot is not None:
                out.append(ToolCallReady(ToolCall(id=slot[0], name=slot[1], arguments=slot[2] or "{}")))
        elif kind == "messageStop":
            state.stop_reason = str(doc.get("stopReason") or "end_turn")
        elif kind == "metadata":
            u = doc.get("usage", {})
            state.usage = Usage(int(u.get("inputTokens") or 0), int(u.get("outputTokens") or 0))
        return out


class _StreamState:
    """Per-attempt assembly state: open tool blocks by content index, usage, stop reason."""

    def __init__(self) -> None:
        self.tools: dict[int, list[str]] = {}
        self.usage = Usage()
        self.stop_reason = "end_turn"
