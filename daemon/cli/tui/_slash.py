"""What each slash command does (the table and completion are in ``_commands``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from ...client import AsyncClient
from ...errors import CodetetherError
from ._chat import ChatLog, StatusBar
from ._commands import SlashSuggester
from ._screens import HelpScreen, ModelPicker, RalphScreen, SessionPicker, SwarmScreen
from ._themes import NAMES

__all__ = ["Host", "run_command"]


class Host(Protocol):
    """What the commands use of the app (``_app.Host``; a Protocol, not an import of
    it: the app imports this module)."""

    client: AsyncClient
    workspace: str
    env: dict[str, str]
    session_id: str | None
    model: str | None
    plan: bool
    running: bool
    suggester: SlashSuggester
    theme: str

    @property
    def chat(self) -> ChatLog: ...
    @property
    def status_bar(self) -> StatusBar: ...
    def notify(self, message: str, *, severity: Any = ...) -> None: ...
    def push_screen(self, screen: Any, callback: Any = ...) -> Any: ...
    def run_worker(self, work: Coroutine[Any, Any, Any], name: str | None = ..., group: str = ...) -> Any: ...
    async def refresh_status(self) -> None: ...
    async def cancel_run(self) -> None: ...
    async def attach(self, session_id: str) -> None: ...
    def send_prompt(self, text: str, method: str = ...) -> None: ...
    def open_swarm(self, task: str) -> SwarmScreen: ...
    def open_ralph(self, prd: str, status: dict[str, Any] | None) -> RalphScreen: ...


async def run_command(app: Host, name: str, arg: str) -> None:
    """Run ``/name arg``; errors from the daemon are shown in the chat."""
    try:
        await _COMMANDS[name](app, arg)
    except CodetetherError as exc:
        await app.chat.line(f"error: {exc}", "error")


async def _help(app: Host, _arg: str) -> None:
    app.push_screen(HelpScreen())


async def _theme(app: Host, arg: str) -> None:
    if arg not in NAMES:
        app.notify(f"themes: {', '.join(NAMES)}", severity="warning")
        return
    app.theme = arg


async def _new(app: Host, _arg: str) -> None:
    if app.running:
        app.notify("a prompt is running: cancel it first (Ctrl+C)", severity="warning")
        return
    app.session_id = None
    app.status_bar.session_id = None
    app.status_bar.status = {}
    await app.chat.clear()
    await app.refresh_status()


async def _plan(app: Host, _arg: str) -> None:
    app.plan = not app.plan
    await app.chat.line("plan mode on: read-only tools until /plan again" if app.plan else "plan mode off")
    await app.refresh_status()


async def _cancel(app: Host, _arg: str) -> None:
    await app.cancel_run()


async def _compact(app: Host, _arg: str) -> None:
    """Fold the session's older messages into its summary now (``session/compact``)."""
    if app.session_id is None:
        await app.chat.line("nothing to compact yet: no session")
        return
    try:
        done = await app.client.request("session/compact", {"session_id": app.session_id})
    except CodetetherError as exc:
        await app.chat.line(f"error: {exc.message}", "error")
        return
    await app.chat.line(f"compacted: {done['summarized_messages']} older messages are now a summary "
                        f"({done['summary_chars']} characters)" if done["compacted"]
                        else "nothing older to fold in yet")
    await app.refresh_status()


async def _model(app: Host, arg: str) -> None:
    models: list[dict[str, Any]] = await app.client.request("models/list", {})
    app.suggester.arguments["model"] = [m["id"] for m in models]

    async def chosen(model: str | None) -> None:
        if model:
            app.model = model
            await app.chat.line(f"model: {model} (from the next prompt)")
            await app.refresh_status()

    if arg:
        if arg not in app.suggester.arguments["model"]:
            app.notify(f"no model {arg!r}: /model lists them", severity="warning")
            return
        await chosen(arg)
        return
    app.push_screen(ModelPicker(models, app.model), chosen)


