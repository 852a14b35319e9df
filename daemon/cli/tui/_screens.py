"""The TUI's other screens: help, the /go gate, the model and session pickers, and the
swarm view. Each picker dismisses with its choice; the app makes the daemon calls."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from ...wire.okr_draft import okr_draft, okr_lines
from ._commands import COMMANDS, KEYS

__all__ = ["HelpScreen", "ModelPicker", "OkrModal", "RalphScreen", "SessionPicker", "SwarmScreen"]


class HelpScreen(ModalScreen[None]):
    """Slash commands and keys; any of Escape, q or ? closes it."""

    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "close")]

    def compose(self) -> ComposeResult:
        text = Text("Commands\n", style="bold")
        for name, (arg, what) in COMMANDS.items():
            text.append(f"  /{name} {arg}".ljust(22) + f"{what}\n")
        text.append("\nKeys\n", style="bold")
        for key, what in KEYS:
            text.append(f"  {key}".ljust(22) + f"{what}\n")
        with Vertical(classes="dialog"):
            yield Static(text, id="help")


class OkrModal(ModalScreen[tuple[str, str] | None]):
    """``/go``'s gate: the drafted objective; A approves, D denies (then asks why: the
    reason has it drafted again). Escape leaves it undecided (it waits in the daemon)."""

    BINDINGS = [Binding("a,A", "approve", "approve"), Binding("d,D", "deny", "deny"),
                Binding("escape", "leave", "later")]

    def __init__(self, event: dict[str, Any]) -> None:
        super().__init__()
        self.approval_id = str(event["approval_id"])
        self.event = event
        self._asking = False

    def compose(self) -> ComposeResult:
        draft = okr_draft(str(self.event.get("arguments", "")))
        lines = okr_lines(draft) if draft else [str(self.event.get("subject") or "")]
        body = Text("Objective\n", style="bold")
        body.append("\n".join(lines) + "\n\n")
        body.append("[A] approve and start   [D] deny with a reason   [Esc] decide later", style="italic")
        with Vertical(classes="dialog", id="okr"):
            yield Static(body, id="okr-draft")

    def action_approve(self) -> None:
        if not self._asking:
            self.dismiss(("allow", ""))

    async def action_deny(self) -> None:
        if not self._asking:
            self._asking = True  # mounted only now: a hidden Input would take the keys A and D
            reason = Input(placeholder="why not? (it is drafted again with your reason)", id="reason")
            await self.query_one("#okr", Vertical).mount(reason)
            reason.focus()

    def action_leave(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(("deny", event.value.strip() or "declined in the TUI"))


class ModelPicker(ModalScreen[str | None]):
    """``models/list`` as a list; Enter picks, Escape keeps the current model."""

    BINDINGS = [Binding("escape", "app.pop_screen", "close")]

    def __init__(self, models: list[dict[str, Any]], current: str | None) -> None:
        super().__init__()
        self.models = models
        self.current = current

    def compose(self) -> ComposeResult:
        options = [Option(f"{m['id']}{'  (default)' if m.get('default') else ''}"
                          f"{'  (not configured)' if not m.get('configured', True) else ''}"
                          f"  {m.get('context_window', 0) // 1000}k", id=str(m["id"]))
                   for m in self.models]
        with Vertical(classes="dialog"):
            yield Static(Text("Model (Enter picks, Esc closes)", style="bold"))
            yield OptionList(*options, id="models")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class SessionPicker(ModalScreen[tuple[str, str] | None]):
    """Sessions, newest first: type to search, Enter resumes, Ctrl+F forks, Delete (or
    Ctrl+D) deletes. Dismisses with ("resume" | "fork" | "delete", id); the app makes the
    call (and reopens the picker after a delete)."""

    BINDINGS = [Binding("escape", "app.pop_screen", "close"),
                Binding("delete,ctrl+d", "delete", "delete", priority=True),
                Binding("ctrl+f", "fork", "fork", priority=True)]

    def __init__(self, sessions: list[dict[str, Any]]) -> None:
        super().__init__()
        self.sessions = sessions

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text("Sessions (type to search, Enter resumes, Ctrl+F forks, Del deletes, Esc closes)", style="bold"))
            yield Input(placeholder="search", id="search")
            yield OptionList(id="sessions")

    def on_mount(self) -> None:
        self._fill("")
        self.query_one("#search", Input).focus()

    def _fill(self, query: str) -> None:
        listing = self.query_one("#sessions", OptionList)
        listing.clear_options()
        q = query.lower()
        for s in self.sessions:
            label = (f"{s['id']}  {s.get('title') or '(untitled)'}  {s.get('message_count', 0)} messages  "
                     f"{_ago(s.get('updated_at'))}{'  running' if s.get('busy') else ''}")
            if q in label.lower() or q in str(s.get("workspace", "")).lower():
                listing.add_option(Option(label, id=str(s["id"])))
        if listing.option_count:
            listing.highlighted = 0

    def on_input_changed(self, event: Input.Changed) -> None:
        self._fill(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._pick("resume")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(("resume", str(event.option.id)))

    def action_delete(self) -> None:
        self._pick("delete")

    def action_fork(self) -> None:
        self._pick("fork")

    def _pick(self, what: str) -> None:
        listing = self.query_one("#sessions", OptionList)
        if listing.highlighted is not None:
            self.dismiss((what, str(listing.get_option_at_index(listing.highlighted).id)))


class SwarmScreen(Screen[None]):
    """A swarm as it runs: its stages, one row per subtask (status, steps, tokens, diff),
    and its lines of progress. Escape goes back to the chat (the swarm goes on)."""

    BINDINGS = [Binding("escape", "app.pop_screen", "back to chat"),
                Binding("tab", "next_agent", "next sub-agent", show=True)]

    def __init__(self, task: str) -> None:
        super().__init__()
        self.task_text = task
        self.swarm_id = ""
        self.rows: set[str] = set()
        #: Each sub-agent's own lines (what Tab shows under the table).
        self.lines: dict[str, list[str]] = {}
        #: The final state has filled the table: a progress event that the client
        #: delivers after the answer (their order is not kept) must not overwrite it.
        self.final = False

    def compose(self) -> ComposeResult:
        yield Static(Text(f"swarm: {self.task_text}", style="bold"), id="swarm-title")
        yield Static("planning…", id="stages")
        yield DataTable(id="subtasks")
        yield Static("", id="agent-detail")
        yield VerticalScroll(id="swarm-log")
        yield Footer()

    def on_key(self, event: events.Key) -> None:
        if event.key == "tab":  # before focus moves: Tab is "next sub-agent" here
            event.stop()
            event.prevent_default()
            self.action_next_agent()

    def action_next_agent(self) -> None:
        """Tab: the next sub-agent's detail (its own lines)."""
        table = self.query_one("#subtasks", DataTable)
        if table.row_count:
            table.move_cursor(row=(table.cursor_row + 1) % table.row_count)
            self._show(self._current(table))

    @staticmethod
    def _current(table: DataTable[Any]) -> str:
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show(str(event.row_key.value))

    def _show(self, name: str) -> None:
        mine = self.lines.get(name, [])
        text = "\n".join(mine[-10:]) if mine else "(nothing yet)"
        self.query_one("#agent-detail", Static).update(Text(f"▸ {name}\n{text}"))

    def on_mount(self) -> None:
        table = self.query_one("#subtasks", DataTable)
        for column in ("subtask", "stage", "status", "detail"):
            table.add_column(column, key=column)

    def _set(self, name: str, stage: str | None = None, status: str | None = None, detail: str | None = None) -> None:
        table = self.query_one("#subtasks", DataTable)
        if name not in self.rows:
            self.rows.add(name)
            table.add_row(name, stage or "", status or "pending", detail or "", key=name)
            return
        for column, value in (("stage", stage), ("status", status), ("detail", detail)):
            if value is not None:
                table.update_cell(name, column, value, update_width=True)

    async def event(self, event: dict[str, Any]) -> None:
        """One ``swarm/event``."""
        from ...wire.swarm import describe_progress

        self.swarm_id = str(event.get("swarm_id") or self.swarm_id)
        phase, sub, detail = event.get("phase"), event.get("subtask"), str(event.get("detail") or "")
        if phase == "planned" and detail:
            stages = detail.split(" | ")
            self.query_one("#stages", Static).update(
                "stages: " + "  →  ".join(f"{i + 1}: {s}" for i, s in enumerate(stages)))
            for i, stage in enumerate(stages):
                for name in stage.split(", "):
                    self._set(name, stage=str(i + 1))
        elif self.final:
            pass
        elif sub and phase in ("started", "done", "failed", "cancelled", "skipped"):
            self._set(str(sub), status="running" if phase == "started" else str(phase),
                      detail=detail[:60] if phase != "started" else None)
        elif sub and phase in ("agent", "approval"):
            self._set(str(sub), detail=detail[:60])
        line = describe_progress(event)
        if line and sub:
            self.lines.setdefault(str(sub), []).append(line.strip())
            table = self.query_one("#subtasks", DataTable)
            if table.row_count and self._current(table) == str(sub):
                self._show(str(sub))
        if line:
            log = self.query_one("#swarm-log", VerticalScroll)
            await log.mount(Static(Text(line)))
            log.scroll_end(animate=False)

    async def finished(self, state: dict[str, Any]) -> None:
        """The swarm's final state: each subtask's numbers and the answer."""
        self.final = True
        for name, r in (state.get("results") or {}).items():
            diff = r.get("diff") or {}
            files = len(diff.get("files") or [])
            self._set(name, status=str(r.get("status")),
                      detail=f"{r.get('steps', 0)} steps, {r.get('tokens_in', 0)}/{r.get('tokens_out', 0)} tokens"
                             + (f", {files} files +{diff.get('added', 0)} -{diff.get('removed', 0)}" if files else ""))
        log = self.query_one("#swarm-log", VerticalScroll)
        await log.mount(Static(Text(f"swarm {state.get('id')}: {state.get('status')}", style="bold")))
        if state.get("answer"):
            await log.mount(Static(Text(str(state["answer"]))))
        log.scroll_end(animate=False)


