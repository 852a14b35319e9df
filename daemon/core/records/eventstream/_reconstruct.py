"""Rebuild a session's transcript, tool calls, file changes and usage from its events.

Pure function over records: the daemon appends ``user`` events (``{"text": ...}``)
for prompts and the wire events of :mod:`codetether.daemon.wire.events` under their
tags, a ``tool_call_end`` carrying the tool result's ``metadata`` (whose
``changes`` list the files a tool created, modified or deleted).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ....wire.records import Reconstruction
from ._record import EventRecord
from ._stream import EventStream

__all__ = ["Reconstruction", "reconstruct"]


class _Builder:
    def __init__(self) -> None:
        self.out = Reconstruction(usage={"input_tokens": 0, "output_tokens": 0, "by_model": {}})
        self.text: list[str] = []
        self.thinking: list[str] = []
        self.text_seq = -1
        self.calls: dict[str, dict[str, Any]] = {}

    def flush_text(self) -> None:
        if self.text or self.thinking:
            self.out.messages.append(
                {
                    "role": "assistant",
                    "seq": self.text_seq,
                    "text": "".join(self.text),
                    "thinking": "".join(self.thinking),
                }
            )
        self.text, self.thinking, self.text_seq = [], [], -1

    def feed(self, ev: EventRecord) -> None:
        d = ev.data
        kind = ev.kind
        if kind in ("text", "thinking"):
            if self.text_seq < 0:
                self.text_seq = ev.seq
            (self.text if kind == "text" else self.thinking).append(str(d.get("text", "")))
        elif kind == "user":
            self.flush_text()
            self.out.messages.append({"role": "user", "seq": ev.seq, "text": str(d.get("text", ""))})
        elif kind == "tool_call_start":
            self.flush_text()
            self._start_call(ev.seq, d)
        elif kind == "tool_call_end":
            self._end_call(ev.seq, d)
        elif kind == "usage":
            self._usage(d)
        elif kind == "done":
            self.flush_text()
            self.out.stop_reason = d.get("stop_reason")
        elif kind == "error":
            self.flush_text()
            self.out.messages.append(
                {"role": "error", "seq": ev.seq, "code": d.get("code"), "message": d.get("message", "")}
            )

    def _start_call(self, seq: int, d: dict[str, Any]) -> dict[str, Any]:
        call = {
            "role": "tool",
            "seq": seq,
            "call_id": d.get("call_id", ""),
            "name": d.get("name", ""),
            "arguments": d.get("arguments", ""),
            "output": None,
            "is_error": False,
            "duration_ms": None,
            "changes": [],
        }
        self.calls[call["call_id"]] = call
        self.out.messages.append(call)
        self.out.tool_calls.append(call)
        return call

    def _end_call(self, seq: int, d: dict[str, Any]) -> None:
        call = self.calls.get(d.get("call_id", ""))
        if call is None:  # the start was lost (e.g. corrupt); keep what the end says
            self.flush_text()
            call = self._start_call(seq, d)
        call["output"] = d.get("output", "")
        call["is_error"] = bool(d.get("is_error", False))
        call["duration_ms"] = d.get("duration_ms")
        # The wire event carries ``changes`` itself; older records nest them in metadata.
        metadata = d.get("metadata")
        changes = d.get("changes")
        if not changes and isinstance(metadata, dict):
            changes = metadata.get("changes")
        for change in changes if isinstance(changes, list) else []:
            if isinstance(change, dict):
                call["changes"].append(change)
                self.out.file_changes.append(
                    {**change, "call_id": call["call_id"], "tool": call["name"], "seq": seq}
                )

    def _usage(self, d: dict[str, Any]) -> None:
        usage = self.out.usage
        tokens_in, tokens_out = int(d.get("input_tokens", 0)), int(d.get("output_tokens", 0))
        usage["input_tokens"] += tokens_in
        usage["output_tokens"] += tokens_out
        per = usage["by_model"].setdefault(str(d.get("model", "")), {"input_tokens": 0, "output_tokens": 0})
        per["input_tokens"] += tokens_in
        per["output_tokens"] += tokens_out


def reconstruct(events: EventStream | Iterable[EventRecord]) -> Reconstruction:
    """Rebuild a session from a stream (corrupt events skipped and listed) or from records."""
    builder = _Builder()
    if isinstance(events, EventStream):
        expected = 0
        for record in events.replay(skip_corrupt=True):
            builder.out.corrupt.extend(range(expected, record.seq))
            expected = record.seq + 1
            builder.feed(record)
        builder.out.corrupt.extend(range(expected, len(events)))
    else:
        for record in events:
            builder.feed(record)
    builder.flush_text()
    return builder.out
