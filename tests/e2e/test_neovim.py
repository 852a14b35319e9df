"""The Neovim plugin (clients/neovim) end to end: a real headless Neovim driven by pynvim.

Every scenario runs against two servers: ``stub`` (tests/e2e/neovim/stub_server.py, which
speaks lsp/PROTOCOL.md from the same scripted-provider script) and ``real``
(``python -m codetether.lsp`` with the real daemon). Readiness is always a condition
waited on inside Neovim (``vim.wait``) with a deadline, never a sleep.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import statistics
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pynvim
import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "clients" / "neovim"
NVIM = str(Path(sys.executable).parent / "nvim")
CLI = str(Path(sys.executable).parent / "codetether")
STUB = [sys.executable, str(Path(__file__).parent / "neovim" / "stub_server.py")]
REAL = [sys.executable, "-m", "codetether.lsp"]

# Test-side Lua helpers: a vim.ui.select stub that records prompts and picks a choice,
# and the round-trip probe (proposal arrival -> buffer change after approve).
HELPERS = r"""
_G.ct_test = { prompts = {}, pick = "Allow", samples = {} }
vim.ui.select = function(items, opts, cb)
  table.insert(_G.ct_test.prompts, { prompt = opts.prompt, items = items, kind = opts.kind })
  local pick = vim.tbl_contains(items, _G.ct_test.pick) and _G.ct_test.pick or items[1]
  vim.schedule(function() cb(pick) end)
end
function _G.ct_test.auto_approve(buf)
  local t = _G.ct_test
  vim.api.nvim_buf_attach(buf, false, {
    on_lines = function()
      if t.t0 then
        table.insert(t.samples, (vim.uv.hrtime() - t.t0) / 1e6)
        t.t0 = nil
      end
    end,
  })
  vim.api.nvim_create_autocmd("User", {
    pattern = "CodetetherProposal",
    callback = function(ev)
      t.t0 = vim.uv.hrtime()
      require("codetether").approve(ev.data.id)
    end,
  })
