"""Google Gemini ``streamGenerateContent`` over SSE.

Gemini differs from the others in three ways this module absorbs: roles are
``user``/``model`` with tool results as ``functionResponse`` parts keyed by tool
*name*; function calls arrive whole and carry no id, so ids are synthesized; and
its schema dialect rejects several JSON-Schema keys, which are stripped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from ...errors import ProviderError
from ...wire.messages import ToolCall, Usage
from ._convert import arguments_object, merge_consecutive, system_text, tool_names
from ._http import HttpProvider, decode_json, missing_key_error
from .base import (
    CompletionRequest,
    ProviderEvent,
    StreamDone,
    TextDelta,
    ThinkingDelta,
    ToolCallReady,
    ToolSpec,
    UsageReport,
)

__all__ = ["GeminiProvider", "gemini_schema", "to_gemini_contents", "to_gemini_tools"]

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"

# Keys Gemini's OpenAPI-subset schema refuses ("Unknown name ... Cannot find field").
_UNSUPPORTED_KEYS = frozenset(
    {"additionalProperties", "$schema", "$id", "$comment", "title", "default", "examples"}
)

_STOP_REASONS = {"STOP": "end_turn", "MAX_TOKENS": "max_tokens"}


def gemini_schema(schema: Any, defs: Mapping[str, Any] | None = None) -> Any:
    """A JSON Schema reduced to what Gemini accepts: local ``$ref``s inlined (Gemini
    has no ``$defs``), unsupported keys dropped, property *names* left untouched."""
    if defs is None and isinstance(schema, dict):
        defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    defs = defs or {}
    if isinstance(schema, list):
        return [gemini_schema(s, defs) for s in schema]
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.rsplit("/", 1)[-1] in defs:
        target = defs[ref.rsplit("/", 1)[-1]]
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        return gemini_schema({**target, **rest}, defs)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _UNSUPPORTED_KEYS or key in ("$defs", "definitions", "$ref"):
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: gemini_schema(sub, defs) for name, sub in value.items()}
        elif key == "const":
            out["enum"] = [value]
        else:
            out[key] = gemini_schema(value, defs)
    return _nullable(out)


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``type: [T, "null"]`` and ``anyOf: [..., {type: null}]`` (msgspec's Optional)
    become Gemini's ``nullable: true``."""
    kind = schema.get("type")
    if isinstance(kind, list):
        rest = [t for t in kind if t != "null"]
        schema["type"] = rest[0] if len(rest) == 1 else rest
        if len(rest) < len(kind):
            schema["nullable"] = True
    variants = schema.get("anyOf")
    if isinstance(variants, list) and {"type": "null"} in variants:
        rest = [v for v in variants if v != {"type": "null"}]
        del schema["anyOf"]
        schema["nullable"] = True
        if len(rest) == 1 and isinstance(rest[0], dict):
            schema = {**rest[0], **schema}
        else:
            schema["anyOf"] = rest
    return schema


def to_gemini_tools(tools: list[ToolSpec]) -> list[dict[str, Any]]:
    declarations = []
    for t in tools:
        decl: dict[str, Any] = {"name": t.name, "description": t.description}
        params = gemini_schema(t.parameters)
        # An empty object schema is refused; a tool without parameters omits the key.
        if params.get("properties"):
            decl["parameters"] = params
        declarations.append(decl)
    return [{"functionDeclarations": declarations}]


def to_gemini_contents(request: CompletionRequest) -> list[dict[str, Any]]:
    """Our transcript as Gemini ``contents``."""
    names = tool_names(request.messages)
    turns: list[tuple[str, list[Any]]] = []
    for m in request.messages:
        if m.role == "system":
            continue
        if m.role == "tool":
            name = m.name or names.get(m.tool_call_id or "", "")
            key = "error" if m.is_error else "content"
            turns.append(("user", [{"functionResponse": {"name": name, "response": {key: m.content}}}]))
            continue
        parts: list[dict[str, Any]] = [{"text": m.content}] if m.content else []
        if m.role == "assistant":
            parts.extend(
                {"functionCall": {"name": c.name, "args": arguments_object(c.arguments)}}
                for c in m.tool_calls
            )
        turns.append(("model" if m.role == "assistant" else "user", parts))
    return [{"role": role, "parts": parts} for role, parts in merge_consecutive(turns)]


def synthesize_call_id(request: CompletionRequest, index: int, name: str, args: str) -> str:
    """A deterministic id for an id-less Gemini call: the same response to the same
    transcript gets the same id (replays, tests), and the transcript length keeps ids
    of identical calls in later turns apart."""
    seed = f"{len(request.messages)}\0{index}\0{name}\0{args}".encode()
    return "call_" + hashlib.sha256(seed).hexdigest()[:20]


class GeminiProvider(HttpProvider):
    """``POST {base}/v1beta/models/{model}:streamGenerateContent?alt=sse``."""

    def _default_base_url(self) -> str:
        return DEFAULT_BASE_URL

    def _body(self, request: CompletionRequest) -> dict[str, Any]:
        config: dict[str, Any] = {"maxOutputTokens": request.max_tokens}
        if request.temperature is not None:
            config["temperature"] = request.temperature
        if self._settings.get("include_thoughts"):
            config["thinkingConfig"] = {"includeThoughts": True}
        if request.response_schema is not None:
            config["responseMimeType"] = "application/json"  # JSON mode (its schema dialect is narrower)
        body: dict[str, Any] = {"contents": to_gemini_contents(request), "generationConfig": config}
        system = system_text(request)
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        if request.tools:
            body["tools"] = to_gemini_tools(request.tools)
        return body

    async def _stream_once(self, request: CompletionRequest) -> AsyncIterator[ProviderEvent]:
        if not self._creds.api_key:
            raise missing_key_error(self.name)
        headers = self._headers()
        headers["x-goog-api-key"] = self._creds.api_key
        model = request.model.removeprefix("models/")
        url = f"{self._base_url}/v1beta/models/{model}:streamGenerateContent?alt=sse"
        usage: Usage | None = None
        finish: str | None = None
        calls = 0
        async with self._open_sse(url, self._body(request), headers) as source:
            async for sse in source.aiter_sse():
                doc = decode_json(self.name, sse.data)
                if isinstance(doc, dict) and isinstance(doc.get("error"), dict):
                    raise ProviderError(f"{self.name}: {doc['error'].get('message', doc['error'])}")
                meta = doc.get("usageMetadata")
                if isinstance(meta, dict):  # cumulative; the last one wins
                    output = int(meta.get("candidatesTokenCount") or 0)
                    output += int(meta.get("thoughtsTokenCount") or 0)
                    usage = Usage(int(meta.get("promptTokenCount") or 0), output)
                for candidate in (doc.get("candidates") or [])[:1]:
                    for part in (candidate.get("content") or {}).get("parts") or ():
                        if "functionCall" in part:
                            fc = part["functionCall"]
                            args = json.dumps(fc.get("args") or {})
                            call_id = fc.get("id") or synthesize_call_id(request, calls, fc.get("name", ""), args)
                            calls += 1
                            yield ToolCallReady(ToolCall(id=call_id, name=fc.get("name", ""), arguments=args))
                        elif part.get("text"):
                            yield (ThinkingDelta if part.get("thought") else TextDelta)(part["text"])
                    finish = candidate.get("finishReason") or finish
        if usage is not None:
            yield UsageReport(usage)
        stop = "tool_use" if calls else _STOP_REASONS.get(finish or "STOP", (finish or "").lower())
        yield StreamDone(stop)
