"""``codetether tui`` with Textual's pilot (headless), against a real daemon subprocess
playing a scripted model: a prompt and its streamed answer, a tool approval answered
with ``a``, ``/go``'s gate approved in its modal, ``/sessions`` listing sessions."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("textual")

from codetether.daemon.cli.tui._app import TuiApp  # noqa: E402
from codetether.daemon.cli.tui._chat import ApprovalCard, QuestionCard, ToolCard  # noqa: E402
from codetether.daemon.cli.tui._screens import OkrModal, SessionPicker, SwarmScreen  # noqa: E402
from codetether.daemon.paths import get_paths  # noqa: E402
from textual.pilot import Pilot  # noqa: E402
from textual.widgets import DataTable, Input, Markdown, OptionList, Static  # noqa: E402

DEADLINE = 30.0


@dataclass
class Daemon:
    root: Path
    workspace: Path
    env: dict[str, str]

    def app(self, **kwargs: Any) -> TuiApp:
        return TuiApp(get_paths(self.env), workspace=str(self.workspace), env=self.env, autostart=False,
                      **kwargs)


@pytest.fixture
def daemon(short_dir: Path) -> Iterator[Callable[..., Daemon]]:
    """Starts the real daemon (our child) with a scripted model playing ``turns``; it says
    "ready" on a pipe when it listens (no sleeping)."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(*turns: Any, mode: str = "ask", extra: str = "") -> Daemon:
        root, workspace = short_dir / "h", short_dir / "ws"
        (root / "config").mkdir(parents=True)
        workspace.mkdir()
        script = root / "script.json"
        script.write_text(json.dumps({"turns": list(turns), "fallback": "(script exhausted)"}))
        (root / "config" / "config.toml").write_text(
            f'[default]\nprovider = "scripted"\nmodel = "scripted"\n\n[providers.scripted]\n'
            f'script = "{script}"\n\n[permissions]\nmode = "{mode}"\n{extra}')
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "CODETETHER_"))}
        env["CODETETHER_HOME"] = str(root)
        read_fd, write_fd = os.pipe()
        proc = subprocess.Popen([sys.executable, "-m", "codetether.daemon"], pass_fds=(write_fd,),
                                env={**env, "CODETETHER_READY_FD": str(write_fd)},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        os.close(write_fd)
        try:
            assert select.select([read_fd], [], [], 60)[0] and os.read(read_fd, 16) == b"ready\n"
        finally:
            os.close(read_fd)
        return Daemon(root, workspace, env)

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def until(pilot: Pilot[Any], condition: Callable[[], Any], what: str) -> Any:
    """Let the app run until ``condition()`` is true (a deadline, not a fixed wait)."""
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        await pilot.pause(0.05)
    lines = [str(w.render()) for w in pilot.app.query(".note, .notice, .error, .user")]
    raise AssertionError(f"timed out waiting for {what}: screen {pilot.app.screen!r}; {lines}; {_answer(pilot.app)!r}")


def _answer(app: TuiApp) -> str:
    return "".join(md.source for md in app.query(Markdown))


async def _type(pilot: Pilot[Any], text: str) -> None:
    await pilot.press(*[{" ": "space", "/": "slash"}.get(c, c) for c in text])
    await pilot.press("enter")


async def test_a_prompt_streams_its_answer_as_markdown(daemon: Callable[..., Daemon]) -> None:
    d = daemon({"thinking": "hmm, a greeting", "text": "Hello **there**, friend.\n\n```python\nx = 1\n```"})
    app = d.app()
    async with app.run_test(size=(100, 40)) as pilot:
        await _type(pilot, "say hi")
        await until(pilot, lambda: "friend." in _answer(app) and not app.running, "the answer")
        assert "```python" in _answer(app)
        assert app.session_id is not None
        await until(pilot, lambda: app.status_bar.status.get("model"), "the status")
        assert "scripted" in str(app.status_bar.render())
        # the prompt is shown, thinking is folded
        assert any("say hi" in str(w.render()) for w in app.query(".user"))


async def test_a_tool_approval_is_answered_with_a(daemon: Callable[..., Daemon]) -> None:
    d = daemon({"tool": "bash", "arguments": {"command": "echo approved > out.txt"}}, "ran it")
    app = d.app()
    async with app.run_test(size=(100, 40)) as pilot:
        await _type(pilot, "run something")
        card = await until(pilot, lambda: next(iter(app.query(ApprovalCard)), None), "the approval")
        await until(pilot, lambda: app.focused is card, "the approval to take the keyboard")
        await pilot.press("a")
        await until(pilot, lambda: "ran it" in _answer(app) and not app.running, "the answer")
        assert card.resolved
        tool = app.query_one(ToolCard)
        assert tool.title.startswith("✓ bash")
    assert (d.workspace / "out.txt").read_text() == "approved\n"


def _draft(title: str) -> dict[str, Any]:
    return {"text": json.dumps({
        "title": title, "description": "a file that says it is done",
        "key_results": [{"title": "done.txt exists", "metric_type": "binary",
                         "evidence": {"kind": "file", "path": "done.txt"}},
                        {"title": "it says done", "metric_type": "binary",
                         "evidence": {"kind": "command", "command": "grep -q done done.txt"}}]})}


async def test_go_shows_the_draft_in_a_modal_and_a_approves(daemon: Callable[..., Daemon]) -> None:
    d = daemon(_draft("Ship done.txt"),
               {"tool": "write_file", "arguments": {"path": "done.txt", "content": "done\n"}}, "wrote it",
               "holds", mode="auto")
    app = d.app()
    async with app.run_test(size=(100, 40)) as pilot:
        await _type(pilot, "/go ship a done file")
        modal = await until(pilot, lambda: app.screen if isinstance(app.screen, OkrModal) else None,
                            "the /go modal")
        assert "Ship done.txt" in str(modal.query_one("#okr-draft").render())
        await pilot.press("A")
        await until(pilot, lambda: not app.running, "the /go run to end")
        assert not isinstance(app.screen, OkrModal)
    assert (d.workspace / "done.txt").read_text() == "done\n"


async def test_sessions_lists_sessions_and_resumes_one(daemon: Callable[..., Daemon]) -> None:
    d = daemon("first answer", "second answer")
    app = d.app()
    async with app.run_test(size=(100, 40)) as pilot:
        await _type(pilot, "first question")
        await until(pilot, lambda: "first answer" in _answer(app) and not app.running, "the first answer")
        first = app.session_id
        await _type(pilot, "/new")
        await _type(pilot, "second question")
        await until(pilot, lambda: "second answer" in _answer(app) and not app.running, "the second answer")
        await _type(pilot, "/sessions")
        picker = await until(pilot, lambda: app.screen if isinstance(app.screen, SessionPicker) else None,
                             "the session picker")
        listing = picker.query_one(OptionList)
        assert listing.option_count == 2
        await pilot.press(*"first")
        await until(pilot, lambda: listing.option_count == 1, "the search to narrow the list")
        await pilot.press("enter")
        await until(pilot, lambda: app.session_id == first and "first answer" in _answer(app), "the resume")
        await _type(pilot, "/sessions")
        picker = await until(pilot, lambda: app.screen if isinstance(app.screen, SessionPicker) else None,
                             "the session picker again")
        await pilot.press(*"first")
        await until(pilot, lambda: picker.query_one(OptionList).option_count == 1, "the search")
        await pilot.press("ctrl+f")
        await until(pilot, lambda: app.session_id not in (first, None) and "first answer" in _answer(app),
                    "the fork")
        forked = str(app.session_id)
        await _type(pilot, "/sessions")
        picker = await until(pilot, lambda: app.screen if isinstance(app.screen, SessionPicker) else None,
                             "the session picker with the fork")
        assert picker.query_one(OptionList).option_count == 3
        await pilot.press(*forked)
        await until(pilot, lambda: picker.query_one(OptionList).option_count == 1, "the search for the fork")
        await pilot.press("delete")
        await until(pilot, lambda: isinstance(app.screen, SessionPicker) and app.screen is not picker
                    and app.screen.query_one(OptionList).option_count == 2, "the picker after the delete")
        assert app.session_id is None  # the session shown was the one deleted
        ids = [s["id"] for s in await app.client.request("session/list", {"limit": 10})]
        assert forked not in ids and first in ids


async def test_themes_from_the_config_hot_reloaded_and_switched(daemon: Callable[..., Daemon]) -> None:
    d = daemon("hi", extra='\n[ui]\ntheme = "solarized-dark"\n')
    app = d.app()
    async with app.run_test(size=(100, 40)) as pilot:
        await until(pilot, lambda: app.theme == "solarized-dark", "the configured theme")
        config = d.root / "config" / "config.toml"
        config.write_text(config.read_text().replace("solarized-dark", "light"))
        await until(pilot, lambda: app.theme == "light", "the theme to follow the config")
        await _type(pilot, "/theme marketing")
        assert app.theme == "marketing"


async def test_attached_to_a_session_another_client_drives_it_shows_its_events_live(
        daemon: Callable[..., Daemon]) -> None:
    import asyncio

    from codetether.daemon.client import Client

    d = daemon({"tool": "bash", "arguments": {"command": "echo attached > out.txt"}}, "the CLI's run ended")
    paths = get_paths(d.env)
    with Client(paths, autostart=False) as cli:
        session_id = cli.call("session/create", {"workspace": str(d.workspace)})["id"]
        app = d.app(session_id=session_id)
        async with app.run_test(size=(100, 40)) as pilot:
            await until(pilot, lambda: app.status_bar.session_id == session_id, "the attach")

            def drive() -> Any:  # another client's run, to its end
                req = cli.send("session/prompt", {"session_id": session_id, "text": "from the CLI"})
                assert req is not None
                return cli.wait(req, lambda _frame: None)

            run = asyncio.get_running_loop().run_in_executor(None, drive)
            card = await until(pilot, lambda: next(iter(app.query(ApprovalCard)), None), "the approval")
            assert any("from the CLI" in str(w.render()) for w in app.query(".user"))
            await until(pilot, lambda: app.focused is card, "the approval to take the keyboard")
            await pilot.press("a")
            await until(pilot, lambda: "the CLI's run ended" in _answer(app), "the other client's answer")
            assert (await run)["stop_reason"] == "end_turn"
    assert (d.workspace / "out.txt").read_text() == "attached\n"


async def test_ctrl_c_cancels_the_run_and_a_second_quits(daemon: Callable[..., Daemon]) -> None:
    d = daemon({"tool": "bash", "arguments": {"command": "echo never > out.txt"}}, "not reached")
    app = d.app()
    async with app.run_test(size=(100, 40)) as pilot:
        await _type(pilot, "run something")
        await until(pilot, lambda: next(iter(app.query(ApprovalCard)), None), "the approval")
        await pilot.press("ctrl+c")
        await until(pilot, lambda: not app.running, "the run to be cancelled")
        status = await app.client.request("session/status", {"session_id": app.session_id})
        assert not status["busy"]
        await pilot.press("ctrl+c")
        await until(pilot, lambda: app.return_code is not None or not app.is_running, "the app to quit")
    assert not (d.workspace / "out.txt").exists()


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


async def test_swarm_view_shows_stages_and_each_subtask(daemon: Callable[..., Daemon]) -> None:
    plan = {"text": json.dumps({"subtasks": [
        {"name": "docs", "instruction": "write docs", "needs_worktree": True},
        {"name": "review", "instruction": "review docs", "dependencies": ["docs"]}]})}
    d = daemon(plan, {"tool": "write_file", "arguments": {"path": "DOCS.md", "content": "# docs\n"}},
               "wrote DOCS.md", "the docs read well", "Docs written and reviewed.", mode="auto")
    _git(d.workspace, "init", "-q", "-b", "main")
    _git(d.workspace, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q",
         "--allow-empty", "-m", "base")
    app = d.app()
    async with app.run_test(size=(110, 40)) as pilot:
        await _type(pilot, "/swarm document the project")
        screen = await until(pilot, lambda: app.screen if isinstance(app.screen, SwarmScreen) else None,
                             "the swarm view")
        await until(pilot, lambda: "Docs written and reviewed." in
                    " ".join(str(w.render()) for w in screen.query("#swarm-log Static")), "the swarm's answer")
        assert "1: docs" in str(screen.query_one("#stages", Static).render())
        table = screen.query_one(DataTable)
        assert table.get_cell("docs", "status") == "done" and table.get_cell("review", "status") == "done"
        assert "1 files +1 -0" in str(table.get_cell("docs", "detail"))
        # Tab goes from one sub-agent to the next: each one's own lines under the table
        shown: dict[str, str] = {}
        for _ in range(2):
            before = str(screen.query_one("#agent-detail", Static).render())
            await pilot.press("tab")
            detail = await until(pilot, lambda b=before: (d := str(screen.query_one("#agent-detail", Static).render()))
                                 != b and d, "the next sub-agent's detail")
            shown[detail.split("\n", 1)[0]] = detail
        assert set(shown) == {"▸ docs", "▸ review"}
        assert "docs: write_file" in shown["▸ docs"] and "✓ review done" in shown["▸ review"]
        assert "docs: write_file" not in shown["▸ review"]
        await pilot.press("escape")
        assert not isinstance(app.screen, SwarmScreen)


async def test_a_question_is_answered_inline_and_an_edit_shows_its_diff(daemon: Callable[..., Daemon]) -> None:
    d = daemon({"tool": "question", "arguments": {"question": "Which colour?", "options": ["red", "blue"]}},
               {"tool": "write_file", "arguments": {"path": "colour.txt", "content": "blue\n"}}, "done", mode="auto")
    app = d.app()
    async with app.run_test(size=(100, 40)) as pilot:
        await _type(pilot, "ask me")
        card = await until(pilot, lambda: next(iter(app.query(QuestionCard)), None), "the question")
        answer = card.query_one(Input)
        await until(pilot, lambda: app.focused is answer, "the answer line to take the keyboard")
        await _type(pilot, "blue")
        await until(pilot, lambda: "done" in _answer(app) and not app.running, "the run's end")
        diffs = [str(w.render()) for w in app.query(".diffhead")]
        assert diffs and "colour.txt" in diffs[0] and "+1" in diffs[0]
    assert (d.workspace / "colour.txt").read_text() == "blue\n"


async def test_completion_of_commands_arguments_and_paths(tmp_path: Path) -> None:
    from codetether.daemon.cli.tui._commands import SlashSuggester

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.py").write_text("")
    (tmp_path / ".hidden").write_text("")
    s = SlashSuggester(str(tmp_path))
    s.arguments["theme"] = ["marketing", "solarized-dark"]
    assert await s.get_suggestion("/se") == "/sessions"
    assert await s.get_suggestion("/theme so") == "/theme solarized-dark"
    assert await s.get_suggestion("look at @s") == "look at @src/"
    assert await s.get_suggestion("look at @src/m") == "look at @src/main.py"
    assert await s.get_suggestion("@.h") == "@.hidden"
    assert await s.get_suggestion("@../") is None
    assert await s.get_suggestion("plain words") is None


async def test_question_mark_opens_help_and_the_model_picker_sets_the_model(daemon: Callable[..., Daemon]) -> None:
    from codetether.daemon.cli.tui._screens import HelpScreen, ModelPicker

    d = daemon("hi")
    app = d.app()
    async with app.run_test(size=(100, 40)) as pilot:
        await until(pilot, lambda: app.status_bar.status.get("model") == "scripted/scripted", "the default model")
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        assert "/swarm" in str(app.screen.query_one("#help", Static).render())
        await pilot.press("escape")
        await pilot.press("f2")
        picker = await until(pilot, lambda: app.screen if isinstance(app.screen, ModelPicker) else None,
                             "the model picker")
        listing = picker.query_one(OptionList)
        ids = [listing.get_option_at_index(i).id for i in range(listing.option_count)]
        listing.highlighted = ids.index("embedded/smollm2-135m")
        await pilot.press("enter")
        await until(pilot, lambda: app.model == "embedded/smollm2-135m", "the model to be picked")
        assert "embedded/smollm2-135m" in str(app.status_bar.render())


async def test_shift_a_allows_and_adds_a_rule_for_this_subject(daemon: Callable[..., Daemon]) -> None:
    # The config change rebuilds the scripted provider: its script starts again from turn one.
    d = daemon({"tool": "bash", "arguments": {"command": "echo [x]* > out.txt"}}, "ran it")
    app = d.app()
    async with app.run_test(size=(100, 40)) as pilot:
        await _type(pilot, "run it")
        card = await until(pilot, lambda: next(iter(app.query(ApprovalCard)), None), "the approval")
        await until(pilot, lambda: app.focused is card, "the approval to take the keyboard")
        await pilot.press("A")
        await until(pilot, lambda: "ran it" in _answer(app) and not app.running, "the first run")
        view = await app.client.request("config/get", {})
        assert view["config"]["permissions"]["rules"]["bash"] == {"echo [[]x][*] > out.txt": "allow"}
        await _type(pilot, "again")
        await until(pilot, lambda: _answer(app).count("ran it") == 2 and not app.running, "the second run")
        assert [c.title[:6] for c in app.query(ToolCard)] == ["✓ bash", "✓ bash"]
        assert len(app.query(ApprovalCard)) == 1  # the rule allowed it: nobody was asked


_PRD = {"project": "demo", "feature": "hello", "auto_commit": True,
        "quality_checks": {"typecheck": None, "lint": "true", "test": "test -f hello.txt", "build": None},
        "user_stories": [{"id": "US-001", "title": "Write hello", "description": "create hello.txt",
                          "acceptance_criteria": ["hello.txt says hi"], "verification_steps": [],
                          "priority": 1, "depends_on": [], "passes": False, "complexity": 1}]}


async def test_ralph_view_shows_each_story_and_its_checks(daemon: Callable[..., Daemon]) -> None:
    from codetether.daemon.cli.tui._screens import RalphScreen

    d = daemon("Nothing to do yet, I think.",
               {"tool": "write_file", "arguments": {"path": "hello.txt", "content": "hi\n"}}, "wrote hello.txt",
               mode="auto")
    _git(d.workspace, "init", "-q", "-b", "main")
    (d.workspace / "prd.json").write_text(json.dumps(_PRD))
    _git(d.workspace, "add", "-A")
    _git(d.workspace, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q", "-m", "base")
    app = d.app()
    async with app.run_test(size=(110, 40)) as pilot:
        await _type(pilot, "/ralph")
        screen = await until(pilot, lambda: app.screen if isinstance(app.screen, RalphScreen) else None,
                             "the ralph view")
        table = screen.query_one(DataTable)
        assert table.get_cell("US-001", "title") == "Write hello"
        log = " ".join
        await until(pilot, lambda: "1 of 1 stories pass" in log(str(w.render()) for w in screen.query(
            "#ralph-log Static")), "the run's end")
        lines = log(str(w.render()) for w in screen.query("#ralph-log Static"))
        assert "✗ US-001 failed: test failed" in lines and "✓ US-001 passes" in lines
        assert table.get_cell("US-001", "status") == "✓ passes"
    assert (d.workspace / "hello.txt").read_text() == "hi\n"


async def test_plan_mode_and_resume(daemon: Callable[..., Daemon]) -> None:
    d = daemon({"tool": "write_file", "arguments": {"path": "x.txt", "content": "x\n"}}, "planned only", mode="auto")
    app = d.app()
    async with app.run_test(size=(100, 40)) as pilot:
        await _type(pilot, "/plan")
        assert app.plan and "PLAN" in str(app.status_bar.render())
        await _type(pilot, "change things")
        await until(pilot, lambda: "planned only" in _answer(app) and not app.running, "the answer")
        assert app.query_one(ToolCard).title.startswith("✗ write_file")  # plan mode: read-only tools
        first = app.session_id
        await _type(pilot, "/new")
        assert app.session_id is None
        await _type(pilot, "/resume")
        await until(pilot, lambda: app.session_id == first and not app.running and any(
            "nothing to resume" in str(w.render()) for w in app.query(".note")), "the resume")
    assert not (d.workspace / "x.txt").exists()


async def test_autochat_runs_a_relay_and_shows_its_turns(daemon: Callable[..., Daemon]) -> None:
    profiles = {"text": json.dumps({"profiles": [{"name": n, "instructions": f"be the {n}"} for n in ("planner", "coder")]})}
    d = daemon(profiles, "plan: write it", {"tool": "bash", "arguments": {"command": "echo hi >> out.txt"}},
               "wrote out.txt\nAPPROVED", mode="auto")
    app = d.app()
    async with app.run_test(size=(110, 40)) as pilot:
        await _type(pilot, "/autochat 2 write out.txt")
        await until(pilot, lambda: "APPROVED" in _answer(app), "the relay's baton")
        lines = " ".join(str(w.render()) for w in app.query(".note"))
        assert "planner → coder" in lines and ": completed" in lines
    assert (d.workspace / "out.txt").read_text() == "hi\n"


async def test_compact_folds_the_conversation_on_request(daemon: Callable[..., Daemon]) -> None:
    d = daemon(*(f"answer {i} " + "words " * 400 for i in range(4)), "a short summary")
    app = d.app()
    async with app.run_test(size=(100, 40)) as pilot:
        await _type(pilot, "/compact")
        await until(pilot, lambda: any("nothing to compact" in str(w.render()) for w in app.query(".note")),
                    "the no-session note")
        for i in range(4):
            await _type(pilot, f"question {i}")
            await until(pilot, lambda i=i: f"answer {i}" in _answer(app) and not app.running, "the answer")
        await _type(pilot, "/compact")
        await until(pilot, lambda: any("older messages are now a summary" in str(w.render())
                                       for w in app.query(".note")), "the compaction")


async def test_a_progress_event_delivered_after_the_final_state_does_not_overwrite_it() -> None:
    """The client does not keep the order of a swarm's events and its answer: a late
    "done" (no detail) must not wipe the numbers the final state put in the row."""
    from textual.app import App

    class Host(App[None]):
        async def on_mount(self) -> None:
            await self.push_screen(SwarmScreen("task"))

    app = Host()
    async with app.run_test(size=(110, 40)) as pilot:
        screen = await until(pilot, lambda: app.screen if isinstance(app.screen, SwarmScreen) else None,
                             "the swarm view")
        await screen.event({"swarm_id": "s1", "phase": "planned", "detail": "docs"})
        await screen.finished({"id": "s1", "status": "completed", "answer": "done", "results": {
            "docs": {"status": "done", "steps": 2, "tokens_in": 5, "tokens_out": 7,
                     "diff": {"files": ["DOCS.md"], "added": 1, "removed": 0}}}})
        await screen.event({"swarm_id": "s1", "phase": "done", "subtask": "docs", "detail": ""})
        table = screen.query_one(DataTable)
        assert table.get_cell("docs", "status") == "done"
        assert str(table.get_cell("docs", "detail")) == "2 steps, 5/7 tokens, 1 files +1 -0"