end
"""


def init_lua(path: Path, *, cmd: list[str], home: Path, workspace: Path, state: Path) -> Path:
    opts = {"cmd": cmd, "cli": [CLI], "codetether_home": str(home), "log_level": 1}
    path.write_text(
        f"vim.opt.runtimepath:prepend({json.dumps(str(PLUGIN))})\n"
        f"vim.env.XDG_STATE_HOME = {json.dumps(str(state))}\n"
        f"vim.fn.chdir({json.dumps(str(workspace))})\n"
        "vim.o.swapfile = false\n"
        f"require('codetether').setup(vim.json.decode({json.dumps(json.dumps(opts))}))\n"
        + HELPERS
    )
    return path


class Editor:
    """One embedded Neovim; ``close()`` quits it and reaps the process."""

    def __init__(self, init: Path) -> None:
        self.nvim = pynvim.attach("child", argv=[NVIM, "--embed", "--headless", "--clean", "-u", str(init)])

    def lua(self, code: str, *args: Any) -> Any:
        return self.nvim.exec_lua(code, *args)

    def wait(self, condition: str, timeout: float = 30.0, what: str = "") -> None:
        """Wait inside Neovim until the Lua expression ``condition`` is true."""
        ok = self.lua(f"return vim.wait({int(timeout * 1000)}, function() return {condition} end, 5)")
        if not ok:
            raise AssertionError(f"timed out waiting for {what or condition}\nchat:\n" + "\n".join(self.chat())
                                 + "\nlog:\n" + self.log_tail())

    def chat(self) -> list[str]:
        return list(self.lua("return require('codetether.chat').lines()"))

    def lines(self, buf: int = 0) -> list[str]:
        return list(self.lua("return vim.api.nvim_buf_get_lines(..., 0, -1, false)", buf))

    def log_tail(self) -> str:
        path = self.lua("return require('codetether.log').path()")
        try:
            return Path(path).read_text()[-3000:]
        except OSError:
            return "(no log)"

    def close(self) -> None:
        try:
            self.lua("local c = require('codetether.lsp').client(); if c then c:stop() end")
            self.lua("return vim.wait(5000, function() return #vim.lsp.get_clients() == 0 end, 10)")
            self.nvim.command("qa!")
        except (EOFError, OSError):
            pass  # nvim exits before it can answer qa!
        finally:
            self.nvim.close()


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "CODETETHER_"))}


def real_server_missing() -> str | None:
    """Why the real language server cannot be used yet, or None."""
    try:
        spec = importlib.util.find_spec("codetether.lsp.__main__")
    except ImportError as exc:
        return f"codetether.lsp does not import: {exc}"
    if spec is None:
        return "the language server is not built yet (no codetether/lsp/__main__.py): lsp/ is in progress"
    return None


EDIT = {"tool": "edit", "arguments": {"path": "hello.py", "old_string": "world", "new_string": "there"}}
HELLO = 'print("hello world")'


@pytest.fixture(params=["stub", "real"])
def server(request: pytest.FixtureRequest) -> list[str]:
    if request.param == "real":
        reason = real_server_missing()
        if reason:
            pytest.skip(reason)
        return REAL
    return STUB


@pytest.fixture
def start(home: Any, server: list[str], short_dir: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Editor]]:
    """``start(*turns)``: script the model, then open Neovim in the workspace."""
    monkeypatch.setenv("CODETETHER_HOME", str(home.root))
    (home.workspace / "hello.py").write_text(HELLO + "\n")
    editors: list[Editor] = []

    def _start(*turns: Any) -> Editor:
        home.script(*turns)
        init = init_lua(short_dir / "init.lua", cmd=server, home=home.root, workspace=home.workspace,
                        state=short_dir / "state")
        editor = Editor(init)
        editors.append(editor)
        return editor

    try:
        yield _start
    finally:
        for editor in editors:
            editor.close()
        home.cli("daemon", "stop", timeout=60)  # not running (stub) is fine


def open_hello(ed: Editor) -> int:
    ed.nvim.command("edit hello.py")
    return int(ed.lua("return vim.api.nvim_get_current_buf()"))


def first_line_is(buf: int, text: str) -> str:
    return f"vim.api.nvim_buf_get_lines({buf}, 0, 1, false)[1] == {json.dumps(text)}"


def chat_has(needle: str) -> str:
    return f"table.concat(require('codetether.chat').lines(), '\\n'):find({json.dumps(needle)}, 1, true) ~= nil"


PROPOSAL = "require('codetether.pending').latest(true) ~= nil"


def test_chat_approve_edits_the_buffer_and_undo_restores(start: Callable[..., Editor], home: Any) -> None:
    ed = start(EDIT, {"text": "Edited."})
    buf = open_hello(ed)
    ed.nvim.command("Codetether chat rename")
    ed.wait(PROPOSAL, what="the proposal")
    assert ed.lines(buf) == [HELLO], "a proposal must not touch the buffer"
    ed.nvim.command("Codetether approve")
    ed.wait(first_line_is(buf, 'print("hello there")'), what="the applied edit")
    ed.wait(chat_has("Edited."), what="the answer")
    # E6: saved (through codetether/saveDocuments) before the agent went on.
    assert (home.workspace / "hello.py").read_text() == 'print("hello there")\n'
    assert ed.lua(f"return vim.bo[{buf}].modified") is False
    ed.wait("(vim.g.codetether_last_event or {}).type == 'done'", what="done")
    chat = ed.chat()
    assert chat[0] == "> rename"
    assert any(line.startswith("  ⚙ edit hello.py") for line in chat)
    assert any(line.startswith("  ✓ edit") for line in chat)
    assert ed.lua("return vim.api.nvim_get_current_buf()") == buf
    ed.nvim.command("undo")
    assert ed.lines(buf) == [HELLO]


def test_reject_leaves_the_buffer_and_the_agent_sees_a_tool_error(start: Callable[..., Editor]) -> None:
    ed = start(EDIT, {"text": "Left it as is."})
    buf = open_hello(ed)
    ed.nvim.command("Codetether chat rename")
    ed.wait(PROPOSAL, what="the proposal")
    ed.nvim.command("Codetether reject")
    ed.wait(chat_has("Left it as is."), what="the answer after the rejection")
    assert any(line.startswith("  ✗ edit") for line in ed.chat()), ed.chat()
    assert ed.lines(buf) == [HELLO]
    assert ed.lua("return require('codetether.pending').latest()") is None


def test_diff_view_shows_original_and_proposed_and_ga_approves(start: Callable[..., Editor]) -> None:
    ed = start(EDIT, {"text": "Edited."})
    buf = open_hello(ed)
    ed.nvim.command("Codetether chat rename")
    ed.wait(PROPOSAL, what="the proposal")
    ed.nvim.command("Codetether diff")
    ed.wait("next(require('codetether.diff').views) ~= nil", what="the diff view")
    wins = ed.lua("return vim.api.nvim_tabpage_list_wins(0)")
    assert len(wins) == 2
    assert all(ed.lua("return vim.wo[...].diff", w) for w in wins)
    texts = [ed.lines(ed.lua("return vim.api.nvim_win_get_buf(...)", w)) for w in wins]
    assert texts == [[HELLO], ['print("hello there")']]
    assert ed.lua("return vim.bo.filetype") == "python"
    ed.nvim.input("ga")
    ed.wait(first_line_is(buf, 'print("hello there")'), what="the edit applied from the diff view")
    ed.wait("next(require('codetether.diff').views) == nil", what="the diff view to close")
    ed.wait(chat_has("Edited."), what="the answer")


def test_a_proposal_whose_buffer_changed_is_shown_stale(start: Callable[..., Editor]) -> None:
    ed = start(EDIT, {"text": "ok"})
    buf = open_hello(ed)
    ed.nvim.command("Codetether chat rename")
    ed.wait(PROPOSAL, what="the proposal")
    ed.lua("vim.api.nvim_buf_set_lines(..., 0, 0, false, {'# typed meanwhile'})", buf)
    ed.nvim.command("Codetether diff")
    ed.wait("next(require('codetether.diff').views) ~= nil", what="the diff view")
    assert ed.lua("local _, v = next(require('codetether.diff').views); return v.stale") is True
    assert "STALE" in ed.lua("return vim.wo.winbar")
    ed.nvim.input("gr")
    ed.wait(chat_has("ok"), what="the answer after the rejection")
    assert ed.lines(buf) == ["# typed meanwhile", HELLO]


def test_tool_approval_is_answered_through_vim_ui_select(start: Callable[..., Editor]) -> None:
    ed = start({"tool": "bash", "arguments": {"command": "echo hi"}}, {"text": "Ran it."})
    open_hello(ed)
    ed.nvim.command("Codetether chat run echo")
    ed.wait(chat_has("Ran it."), what="the answer after the approval")
    prompts = ed.lua("return _G.ct_test.prompts")
    assert len(prompts) == 1 and prompts[0]["items"] == ["Allow", "Deny"], prompts
    assert any(line.startswith("  ✓ bash") for line in ed.chat()), ed.chat()


def test_question_offers_its_options(start: Callable[..., Editor]) -> None:
    ask = {"tool": "question", "arguments": {"question": "Which name?", "options": ["there", "world"]}}
    ed = start(ask, {"text": "Thanks."})
    open_hello(ed)
    ed.lua("_G.ct_test.pick = 'there'")
    ed.nvim.command("Codetether chat ask me")
    ed.wait(chat_has("Thanks."), what="the answer after the question")
    prompts = ed.lua("return _G.ct_test.prompts")
    assert [p["items"] for p in prompts] == [["there", "world"]], prompts
    assert "Which name?" in prompts[0]["prompt"]
    assert any(line.startswith("  ✓ question") for line in ed.chat()), ed.chat()


def test_checkhealth_and_statusline(start: Callable[..., Editor]) -> None:
    ed = start({"text": "Hi."})
    open_hello(ed)
    ed.nvim.command("Codetether chat hello")
    ed.wait(chat_has("Hi."), what="the answer")
    ed.wait("require('codetether.status').statusline() ~= ''", what="a status notification")
    line = ed.lua("return require('codetether.status').statusline()")
    assert re.fullmatch(r"ct [\d.]+[kM]? tok \$\d+\.\d\d ctx \d+% [A-Z]+", line), line
    ed.nvim.command("checkhealth codetether")
    report = "\n".join(ed.lines())
    assert "OK" in report and "ERROR" not in report, report
    assert "server attached" in report, report


def test_approval_round_trip(start: Callable[..., Editor], capsys: pytest.CaptureFixture[str]) -> None:
    """Print (not assert) the time from a proposal arriving to the buffer change after approve."""
    rounds = 20
    turns: list[Any] = []
    for n in range(rounds):
        old, new = ("world", "there") if n % 2 == 0 else ("there", "world")
        turns.append({"tool": "edit", "arguments": {"path": "hello.py", "old_string": old, "new_string": new}})
    turns.append({"text": "All done."})
    ed = start(*turns)
    buf = open_hello(ed)
    ed.lua("_G.ct_test.auto_approve(...)", buf)
    ed.nvim.command("Codetether chat flip it")
    ed.wait(f"#_G.ct_test.samples >= {rounds}", timeout=110, what=f"{rounds} approved edits")
    samples = sorted(ed.lua("return _G.ct_test.samples"))
    assert ed.lines(buf) == [HELLO]  # an even number of flips
    with capsys.disabled():
        print(f"\n[neovim approval round trip, {len(samples)} proposals] "
              f"p50 {statistics.median(samples):.1f} ms, min {samples[0]:.1f} ms, max {samples[-1]:.1f} ms")


def test_setup_falls_back_to_defaults_on_bad_options(short_dir: Path) -> None:
    init = short_dir / "init.lua"
    init.write_text(f"vim.opt.runtimepath:prepend({json.dumps(str(PLUGIN))})\n"
                    f"vim.env.XDG_STATE_HOME = {json.dumps(str(short_dir / 'state'))}\n")
    ed = Editor(init)
    try:
        problems = ed.lua("""
            local ct = require('codetether')
            vim.notify = function() end
            ct.setup({ approval_mode = 'yolo', cmd = {}, model = 'a/b', keymaps = { approve = 'A' }, nope = 1 })
            return ct.problems
        """)
        assert len(problems) == 3, problems
        o = ed.lua("return require('codetether').options")
        assert o["approval_mode"] == "ask" and o["cmd"] == ["codetether", "lsp"] and o["model"] == "a/b"
        assert o["keymaps"] == {"approve": "A", "reject": "gr", "close": "q"}
        init_options = ed.lua("return require('codetether.config').init_options(require('codetether').options)")
        assert init_options["approvalMode"] == "ask" and init_options["autoStartDaemon"] is True
        assert ed.lua("return vim.fn.getcompletion('Codetether ap', 'cmdline')") == ["approve"]
        assert ed.lua("return vim.fn.getcompletion('Codetether plan o', 'cmdline')") == ["on", "off"]
        assert ed.lua("return require('codetether.status').format({input_tokens = 1000, output_tokens = 234,"
                      " cost = 0.004, context = {percent = 12.5, level = 'ok'}})") == "ct 1.2k tok $0.00 ctx 12% OK"
    finally:
        ed.close()