class RalphScreen(Screen[None]):
    """A Ralph run as it goes: one row per story of the PRD (its status, the iteration
    working on it, the last quality check), and the run's lines. Escape goes back to
    the chat (the run goes on)."""

    BINDINGS = [Binding("escape", "app.pop_screen", "back to chat")]
    _MARKS = {"passes": "✓ passes", "ready": "· ready", "blocked": "– blocked"}

    def __init__(self, prd: str, status: dict[str, Any] | None) -> None:
        super().__init__()
        self.prd = prd
        self.status = status or {}

    def compose(self) -> ComposeResult:
        s = self.status
        title = f"ralph: {s.get('project') or ''} — {s.get('feature') or ''}" if s.get("project") else f"ralph: {self.prd}"
        yield Static(Text(title, style="bold"), id="ralph-title")
        yield DataTable(id="stories")
        yield VerticalScroll(id="ralph-log")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#stories", DataTable)
        for column in ("story", "title", "status", "iteration", "check"):
            table.add_column(column, key=column)
        for story in self.status.get("stories") or []:
            table.add_row(story["id"], story.get("title", ""), self._MARKS.get(story.get("status", ""), ""),
                          "", "", key=story["id"])

    def _set(self, story: str, **cells: str) -> None:
        table = self.query_one("#stories", DataTable)
        if story not in table.rows:
            table.add_row(story, "", "", "", "", key=story)
        for column, value in cells.items():
            table.update_cell(story, column, value, update_width=True)

    async def event(self, event: dict[str, Any]) -> None:
        """One ``ralph/event``."""
        from ...wire.ralph import describe_progress

        phase, story, detail = event.get("phase"), event.get("story"), str(event.get("detail") or "")
        if story:
            n = str(event.get("iteration") or "")
            if phase == "story":
                self._set(str(story), status="▶ working", iteration=n)
            elif phase == "check":
                self._set(str(story), check=detail[:40])
            elif phase == "passed":
                self._set(str(story), status="✓ passes", iteration=n)
            elif phase == "failed":
                self._set(str(story), status="✗ failed", check=detail[:40])
        line = describe_progress(event)
        if line:
            log = self.query_one("#ralph-log", VerticalScroll)
            await log.mount(Static(Text(line)))
            log.scroll_end(animate=False)

    async def finished(self, line: str) -> None:
        log = self.query_one("#ralph-log", VerticalScroll)
        await log.mount(Static(Text(line, style="bold")))
        log.scroll_end(animate=False)


def _ago(ts: float | None) -> str:
    if not ts:
        return "-"
    s = max(0, int(time.time() - ts))
    return f"{s}s ago" if s < 120 else f"{s // 60}m ago" if s < 7200 else f"{s // 3600}h ago"