async def _sessions(app: Host, _arg: str) -> None:
    rows: list[dict[str, Any]] = await app.client.request("session/list", {"limit": 500})
    rows = [r for r in rows if r.get("role", "main") == "main"]

    async def chosen(choice: tuple[str, str] | None) -> None:
        if choice is None:
            return
        what, session_id = choice
        try:
            if what == "delete":
                await app.client.request("session/delete", {"session_id": session_id})
                app.notify(f"deleted {session_id}")
                if session_id == app.session_id:
                    await _new(app, "")
                await _sessions(app, "")
            elif what == "fork":
                forked = await app.client.request("session/fork", {"session_id": session_id})
                await app.attach(str(forked["id"]))
                app.notify(f"forked {session_id} as {forked['id']}")
            else:
                await app.attach(session_id)
        except CodetetherError as exc:
            await app.chat.line(f"error: {exc}", "error")

    app.push_screen(SessionPicker(rows), chosen)


async def _resume(app: Host, arg: str) -> None:
    session_id = arg
    if not session_id:
        rows = await app.client.request("session/list", {"workspace": app.workspace, "limit": 50})
        found = [r for r in rows if r.get("message_count") and r.get("role", "main") == "main"]
        if not found:
            await app.chat.line("no session to resume here", "notice")
            return
        session_id = found[0]["id"]
    await app.attach(session_id)
    app.send_prompt("", method="session/resume")


async def _swarm(app: Host, task: str) -> None:
    if not task:
        app.notify("/swarm TASK", severity="warning")
        return
    from ...wire.api import forwarded_env

    screen = app.open_swarm(task)

    async def follow() -> None:
        try:
            state = await app.client.request("swarm/start", {"task": task, "workspace": app.workspace,
                                                             "env": forwarded_env(app.env)})
            await screen.finished(state)
            await app.chat.line(f"swarm {state.get('id')}: {state.get('status')}")
        except CodetetherError as exc:
            await app.chat.line(f"swarm: {exc}", "error")

    app.run_worker(follow(), name="tui:swarm", group="swarm")


async def _autochat(app: Host, arg: str) -> None:
    from ...wire.api import forwarded_env
    from ..relay import parse_autochat

    agents, task = parse_autochat("/autochat " + arg)
    if not task:
        app.notify("/autochat [N] TASK", severity="warning")
        return
    params: dict[str, Any] = {"task": task, "workspace": app.workspace, "env": forwarded_env(app.env)}
    if agents is not None:
        params["agents"] = agents

    async def follow() -> None:
        try:
            cp = await app.client.request("relay/start", params)
            await app.chat.line(f"relay {cp.get('relay_id')}: {cp.get('status')}")
            if cp.get("baton"):
                await app.chat.text(str(cp["baton"]))
                await app.chat.line("")
        except CodetetherError as exc:
            await app.chat.line(f"relay: {exc}", "error")

    await app.chat.user("/autochat " + arg)
    app.run_worker(follow(), name="tui:relay", group="relay")


async def _ralph(app: Host, arg: str) -> None:
    from ...wire.api import forwarded_env

    prd = _prd_path(app.workspace, arg or "prd.json")
    try:
        status = await app.client.request("ralph/status", {"prd": prd})
    except CodetetherError:
        status = None  # the run says why it cannot start
    screen = app.open_ralph(prd, status)

    async def follow() -> None:
        try:
            state = await app.client.request("ralph/run", {"prd": prd, "env": forwarded_env(app.env)})
            line = (f"ralph {state.get('prd_id')}: {state.get('status')}: {state.get('stories_passed', 0)} of "
                    f"{state.get('stories_total', 0)} stories pass after {state.get('iteration', 0)} iterations")
            await screen.finished(line)
            await app.chat.line(line)
        except CodetetherError as exc:
            await screen.finished(f"ralph: {exc}")
            await app.chat.line(f"ralph: {exc}", "error")

    await app.chat.user("/ralph " + arg)
    app.run_worker(follow(), name="tui:ralph", group="ralph")


def _prd_path(workspace: str, text: str) -> str:
    """An id stays as it is; a path becomes absolute, relative to the workspace (no I/O)."""
    if text.startswith("prd-") and "/" not in text:
        return text
    return os.path.normpath(os.path.join(workspace, os.path.expanduser(text)))


_COMMANDS: dict[str, Callable[[Host, str], Coroutine[Any, Any, None]]] = {"help": _help, "theme": _theme, "new": _new, "plan": _plan, "cancel": _cancel,
             "compact": _compact,
             "model": _model, "sessions": _sessions, "resume": _resume, "swarm": _swarm,
             "autochat": _autochat, "ralph": _ralph}
