"""The Textual app: one connection to the daemon (``AsyncClient``), one session at a time.

Notifications from the daemon go through one queue to one pump worker, so a session's
events are shown in the order they came however long each takes to draw. A prompt runs
as a worker awaiting ``session/prompt``; its events arrive as ``session/event`` notes,
like those of a session another client drives (``session/subscribe``: the daemon sends
each event once on a channel that both watches and runs)."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.timer import Timer
from textual.widgets import Input

from ...client import AsyncClient
from ...errors import CodetetherError
from ...paths import Paths
from ..render import stop_message
from ._chat import ApprovalCard, ChatLog, QuestionCard, StatusBar
from ._commands import SlashSuggester, parse_slash
from ._screens import HelpScreen, OkrModal, RalphScreen, SwarmScreen
from ._slash import run_command
from ._themes import NAMES, THEMES, file_theme, theme_from_config

__all__ = ["TuiApp"]

QUIT_WINDOW = 3.0  # s: a second Ctrl+C within it quits
CONFIG_POLL = 1.0  # s between stats of the config file (the daemon sends no change note)
CONFIG_RETRIES = 10  # polls to wait for the daemon to reload a changed file (an invalid one it never does)

CSS = """
ChatLog { height: 1fr; padding: 0 1; }
#prompt { dock: bottom; margin-bottom: 1; }
StatusBar { dock: bottom; height: 1; background: $panel; color: $text-muted; padding: 0 1; }
.user { color: $accent; text-style: bold; margin-top: 1; }
.note { color: $text-muted; }
.notice { color: $warning; }
.error { color: $error; }
.approval { border: round $warning; padding: 0 1; }
.approval:focus { border: round $accent; }
.approval.resolved { border: round $panel; color: $text-muted; }
.question { border: round $accent; height: auto; padding: 0 1; }
.tool { margin: 0; }
.dialog { width: 90%; max-height: 80%; height: auto; border: round $primary; background: $surface; padding: 0 1; }
ModalScreen { align: center middle; }
#sessions, #models { height: auto; max-height: 20; }
#subtasks { height: auto; max-height: 15; }
"""


class TuiApp(App[None]):
    """``codetether tui``. ``paths`` says which daemon (tests point it at their own);
    ``session_id`` attaches to that session instead of starting a new one."""

    CSS = CSS
    TITLE = "codetether"
    BINDINGS = [
        Binding("ctrl+c", "interrupt", "cancel / quit", priority=True),
        Binding("ctrl+q", "quit", "quit", priority=True),
        Binding("ctrl+o,f2", "models", "model"),
        Binding("f1", "help", "help"),
    ]

    def __init__(self, paths: Paths, *, workspace: str, session_id: str | None = None,
                 env: dict[str, str] | None = None, autostart: bool = True) -> None:
        super().__init__()
        self.paths = paths
        self.workspace = os.path.abspath(workspace)
        self.session_id = session_id
        self.env = dict(os.environ if env is None else env)
        self.client = AsyncClient(paths, self._on_note, autostart=autostart,
                                  on_reconnect=self._resubscribe, env=env)
        self.model: str | None = None
        self.plan = False
        self.running = False  # a prompt this app sent is in flight
        self._notes: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._last_interrupt = 0.0
        self._okr: OkrModal | None = None
        self._status_dirty = self._status_running = False
        self._config_file = ""
        self._config_stamp: tuple[int, int] | None = None
        self._config_retries = 0
        self._theme_timer: Timer | None = None
        self._swarm: SwarmScreen | None = None
        self._ralph: RalphScreen | None = None
        self.suggester = SlashSuggester(self.workspace)
        self.suggester.arguments["theme"] = list(NAMES)
        # Held, not queried: a query looks in the active screen, and a modal may be on top.
        self._chat = ChatLog(id="chat")
        self._input = Input(placeholder="Ask, or /help", id="prompt", suggester=self.suggester)
        self._status = StatusBar(id="status")

    # -- layout and start --------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield self._chat
        yield self._input
        yield self._status

    def on_mount(self) -> None:
        for theme in THEMES:
            self.register_theme(theme)
        self.theme = "marketing"
        self.chat.workspace = self.workspace
        self.status_bar.refresh_text()
        self._input.focus()
        self.run_worker(self._pump(), name="tui:pump", group="pump")
        self.run_worker(self._start(), name="tui:start")

    @property
    def chat(self) -> ChatLog:
        return self._chat

    @property
    def status_bar(self) -> StatusBar:
        return self._status

    async def _start(self) -> None:
        try:
            await self._load_theme()
            models = await self.client.request("models/list", {})
            self.suggester.arguments["model"] = [m["id"] for m in models]
            default = next((m["id"] for m in models if m.get("default")), None)
            if default and not self.session_id:  # what a new session will use
                self.status_bar.status = {"model": default}
                self.status_bar.refresh_text()
            if self.session_id:
                await self.attach(self.session_id)
        except CodetetherError as exc:
            await self.chat.line(f"error: {exc}", "error")

    async def _load_theme(self) -> None:
        view = await self.client.request("config/get", {})
        self._config_file = path = str(view.get("path") or "")
        self.theme = theme = theme_from_config(view.get("config") or {})
        stamp = await asyncio.to_thread(_stamp, path)
        wanted = await asyncio.to_thread(file_theme, path)
        if wanted is not None and wanted != theme and self._config_retries < CONFIG_RETRIES:
            self._config_retries += 1  # the daemon has not reloaded the new file yet: next poll
        else:
            self._config_stamp, self._config_retries = stamp, 0
        if self._theme_timer is None:
            self._theme_timer = self.set_interval(CONFIG_POLL, self._theme_check, name="tui:theme")

    async def _theme_check(self) -> None:
        """Hot reload: the config file changed (one stat per poll), so read the theme again."""
        if await asyncio.to_thread(_stamp, self._config_file) != self._config_stamp:
            try:
                await self._load_theme()
            except CodetetherError:
                pass  # the daemon is restarting: the next poll tries again

    async def on_unmount(self) -> None:
        await self.client.close()

    # -- the daemon's notifications ------------------------------------------------------
    def _on_note(self, method: str, params: Any) -> None:
        self._notes.put_nowait((method, params))

    async def _resubscribe(self) -> None:
        if self.session_id:
            await self.client.request("session/subscribe", {"session_id": self.session_id})

    async def _pump(self) -> None:
        while True:
            method, params = await self._notes.get()
            try:
                await self._note(method, params or {})
            except Exception as exc:  # noqa: BLE001 - one bad event must not end the pump
                self.log.error(f"event {method}: {exc!r}")

    async def _note(self, method: str, p: dict[str, Any]) -> None:
        if method == "session/event" and p.get("session_id") == self.session_id:
            event = p.get("event") or {}
            kind = event.get("type")
            if kind == "user" and self.running:
                return  # our own prompt: shown when sent
            if kind == "user":
                await self.chat.user(str(event.get("text", "")))
            elif kind == "approval_request" and event.get("tool") == "okr":
                self._open_okr(event)
            elif kind == "approval_resolved" and self._okr is not None \
                    and self._okr.approval_id == event.get("approval_id"):
                self._okr.dismiss(None)  # decided here or elsewhere: the modal has said its piece
            if kind in ("usage", "done"):
                self._want_status()
            card = await self.chat.event(event)
            if isinstance(card, ApprovalCard):
                card.focus()
            elif isinstance(card, QuestionCard):
                card.query_one(Input).focus()
        elif method == "swarm/event" and self._swarm is not None:
            await self._swarm.event(p.get("event") or {})
        elif method == "relay/event":
            from ...wire.relay import describe_relay_progress

            line = describe_relay_progress(p.get("event") or {})
            if line:
                await self.chat.line(line)
        elif method == "ralph/event" and self._ralph is not None:
            await self._ralph.event(p.get("event") or {})

    # -- sessions ------------------------------------------------------------------------
    async def attach(self, session_id: str) -> None:
        """Show this session (its transcript so far) and watch its events live."""
        detail = await self.client.request("session/get", {"session_id": session_id})
        self.session_id = session_id
        await self.chat.clear()
        for m in detail.get("messages") or []:
            if m.get("role") == "user" and m.get("content"):
                await self.chat.user(str(m["content"]))
            elif m.get("role") == "assistant" and m.get("content"):
                await self.chat.text(str(m["content"]))
                await self.chat.line("")
        self.plan = bool(detail.get("plan_mode")) or self.plan
        await self.client.request("session/subscribe", {"session_id": session_id})
        self.status_bar.session_id = session_id
        await self.refresh_status()

    def _want_status(self) -> None:
        """Coalesced: one ``session/status`` in flight, and one more if asked meanwhile."""
        self._status_dirty = True
        if not self._status_running:
            self._status_running = True
            self.run_worker(self._status_loop(), name="tui:status", group="status")

    async def _status_loop(self) -> None:
        try:
            while self._status_dirty:
                self._status_dirty = False
                await self.refresh_status()
        finally:
            self._status_running = False

    async def refresh_status(self) -> None:
        bar = self.status_bar
        bar.plan, bar.model_override = self.plan, self.model
        bar.state = "running…" if self.running else "idle"
        if self.session_id:
            try:
                bar.status = await self.client.request("session/status", {"session_id": self.session_id})
            except CodetetherError:
                pass
        bar.refresh_text()

    async def _ensure_session(self) -> str:
        if self.session_id is None:
            info = await self.client.request("session/create", {"workspace": self.workspace, "model": self.model})
            self.session_id = str(info["id"])
            await self.client.request("session/subscribe", {"session_id": self.session_id})
            self.status_bar.session_id = self.session_id
        return self.session_id

    # -- input ---------------------------------------------------------------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input is self._input and event.value == "?":  # `?` on an empty line: help
            event.input.value = ""
            self.action_help()

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "prompt":
            return
        text = event.value.strip()
        event.input.value = ""
        if not text:
            return
        slash = parse_slash(text)
        if slash is None or slash[0] == "go":
            self.send_prompt(text)
            return
        await run_command(self, *slash)

    def send_prompt(self, text: str, method: str = "session/prompt") -> None:
        if self.running:
            self.notify("a prompt is running: wait, or Ctrl+C to cancel it", severity="warning")
            return
        self.run_worker(self._prompt(text, method), name="tui:run", group="run")

    async def _prompt(self, text: str, method: str) -> None:
        from ...wire.api import forwarded_env

        self.running = True
        try:
            session_id = await self._ensure_session()
            if method == "session/prompt":
                await self.chat.user(text)
            await self.refresh_status()
            params: dict[str, Any] = {"session_id": session_id}
            if method == "session/prompt":
                # detach: quitting the TUI leaves the run going (the issue: "detaching leaves runs going")
                params.update(text=text, env=forwarded_env(self.env), detach=True)
                if self.model:
                    params["model"] = self.model
                if self.plan:
                    params["approval_mode"] = "plan"
            result = await self.client.request(method, params)
            message = stop_message(result)
            if message:
                await self.chat.line(message)
        except CodetetherError as exc:
            await self.chat.line(f"error: {exc}", "error")
        finally:
            self.running = False
            await self.refresh_status()

    # -- decisions -----------------------------------------------------------------------
    async def on_approval_card_decided(self, message: ApprovalCard.Decided) -> None:
        decision = message.decision
        if decision == "always":
            card = self.chat.approvals.get(message.approval_id)
            if card is None or not await self._always_allow(card.event):
                return
            decision = "allow"
        await self._decide(message.approval_id, decision, "" if decision == "allow" else "declined in the TUI")
        self._input.focus()

    async def on_question_card_answered(self, message: QuestionCard.Answered) -> None:
        try:
            await self.client.request("question/answer", {"question_id": message.question_id,
                                                          "answer": message.answer})
        except CodetetherError as exc:
            await self.chat.line(f"error: {exc}", "error")
        self._input.focus()

    async def _always_allow(self, event: dict[str, Any]) -> bool:
        """A ``[permissions.rules]`` entry allowing this tool on this exact subject (glob
        characters escaped), through ``config/set``: rules merge, so no deny rule is lost,
        and a deny or ask rule still outranks it."""
        import glob
        import json

        tool, subject = str(event.get("tool", "")), str(event.get("subject") or "")
        try:
            await self.client.request("config/set", {"key": f"permissions.rules.{tool}",
                                                     "value": f"{{ {json.dumps(glob.escape(subject))} = \"allow\" }}"})
        except CodetetherError as exc:
            await self.chat.line(f"could not add the rule: {exc}", "error")
            return False
        await self.chat.line(f"rule added: {tool} {subject!r} is allowed from now on")
        return True

    async def _decide(self, approval_id: str, decision: str, reason: str) -> None:
        try:
            await self.client.request("approval/decide", {"approval_id": approval_id, "decision": decision,
                                                          "reason": reason})
        except CodetetherError as exc:  # decided elsewhere meanwhile, or withdrawn
            await self.chat.line(f"approval {approval_id}: {exc}", "notice")

    def _open_okr(self, event: dict[str, Any]) -> None:
        modal = OkrModal(event)
        self._okr = modal

        async def decided(choice: tuple[str, str] | None) -> None:
            if self._okr is modal:
                self._okr = None
            if choice is not None:
                await self._decide(modal.approval_id, *choice)

        self.push_screen(modal, decided)

    # -- keys ----------------------------------------------------------------------------
    async def action_interrupt(self) -> None:
        now = time.monotonic()
        if now - self._last_interrupt < QUIT_WINDOW:
            self.exit()
            return
        self._last_interrupt = now
        if self.session_id and (self.running or self.status_bar.status.get("busy")):
            await self.cancel_run()
            self.notify("cancelling… (Ctrl+C again or Ctrl+Q quits)")
        else:
            self.notify("Ctrl+C again or Ctrl+Q quits")

    async def action_quit(self) -> None:
        """Quit (detach): a run this app started goes on in the daemon (its prompts are
        sent with ``detach``); `codetether tui --session ID` attaches to it again."""
        self.exit()

    async def cancel_run(self) -> None:
        if self.session_id:
            try:
                await self.client.request("session/cancel", {"session_id": self.session_id})
            except CodetetherError as exc:
                await self.chat.line(f"error: {exc}", "error")

    async def action_models(self) -> None:
        await run_command(self, "model", "")

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def open_ralph(self, prd: str, status: dict[str, Any] | None) -> RalphScreen:
        self._ralph = RalphScreen(prd, status)
        self.push_screen(self._ralph)
        return self._ralph

    def open_swarm(self, task: str) -> SwarmScreen:
        self._swarm = SwarmScreen(task)
        self.push_screen(self._swarm)
        return self._swarm


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size
