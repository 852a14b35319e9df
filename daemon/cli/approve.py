"""The approval and question prompts of a run (C8, C15).

A prompt shows what would happen (the diff of an edit, the command of a bash call),
then waits on two things at once: the user's terminal and the daemon's socket. An
approval decided elsewhere (``approval_resolved`` from another terminal or editor)
ends the prompt and says who decided; a daemon that stops ends it with the way to
resume. Frames read meanwhile are handed back to the run in order.
"""

from __future__ import annotations

import os
import select
import sys
from typing import Any

from ..client import Client, DaemonUnavailable
from .preview import approval_preview
from .render import EventPrinter

__all__ = ["Prompter"]

_NON_INTERACTIVE = ("non-interactive CLI, no one to ask: run it on a terminal, or use --yes (a rule "
                    "that says \"ask\" still asks in auto mode)")


class Prompter:
    def __init__(self, client: Client, printer: EventPrinter, session_id: str,
                 workspace: str | None, interactive: bool) -> None:
        self.client = client
        self.printer = printer
        self.session_id = session_id
        self.workspace = workspace
        self.interactive = interactive

    def approval(self, event: dict[str, Any]) -> None:
        subject = event.get("subject") or event.get("arguments", "")
        approval_id = event["approval_id"]
        if event.get("tool") == "okr":
            if self.interactive:
                self._okr(event)
            else:  # a gate for a person: it waits for whoever decides it (an editor, a script)
                self.printer.quiet()
                sys.stderr.write(f"waiting for a decision on objective {event.get('subject', '')!r}: "
                                 f"`codetether approvals allow {approval_id}`, or deny it with a reason "
                                 f"(`codetether approvals deny {approval_id} --reason ...`) to have it "
                                 "drafted again\n")
                sys.stderr.flush()
            return
        if not self.interactive:
            sys.stderr.write(f"denied {event['tool']} {subject}: {_NON_INTERACTIVE}\n")
            self._decide(approval_id, "deny", _NON_INTERACTIVE)
            return
        self.printer.quiet()
        preview = approval_preview(event.get("tool", ""), event.get("arguments", ""),
                                   self.workspace)
        if preview:
            from .colour import Palette

            sys.stderr.write(Palette(sys.stderr).diff(preview, indent="  ") + "\n")
        answer = self._ask(f"Allow {event['tool']} {subject}? [y/N] ", approval_id)
        if answer is None:
            return  # decided elsewhere: nothing to send
        allow = answer.strip().lower() in ("y", "yes")
        self._decide(approval_id, "allow" if allow else "deny",
                     "" if allow else "declined at the CLI prompt")
        self.printer.waiting("waiting for the model…")

    def _okr(self, event: dict[str, Any]) -> None:
        """``/go``'s gate: the drafted objective and key results, y to start, n with a reason
        to have it drafted again."""
        from ..wire.okr_draft import okr_draft, okr_lines

        self.printer.quiet()
        if self.printer.as_json:  # the draft was not shown as text: show it here
            draft = okr_draft(event.get("arguments", ""))
            lines = okr_lines(draft) if draft else [str(event.get("subject") or "")]
            sys.stderr.write("Objective: " + "\n  ".join(lines) + "\n")
        answer = self._ask(f"Approve objective {event.get('subject', '')!r} and start? [y/N] ", event["approval_id"])
        if answer is None:
            return  # decided elsewhere (an editor, another terminal)
        if answer.strip().lower() in ("y", "yes"):
            self._decide(event["approval_id"], "allow", "")
        else:
            reason = self._ask("Why not? (it is drafted again with your reason) ", event["approval_id"])
            if reason is None:
                return
            self._decide(event["approval_id"], "deny", reason.strip() or "declined at the CLI prompt")
        self.printer.waiting("waiting for the model…")

    def question(self, event: dict[str, Any]) -> None:
        options = event.get("options") or []
        if self.interactive:
            self.printer.quiet()
            text = event["question"] + (f" [{' / '.join(options)}]" if options else "") + "\n> "
            answer = self._ask(text, None) or ""
        else:
            answer = "(no answer: the CLI is not interactive)"
        self.client.send("question/answer", {"question_id": event["question_id"], "answer": answer})

    def _decide(self, approval_id: str, decision: str, reason: str) -> None:
        self.client.send("approval/decide", {"approval_id": approval_id, "decision": decision,
                                             "reason": reason})

    def _ask(self, prompt: str, approval_id: str | None) -> str | None:
        """The line the user typed; None when the approval was decided elsewhere."""
        try:
            tty = os.open("/dev/tty", os.O_RDONLY)
        except OSError:
            return ""
        held = self.client.take_pending()  # read ahead earlier: may already hold the answer
        try:
            sys.stderr.write(prompt)
            sys.stderr.flush()
            for frame in held:
                if _resolution(frame, approval_id) is not None:
                    held.remove(frame)  # said here; the run need not repeat it
                    return self._decided_elsewhere(frame, approval_id)
            while True:
                if not self.client.buffered():
                    readable = select.select([tty, self.client.fileno()], [], [])[0]
                    if tty in readable:
                        return os.read(tty, 4096).decode(errors="replace")
                try:
                    frame = self.client.read_frame()
                except DaemonUnavailable:
                    sys.stderr.write("\n")
                    raise
                if _resolution(frame, approval_id) is not None:
                    return self._decided_elsewhere(frame, approval_id)
                held.append(frame)
        finally:
            os.close(tty)
            for frame in held:  # the run handles them in order
                self.client.push_back(frame)

    @staticmethod
    def _decided_elsewhere(frame: dict[str, Any], approval_id: str | None) -> None:
        event = frame["params"]["event"]
        by = f" by {event['by']}" if event.get("by") else " elsewhere"
        sys.stderr.write(f"\napproval {approval_id} was decided{by}: {event.get('decision')}\n")
        return None


def _resolution(frame: dict[str, Any], approval_id: str | None) -> dict[str, Any] | None:
    if approval_id is None or frame.get("method") != "session/event":
        return None
    event = (frame.get("params") or {}).get("event") or {}
    if event.get("type") == "approval_resolved" and event.get("approval_id") == approval_id:
        return event
    return None
