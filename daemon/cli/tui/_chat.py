"""The chat log: a session's events as widgets, and the status bar.

Assistant text streams into a Markdown widget (one block per stretch of text); thinking
is folded; each tool call is a collapsible card (arguments, streamed output, result, and
for edits the diff); an approval waits inline for ``a`` / ``d``; a question for a line.
Decisions and answers leave as messages the app turns into daemon calls."""

from __future__ import annotations

import json
from typing import Any

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Collapsible, Input, Markdown, Static
from textual.widgets.markdown import MarkdownStream

from ..preview import approval_preview
from ..render import stop_message

__all__ = ["ApprovalCard", "ChatLog", "QuestionCard", "StatusBar", "ToolCard"]


def _first_line(text: str, width: int = 70) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def _pretty_args(arguments: str) -> str:
    try:
        return json.dumps(json.loads(arguments), indent=2, ensure_ascii=False)
    except ValueError:
        return arguments


class ToolCard(Collapsible):
    """One tool call: name and arguments, its output as it streams, then its result."""

    def __init__(self, event: dict[str, Any]) -> None:
        self.call_id = str(event.get("call_id", ""))
        self.name_ = str(event.get("name", "tool"))
        self._output = ""
        self._args = Static(Text(_pretty_args(str(event.get("arguments", "")))), classes="args")
        self._out = Static("", classes="output")
        self._result = Static("", classes="result")
        super().__init__(self._args, self._out, self._result, collapsed=False, classes="tool",
                         title=f"⚙ {self.name_} {_first_line(str(event.get('arguments', '')))}")

    def add_output(self, text: str) -> None:
        self._output += text
        self._out.update(Text(self._output[-8000:]))

    async def finish(self, event: dict[str, Any]) -> None:
        error = bool(event.get("is_error"))
        self.title = f"{'✗' if error else '✓'} {self.title[2:]}"
        output = str(event.get("output", ""))
        if not self._output or error:
            self._result.update(Text(output[-8000:], style="red" if error else ""))
        for change in event.get("changes") or []:
            if isinstance(change, dict) and change.get("diff"):
                head = (f"{change.get('kind', 'modify')} {change.get('path')} "
                        f"(+{change.get('additions', 0)} -{change.get('deletions', 0)})")
                await self.query_one(Collapsible.Contents).mount(
                    Static(head, classes="diffhead"),
                    Static(Syntax(str(change["diff"]), "diff", theme="ansi_dark"), classes="diff"))
        if not error and not event.get("changes"):
            self.collapsed = True  # done and said: fold it; edits stay open to show the diff


class ApprovalCard(Static, can_focus=True):
    """A tool call waiting for a decision: ``a`` allows it, ``d`` denies it, ``A`` allows it
    and adds a rule allowing this tool on this same subject from now on (``always``)."""

    BINDINGS = [Binding("a", "decide('allow')", "allow"), Binding("d", "decide('deny')", "deny"),
                Binding("A", "decide('always')", "always allow")]

    class Decided(Message):
        """The user decided (the app sends ``approval/decide``)."""

        def __init__(self, approval_id: str, decision: str) -> None:
            super().__init__()
            self.approval_id = approval_id
            self.decision = decision

    def __init__(self, event: dict[str, Any], workspace: str | None) -> None:
        self.approval_id = str(event["approval_id"])
        self.event = event
        self.resolved = False
        preview = approval_preview(str(event.get("tool", "")), str(event.get("arguments", "")), workspace)
        self._head = f"Allow {event.get('tool')} {event.get('subject') or ''}?"
        self._preview = preview
        super().__init__(self._render_text("[a] allow   [d] deny   [A] always allow this"), classes="approval")

    def _render_text(self, footer: str) -> Text:
        text = Text(self._head + "\n", style="bold")
        if self._preview:
            text.append(self._preview + "\n")
        text.append(footer, style="italic")
        return text

    def action_decide(self, decision: str) -> None:
        if not self.resolved:
            self.post_message(self.Decided(self.approval_id, decision))

    def resolve(self, decision: str, by: str = "") -> None:
        self.resolved = True
        self.can_focus = False
        self.update(self._render_text(f"{decision}{' by ' + by if by else ''}"))
        self.add_class("resolved")


class QuestionCard(Vertical):
    """The agent asks; the answer is typed inline."""

    class Answered(Message):
        def __init__(self, question_id: str, answer: str) -> None:
            super().__init__()
            self.question_id = question_id
            self.answer = answer

    def __init__(self, event: dict[str, Any]) -> None:
        super().__init__(classes="question")
        self.question_id = str(event["question_id"])
        self.event = event

    def compose(self) -> ComposeResult:
        options = self.event.get("options") or []
        yield Static(Text(str(self.event.get("question", "")) +
                          (f"  [{' / '.join(options)}]" if options else ""), style="bold"))
        yield Input(placeholder="your answer, Enter to send", id="answer")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Answered(self.question_id, event.value))
        event.input.disabled = True


