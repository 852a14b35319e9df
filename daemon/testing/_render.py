"""Turns rendered in each vendor's streaming wire format (pure functions).

Text is cut into several deltas and tool-call argument JSON into several fragments,
as real vendors do, so clients are exercised on reassembly.
"""

from __future__ import annotations

import json
import struct
from binascii import crc32
from collections.abc import Iterator, Mapping
from typing import Any

from ..core.providers.scripted import ScriptedError, Turn

__all__ = [
    "anthropic_events",
    "bedrock_events",
    "encode_event_frame",
    "error_body",
    "gemini_chunks",
    "openai_chunks",
    "split_pieces",
]


def split_pieces(text: str, pieces: int) -> list[str]:
    """``text`` cut into up to ``pieces`` consecutive non-empty parts."""
    if not text:
        return []
    size = max(1, -(-len(text) // max(1, pieces)))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _args_object(raw: str) -> dict[str, Any]:
    # Gemini sends arguments as an object; malformed text cannot be, so it is wrapped.
    try:
        value = json.loads(raw)
    except ValueError:
        return {"_raw_arguments": raw}
    return value if isinstance(value, dict) else {"_raw_arguments": raw}


_OPENAI_STOP = {"end_turn": "stop", "tool_use": "tool_calls", "max_tokens": "length"}


def openai_chunks(turn: Turn, model: str, pieces: int) -> Iterator[dict[str, Any]]:
    """Chat-completions chunk objects; the caller adds the ``[DONE]`` sentinel."""
    base = {"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 0, "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    yield chunk({"role": "assistant", "content": ""})
    for part in split_pieces(turn.thinking_content, pieces):
        yield chunk({"reasoning_content": part})
    for part in split_pieces(turn.text_content, pieces):
        yield chunk({"content": part})
    for index, call in enumerate(turn.tool_calls):
        head = {"index": index, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
        yield chunk({"tool_calls": [head]})
        for part in split_pieces(call.arguments, pieces):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": part}}]})
    yield chunk({}, _OPENAI_STOP.get(turn.stop_reason, turn.stop_reason))
    usage = turn.usage
    yield {
        **base,
        "choices": [],
        "usage": {
            "prompt_tokens": usage.input_tokens,
            "completion_tokens": usage.output_tokens,
            "total_tokens": usage.input_tokens + usage.output_tokens,
        },
    }


def anthropic_events(turn: Turn, model: str, pieces: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """Messages API ``(event name, data)`` pairs."""
    usage = turn.usage
    yield "message_start", {
        "type": "message_start",
        "message": {
            "id": "msg_scripted",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": usage.input_tokens, "output_tokens": 1},
        },
    }
    yield "ping", {"type": "ping"}
    index = 0
    blocks: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    if turn.thinking_content:
        deltas = [{"type": "thinking_delta", "thinking": p} for p in split_pieces(turn.thinking_content, pieces)]
        deltas.append({"type": "signature_delta", "signature": "c2NyaXB0ZWQ="})
        blocks.append(({"type": "thinking", "thinking": ""}, deltas))
    if turn.text_content:
        deltas = [{"type": "text_delta", "text": p} for p in split_pieces(turn.text_content, pieces)]
        blocks.append(({"type": "text", "text": ""}, deltas))
    for call in turn.tool_calls:
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in split_pieces(call.arguments, pieces)]
        blocks.append(({"type": "tool_use", "id": call.id, "name": call.name, "input": {}}, deltas))
    for start, deltas in blocks:
        yield "content_block_start", {"type": "content_block_start", "index": index, "content_block": start}
        for delta in deltas:
            yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
        index += 1
    yield "message_delta", {
        "type": "message_delta",
        "delta": {"stop_reason": turn.stop_reason, "stop_sequence": None},
        "usage": {"output_tokens": usage.output_tokens},
    }
    yield "message_stop", {"type": "message_stop"}


_GEMINI_STOP = {"max_tokens": "MAX_TOKENS"}


def gemini_chunks(turn: Turn, model: str, pieces: int) -> Iterator[dict[str, Any]]:
    """GenerateContentResponse objects, one per SSE event (usage is cumulative)."""
    usage = turn.usage
    meta = {"promptTokenCount": usage.input_tokens}

    def chunk(parts: list[dict[str, Any]], finish: str | None = None, final: bool = False) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        counts = {**meta, "candidatesTokenCount": usage.output_tokens if final else 0}
        counts["totalTokenCount"] = counts["promptTokenCount"] + counts["candidatesTokenCount"]
        return {"candidates": [candidate], "usageMetadata": counts, "modelVersion": model}

    for part in split_pieces(turn.thinking_content, pieces):
        yield chunk([{"text": part, "thought": True}])
    for part in split_pieces(turn.text_content, pieces):
        yield chunk([{"text": part}])
    calls = [{"functionCall": {"name": c.name, "args": _args_object(c.arguments)}} for c in turn.tool_calls]
    if calls:
        yield chunk(calls)
    yield chunk([{"text": ""}], _GEMINI_STOP.get(turn.stop_reason, "STOP"), final=True)


def bedrock_events(turn: Turn, pieces: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """Converse-stream ``(event type, payload)`` pairs."""
    yield "messageStart", {"role": "assistant"}
    index = 0
    if turn.thinking_content:
        for part in split_pieces(turn.thinking_content, pieces):
            yield "contentBlockDelta", {"contentBlockIndex": index, "delta": {"reasoningContent": {"text": part}}}
        yield "contentBlockStop", {"contentBlockIndex": index}
        index += 1
    if turn.text_content:
        for part in split_pieces(turn.text_content, pieces):
            yield "contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": part}}
        yield "contentBlockStop", {"contentBlockIndex": index}
        index += 1
    for call in turn.tool_calls:
        start = {"toolUse": {"toolUseId": call.id, "name": call.name}}
        yield "contentBlockStart", {"contentBlockIndex": index, "start": start}
        for part in split_pieces(call.arguments, pieces):
            yield "contentBlockDelta", {"contentBlockIndex": index, "delta": {"toolUse": {"input": part}}}
        yield "contentBlockStop", {"contentBlockIndex": index}
        index += 1
    yield "messageStop", {"stopReason": turn.stop_reason}
    usage = turn.usage
    yield "metadata", {
        "usage": {
            "inputTokens": usage.input_tokens,
            "outputTokens": usage.output_tokens,
            "totalTokens": usage.input_tokens + usage.output_tokens,
        },
        "metrics": {"latencyMs": 1},
    }


def encode_event_frame(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One AWS event-stream frame with string-valued headers.

    botocore only decodes this format, so the encoder is here; the tests check it
    against botocore's ``EventStreamBuffer``. Layout, big-endian::

        total length u32 | headers length u32 | CRC32(first 8 bytes) u32
        headers: name length u8, name, type 7 (string), value length u16, value
        payload | CRC32(everything before) u32
    """
    encoded = b"".join(
        struct.pack(">B", len(n)) + n + b"\x07" + struct.pack(">H", len(v)) + v
        for n, v in ((k.encode(), val.encode()) for k, val in headers.items())
    )
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    message = prelude + struct.pack(">I", crc32(prelude) & 0xFFFFFFFF) + encoded + payload
    return message + struct.pack(">I", crc32(message) & 0xFFFFFFFF)


_ANTHROPIC_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}
_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    429: "RESOURCE_EXHAUSTED",
}
_AWS_TYPES = {403: "AccessDeniedException", 429: "ThrottlingException", 400: "ValidationException"}


def error_body(vendor: str, error: ScriptedError) -> tuple[dict[str, Any], dict[str, str]]:
    """A vendor's error JSON and extra headers for a scripted failure."""
    headers: dict[str, str] = {}
    if error.retry_after is not None:
        headers["Retry-After"] = f"{error.retry_after:g}"
    status, message = error.status, error.message
    if vendor == "anthropic":
        kind = _ANTHROPIC_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return {"type": "error", "error": {"type": kind, "message": message}}, headers
    if vendor == "gemini":
        google = _GOOGLE_STATUS.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
        return {"error": {"code": status, "message": message, "status": google}}, headers
    if vendor == "bedrock":
        headers["x-amzn-ErrorType"] = _AWS_TYPES.get(status, "InternalServerException")
        return {"message": message}, headers
    return {"error": {"message": message, "type": "scripted_error", "code": status}}, headers
