"""Turning session events into terminal output (human) or JSON lines.

Answer text goes to stdout; tool activity, notices and errors to stderr. On a terminal
(stderr a TTY) a spinner says what the run is waiting for (loading the model, reading
the prompt, running a tool: ``progress`` events); on a pipe nothing is drawn. ``rich``
is imported only when a spinner is actually drawn, never on the other paths. Marks,
tool names, changes and errors are coloured when the stream is a terminal and
``NO_COLOR`` is not set (see :mod:`.colour`).
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from .colour import Palette

__all__ = ["EventPrinter", "stop_message"]


def _first_line(text: str, width: int = 100) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def _progress_text(event: dict[str, Any]) -> str:
    phase, detail, tokens = event.get("phase"), event.get("detail") or "", event.get("tokens") or 0
    if phase == "loading_model":
        return f"loading the model{' ' + detail if detail else ''}…"
    if phase == "prompt":
        return f"reading {tokens} prompt tokens…" if tokens else "reading the prompt…"
    if phase == "tool":
        return f"running {detail or 'a tool'}…"
    if phase == "compacting":
        return "compacting the conversation…"
    return f"{detail or 'generating'}…"


def stop_message(result: dict[str, Any]) -> str | None:
    """What to say when a run stopped short of its answer (C16)."""
    reason = result.get("stop_reason")
    if reason == "max_steps":
        return (f"stopped at the step limit ({result.get('steps', '?')} steps); continue with "
                "`codetether run -c`, or raise session.max_steps")
    if reason == "max_tokens":
        return ("the model stopped at its output token limit, so the answer may be cut short; "
                "continue with `codetether run -c`")
    if reason == "nothing_to_resume":  # S7: the daemon explains; a no-op is not a failure
        return str(result.get("text") or "nothing to resume")
    if reason not in ("end_turn", None):
        return f"stopped: {reason}"
    return None


class Spinner:
    """A transient status line on stderr; ``rich`` is imported on the first :meth:`show`."""

    def __init__(self, err: TextIO) -> None:
        self._err = err
        self._status: Any = None

    def show(self, text: str) -> None:
        if self._status is None:
            from rich.console import Console

            console = Console(file=self._err, stderr=True, highlight=False)
            status = console.status(text, spinner="dots")
            status.start()
            # Kept only once started: a Ctrl-C inside start() leaves nothing half-made for
            # hide() to stop (rich then fails on its own bookkeeping).
            self._status = status
        else:
            self._status.update(text)

    def hide(self) -> None:
        status, self._status = self._status, None
        if status is not None:
            try:
                status.stop()
            except (IndexError, RuntimeError, OSError):  # a terminal gone or an interrupted start
                pass


class EventPrinter:
    """Streams text to stdout and tool activity to stderr, or every event as JSON.

    ``errors`` holds the messages of the ``error`` events already shown, so the failed
    request's error is not printed a second time (C9)."""

    def __init__(self, *, as_json: bool, out: TextIO = sys.stdout, err: TextIO = sys.stderr,
                 progress: bool | None = None) -> None:
        self.as_json = as_json
        self.out = out
        self.err = err
        if progress is None:
            progress = not as_json and err.isatty()
        self.spinner: Spinner | None = Spinner(err) if progress else None
        self.c = Palette(err, on=False if as_json else None)  # the activity on stderr
        self.errors: list[str] = []
        self._at_line_start = True
        self._err_line_start = True
        self._streamed: set[str] = set()  # tool calls whose output was shown as it came

    def waiting(self, text: str) -> None:
        # Only at the start of a line: the spinner's line is erased when it stops, and
        # that must never take a half-printed line of the answer with it.
        if self.spinner is not None and self._at_line_start and self._err_line_start:
            self.spinner.show(text)

    def quiet(self) -> None:
        """Take the spinner down before anything else is written."""
        if self.spinner is not None:
            self.spinner.hide()

    def event(self, session_id: str, seq: int, event: dict[str, Any]) -> None:
        if self.as_json:
            self.out.write(json.dumps({"session_id": session_id, "seq": seq, **event}) + "\n")
            self.out.flush()
            return
        kind = event.get("type")
        if kind == "progress":
            self.waiting(_progress_text(event))
            return
        if kind in ("usage", "done", "user", "edit_proposal"):
            return
        self.quiet()
        if kind == "text":
            text = event["text"]
            self.out.write(text)
            self.out.flush()
            self._at_line_start = text.endswith("\n")
        elif kind == "thinking":
            self.waiting("thinking…")
        elif kind == "tool_call_start":
            self._newline()
            self.err.write(f"{self.c.style('⚙ ' + event['name'], 'cyan', 'bold')} "
                           f"{self.c.style(_first_line(event.get('arguments', ''), 80), 'dim')}\n")
            self.err.flush()
            self.waiting(f"running {event['name']}…")
        elif kind == "tool_output":
            self._streamed.add(event.get("call_id", ""))
            text = event.get("text", "")
            self.err.write(text)
            self.err.flush()
            if text:
                self._err_line_start = text.endswith("\n")
        elif kind == "tool_call_end":
            self._end_call(event)
        elif kind == "approval_resolved":
            by = f" by {event['by']}" if event.get("by") else ""
            decision = self.c.style(event["decision"], "green" if event["decision"] == "allow" else "red")
            self.err.write(f"  approval {event['approval_id']}: {decision}{by}\n")
        elif kind == "subagent_started":
            again = ", resumed" if event.get("resumed") else ""
            self.err.write(f"  ↳ sub-agent {event['name']} ({event['session_id']}, mode {event['mode']}{again})\n")
        elif kind == "subagent_ended":
            self.err.write(f"  ↳ sub-agent {event['name']}: {event['stop_reason']} after {event['steps']} "
                           f"steps, {event.get('input_tokens', 0)}/{event.get('output_tokens', 0)} tokens\n")
        elif kind == "compaction":
            self.err.write(f"  (compacted {event['summarized_messages']} older messages)\n")
        elif kind == "file_changed":
            self.err.write(f"  (changed on disk: {event['path']})\n")
        elif kind == "notice":
            self._newline()
            label = (self.c.style("note", "blue") if event.get("level") == "info"
                     else self.c.style("warning", "yellow", "bold"))
            self.err.write(f"{label}: {event.get('text', '')}\n")
        elif kind == "error":
            self._newline()
            self.errors.append(event.get("message", ""))
            self.err.write(f"{self.c.style('error', 'red', 'bold')}: {event.get('message', '')}\n")
        self.err.flush()

    def _end_call(self, event: dict[str, Any]) -> None:
        if not self._err_line_start:
            self.err.write("\n")
            self._err_line_start = True
        mark = self.c.style("✗", "red", "bold") if event.get("is_error") else self.c.style("✓", "green")
        streamed = event.get("call_id", "") in self._streamed
        summary = "" if streamed and not event.get("is_error") else _first_line(event.get("output", ""))
        self.err.write(f"  {mark} {summary}".rstrip() + "\n")
        for change in event.get("changes") or []:
            if isinstance(change, dict) and change.get("path"):
                counts = (f"({self.c.style('+' + str(change.get('additions', 0)), 'green')} "
                          f"{self.c.style('-' + str(change.get('deletions', 0)), 'red')})")
                self.err.write(f"    {change.get('kind', 'changed')} {self.c.style(change['path'], 'bold')} "
                               f"{counts}\n")
        self.waiting("waiting for the model…")

    def result(self, result: dict[str, Any]) -> None:
        self.quiet()
        if self.as_json:
            self.out.write(json.dumps({"type": "result", **result}) + "\n")
        else:
            self._newline()
            message = stop_message(result)
            if message:
                self.err.write(f"{self.c.style(message, 'yellow')}\n")
            self.err.write(self.c.style(f"session {result['session_id']}", "dim") + "\n")
            self.err.flush()
        self.out.flush()

    def _newline(self) -> None:
        if not self._at_line_start:
            self.out.write("\n")
            self.out.flush()
            self._at_line_start = True