class ChatLog(VerticalScroll):
    """A session's conversation, built from its events as they arrive (in order)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.workspace: str | None = None
        self._md: Markdown | None = None
        self._stream: MarkdownStream | None = None
        self._thinking: tuple[Collapsible, Static, list[str]] | None = None
        self.cards: dict[str, ToolCard] = {}
        self.approvals: dict[str, ApprovalCard] = {}

    def on_mount(self) -> None:
        # Follow the conversation as it grows (a Markdown answer keeps laying itself out
        # after it is written); scrolling up to read releases it, scrolling to the end
        # takes it up again.
        self.anchor()

    async def clear(self) -> None:
        await self._end_text()
        self._thinking = None
        self.cards.clear()
        self.approvals.clear()
        await self.remove_children()

    async def add(self, widget: Any) -> None:
        await self.mount(widget)
        self.scroll_end(animate=False)

    async def line(self, text: str, classes: str = "note") -> None:
        await self._end_text()
        await self.add(Static(Text(text), classes=classes))

    async def user(self, text: str) -> None:
        await self._end_text()
        self._thinking = None
        await self.add(Static(Text("› " + text), classes="user"))

    async def text(self, chunk: str) -> None:
        if self._md is None:
            self._thinking = None
            self._md = Markdown("", classes="assistant")
            await self.add(self._md)
            self._stream = Markdown.get_stream(self._md)
        assert self._stream is not None
        await self._stream.write(chunk)
        self.scroll_end(animate=False)

    async def _end_text(self) -> None:
        stream, self._stream, self._md = self._stream, None, None
        if stream is not None:
            await stream.stop()

    async def thinking(self, chunk: str) -> None:
        if self._thinking is None:
            await self._end_text()
            body = Static("", classes="thinking")
            fold = Collapsible(body, title="thinking", collapsed=True, classes="thinking")
            self._thinking = (fold, body, [])
            await self.add(fold)
        _fold, body, parts = self._thinking
        parts.append(chunk)
        body.update(Text("".join(parts)))

    async def event(self, event: dict[str, Any]) -> ApprovalCard | QuestionCard | None:
        """Show one session event; returns the card that now wants the keyboard, if any."""
        kind = event.get("type")
        if kind == "text":
            await self.text(str(event.get("text", "")))
        elif kind == "thinking":
            await self.thinking(str(event.get("text", "")))
        elif kind == "tool_call_start":
            await self._end_text()
            card = ToolCard(event)
            self.cards[card.call_id] = card
            await self.add(card)
        elif kind == "tool_output":
            found = self.cards.get(str(event.get("call_id")))
            if found is not None:
                found.add_output(str(event.get("text", "")))
        elif kind == "tool_call_end":
            found = self.cards.get(str(event.get("call_id")))
            if found is not None:
                await found.finish(event)
        elif kind == "approval_request" and event.get("tool") != "okr":
            await self._end_text()
            approval = ApprovalCard(event, self.workspace)
            self.approvals[approval.approval_id] = approval
            await self.add(approval)
            return approval
        elif kind == "approval_resolved":
            waiting = self.approvals.get(str(event.get("approval_id")))
            if waiting is not None and not waiting.resolved:
                waiting.resolve(str(event.get("decision")), str(event.get("by") or ""))
            elif event.get("tool") == "okr":
                await self.line(f"objective {event.get('decision')}"
                                f"{': ' + str(event['rule']) if event.get('rule') else ''}")
        elif kind == "question":
            await self._end_text()
            question = QuestionCard(event)
            await self.add(question)
            return question
        elif kind == "notice":
            await self.line(f"{'note' if event.get('level') == 'info' else 'warning'}: {event.get('text', '')}",
                            "notice")
        elif kind == "error":
            await self.line(f"error: {event.get('message', '')}", "error")
        elif kind == "subagent_started":
            await self.line(f"↳ sub-agent {event.get('name')} ({event.get('session_id')})")
        elif kind == "subagent_ended":
            await self.line(f"↳ sub-agent {event.get('name')}: {event.get('stop_reason')} "
                            f"after {event.get('steps')} steps")
        elif kind == "compaction":
            await self.line(f"(compacted {event.get('summarized_messages')} older messages)")
        elif kind == "file_changed":
            await self.line(f"(changed on disk: {event.get('path')})")
        elif kind == "done":
            await self._end_text()
            message = stop_message(dict(event))
            if message and event.get("stop_reason") not in ("error",):
                await self.line(message)
        return None


class StatusBar(Static):
    """Model, tokens, cost and context level (``session/status``), mode and state."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("", **kwargs)
        self.status: dict[str, Any] = {}
        self.state = "idle"
        self.plan = False
        self.model_override: str | None = None
        self.session_id: str | None = None

    def refresh_text(self) -> None:
        s = self.status
        model = self.model_override or s.get("model") or "default model"
        parts = [model, f"tokens {s.get('input_tokens', 0)}/{s.get('output_tokens', 0)}"]
        if s.get("cost"):
            parts.append(str(s["cost"]))
        ctx = s.get("context")
        if isinstance(ctx, dict):
            parts.append(f"context {ctx.get('percent')}% {ctx.get('level')}")
        if self.plan:
            parts.append("PLAN")
        parts.append(self.state)
        parts.append(self.session_id or "new session")
        self.update(" · ".join(parts))
