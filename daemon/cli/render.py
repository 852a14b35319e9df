"""Turning session events into terminal output (human) or JSON lines."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

__all__ = ["EventPrinter"]


def _first_line(text: str, width: int = 100) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


class EventPrinter:
    """Streams text to stdout and tool activity to stderr, or every event as JSON."""

    def __init__(self, *, as_json: bool, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> None:
        self.as_json = as_json
        self.out = out
        self.err = err
        self._at_line_start = True

    def event(self, session_id: str, seq: int, event: dict[str, Any]) -> None:
        if self.as_json:
            self.out.write(json.dumps({"session_id": session_id, "seq": seq, **event}) + "\n")
            self.out.flush()
            return
        kind = event.get("type")
        if kind == "text":
            text = event["text"]
            self.out.write(text)
            self.out.flush()
            self._at_line_start = text.endswith("\n")
        elif kind == "tool_call_start":
            self._newline()
            self.err.write(f"⚙ {event['name']} {_first_line(event.get('arguments', ''), 80)}\n")
        elif kind == "tool_call_end":
            mark = "✗" if event.get("is_error") else "✓"
            self.err.write(f"  {mark} {_first_line(event.get('output', ''))}\n")
        elif kind == "approval_resolved":
            self.err.write(f"  approval {event['approval_id']}: {event['decision']}\n")
        elif kind == "compaction":
            self.err.write(f"  (compacted {event['summarized_messages']} older messages)\n")
        elif kind == "file_changed":
            self.err.write(f"  (changed on disk: {event['path']})\n")
        elif kind == "error":
            self._newline()
            self.err.write(f"error: {event['message']}\n")
        self.err.flush()

    def result(self, result: dict[str, Any]) -> None:
        if self.as_json:
            self.out.write(json.dumps({"type": "result", **result}) + "\n")
        else:
            self._newline()
            if result.get("stop_reason") not in ("end_turn", None):
                self.err.write(f"(stopped: {result['stop_reason']})\n")
            self.err.write(f"session {result['session_id']}\n")
        self.out.flush()

    def _newline(self) -> None:
        if not self._at_line_start:
            self.out.write("\n")
            self.out.flush()
            self._at_line_start = True
