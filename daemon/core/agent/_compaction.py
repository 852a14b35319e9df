"""Context building and compaction.

The transcript on disk keeps every message. What the model sees is the latest
summary (if any) followed by the messages after it. When that context nears the
model's window, the older part is summarized by the model itself (falling back to
an extractive digest if the model fails) and a summary record is appended.
"""

from __future__ import annotations

import logging
from typing import Any

from ...errors import CodetetherError
from ...wire.events import Compaction, UsageEvent
from ...wire.messages import Message, Usage
from ..providers import CompletionRequest, Provider, TextDelta, ToolSpec, UsageReport
from ..sessions import SessionRuntime, Transcript
from ._settings import AgentSettings

__all__ = ["build_context", "compact_now", "context_tokens", "estimate_tokens", "maybe_compact"]

log = logging.getLogger("codetether.compaction")

_SUMMARY_PROMPT = (
    "Summarize the conversation below so the work can continue without it: the user's goals, "
    "decisions made, files read or changed, commands run and their outcome, and what remains "
    "to do. Be concise and concrete.")


def build_context(transcript: Transcript) -> list[Message]:
    """What the model sees: the latest summary (as a user message), then the messages after it."""
    summary = transcript.latest_summary
    if summary is None:
        return list(transcript.messages)
    head = Message(role="user", content=f"[Summary of the earlier conversation]\n{summary.text}")
    return [head, *transcript.messages[summary.covers:]]


def estimate_tokens(messages: list[Message], system: str, tools: list[ToolSpec]) -> int:
    """A rough token count of a request (about 4 characters a token)."""
    # ~4 characters per token is close enough to decide when to compact.
    chars = len(system) + sum(len(t.description) + _schema_chars(t.parameters) for t in tools)
    for m in messages:
        chars += len(m.content) + sum(len(c.arguments) + len(c.name) for c in m.tool_calls) + 8
    return chars // 4


# Sizes of tool schemas by the schema's id, with the schema held so the id stays its
# own: every run offers the same (cached, never mutated) schema dicts, and ``str`` of a
# nested schema is the costly part of a run's first estimate.
_SCHEMA_CHARS: dict[int, tuple[dict[str, Any], int]] = {}
_SCHEMA_CHARS_MAX = 1024


def _schema_chars(schema: dict[str, Any]) -> int:
    hit = _SCHEMA_CHARS.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    size = len(str(schema))
    if len(_SCHEMA_CHARS) >= _SCHEMA_CHARS_MAX:  # tools that come and go (MCP): start over
        _SCHEMA_CHARS.clear()
    _SCHEMA_CHARS[id(schema)] = (schema, size)
    return size


def context_tokens(rt: SessionRuntime) -> int:
    """Estimated tokens of the context, counted incrementally: a long session must not
    re-measure its whole history on every turn."""
    summary = rt.transcript.latest_summary
    covers = summary.covers if summary else 0
    count = len(rt.transcript.messages)
    cached_covers, cached_count, tokens = rt.token_cache
    if cached_covers != covers or cached_count > count:
        cached_count = covers
        tokens = estimate_tokens([Message(role="user", content=summary.text)], "", []) if summary else 0
    tokens += estimate_tokens(rt.transcript.messages[cached_count:count], "", [])
    rt.token_cache = (covers, count, tokens)
    return tokens


def _boundary(transcript: Transcript, keep_tokens: int) -> int:
    """Index of the first message to keep: a user or assistant message (never a tool
    result, which must follow its call), leaving about ``keep_tokens`` after it."""
    msgs = transcript.messages
    start = transcript.latest_summary.covers if transcript.latest_summary else 0
    kept = 0
    best = 0
    for i in range(len(msgs) - 1, start, -1):
        kept += estimate_tokens([msgs[i]], "", [])
        if msgs[i].role != "tool" and i < len(msgs) - 1:
            best = i
        if kept >= keep_tokens and best:
            break
    return best


async def maybe_compact(rt: SessionRuntime, provider: Provider, settings: AgentSettings,
                        overhead: int) -> bool:
    """Compact if the context plus ``overhead`` (system prompt and tool schemas, in
    tokens, computed once per run) nears the window."""
    limit = int(settings.context_window * settings.compact_threshold)
    if context_tokens(rt) + overhead <= limit:
        return False
    # Keep a third of the room the overhead leaves, not of the whole limit: with a small
    # window and many tools, keeping limit // 3 left the next turn over the limit again,
    # and every turn paid for a summary.
    return await compact_now(rt, provider, settings, keep_tokens=max(0, limit - overhead) // 3)


async def compact_now(rt: SessionRuntime, provider: Provider, settings: AgentSettings, *,
                      keep_tokens: int) -> bool:
    """Fold everything older than the last ``keep_tokens`` of the conversation into the
    summary (``/compact`` asks for it; :func:`maybe_compact` when the window fills).
    False when there is nothing older to fold in."""
    covers = _boundary(rt.transcript, keep_tokens=keep_tokens)
    previous = rt.transcript.latest_summary
    start = previous.covers if previous else 0
    if covers <= start:
        return False  # nothing older to fold in; the provider reports an over-long context
    old = rt.transcript.messages[start:covers]
    text, usage = await _summarize(provider, settings, previous.text if previous else "", old)
    if usage.input_tokens or usage.output_tokens:
        await rt.emit(UsageEvent(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                                 model=settings.model_label, operation="compaction"))
    rt.add_summary(covers, text)
    await rt.emit(Compaction(summarized_messages=covers, summary_chars=len(text)))
    return True


def _render(messages: list[Message], budget: int) -> str:
    lines = []
    for m in messages:
        body = m.content
        if m.tool_calls:
            body += " " + " ".join(f"[call {c.name} {c.arguments[:200]}]" for c in m.tool_calls)
        lines.append(f"{m.role}: {body[:2000]}")
    text = "\n".join(lines)
    return text[-budget:]


async def _summarize(provider: Provider, settings: AgentSettings, previous: str,
                     messages: list[Message]) -> tuple[str, Usage]:
    budget = max(2000, settings.context_window * 2)  # characters, ~half the window
    transcript = _render(messages, budget)
    if previous:
        transcript = f"Earlier summary:\n{previous}\n\n{transcript}"
    request = CompletionRequest(model=settings.model, system=_SUMMARY_PROMPT,
                                messages=[Message(role="user", content=transcript)],
                                max_tokens=min(1024, settings.max_tokens))
    usage = Usage()
    try:
        parts = []
        async for event in provider.stream(request):
            if isinstance(event, TextDelta):
                parts.append(event.text)
            elif isinstance(event, UsageReport):
                usage = usage + event.usage
        text = "".join(parts).strip()
        if text:
            return text, usage
    except CodetetherError as exc:
        log.warning("model summary failed (%s); using an extractive digest", exc.message)
    digest = _render(messages, 4000)
    return (previous + "\n" if previous else "") + digest, usage
