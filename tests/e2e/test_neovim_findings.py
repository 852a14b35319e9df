"""Regression tests in real Neovim for the findings of 2026-11-30 (S6, E4, E6, E7).

Same harness as test_neovim.py (real headless nvim 0.11 via pynvim, the real language
server and daemon, a scripted model); readiness is always a condition waited on inside
Neovim. Most of these need the real server: the stub does not cancel or decide.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

_spec = importlib.util.spec_from_file_location("ct_neovim_harness", Path(__file__).with_name("test_neovim.py"))
assert _spec is not None and _spec.loader is not None
_h = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_h)

# Fixtures and helpers from the main Neovim suite (pytest finds fixtures by module name).
server, start = _h.server, _h.start
Editor, EDIT, HELLO, PROPOSAL = _h.Editor, _h.EDIT, _h.HELLO, _h.PROPOSAL
open_hello, first_line_is, chat_has = _h.open_hello, _h.first_line_is, _h.chat_has

REAL_ONLY = pytest.mark.parametrize("server", ["real"], indirect=True)

CAPTURE = """
_G.ct_test.notes = {}
vim.notify = function(msg, level)
  table.insert(_G.ct_test.notes, { msg = msg, level = level or vim.log.levels.INFO })
end
"""


def notes(ed: Editor) -> list[dict[str, Any]]:
    return list(ed.lua("return _G.ct_test.notes"))


def note_has(needle: str) -> str:
    return ("vim.iter(_G.ct_test.notes):any(function(n) return n.msg:find("
            f"{json.dumps(needle)}, 1, true) ~= nil end)")


def start_captured(start: Callable[..., Editor], *turns: Any) -> Editor:
    ed = start(*turns)
    ed.lua(CAPTURE)
    return ed


@REAL_ONLY
def test_s6_e7_cancel_withdraws_the_proposal_and_approve_writes_nothing(start: Callable[..., Editor],
                                                                        home: Any) -> None:
    ed = start_captured(start, EDIT, {"text": "Edited."})
    buf = open_hello(ed)
    ed.nvim.command("Codetether chat rename")
    ed.wait(PROPOSAL, what="the proposal")
    pid = ed.lua("return require('codetether.pending').latest(true)")
    ed.nvim.command("Codetether cancel")
    ed.wait(note_has("cancelled"), what="the cancel message")
    ed.wait("require('codetether.pending').latest(true) == nil", what="the proposal withdrawn (S6)")
    ed.nvim.command("Codetether approve")  # nothing is pending any more
    ed.nvim.command(f"Codetether approve {pid}")  # and naming it explicitly is refused
    ed.wait(note_has("withdrawn"), what="the refusal")
    assert ed.lines(buf) == [HELLO]
    assert (home.workspace / "hello.py").read_text() == HELLO + "\n"
    ed.wait(chat_has("withdrawn: the run was cancelled"), what="the chat line")
    # E7: the cancel the user asked for is said plainly, never as an error or a Lua table.
    cancel = [n for n in notes(ed) if "cancel" in n["msg"]]
    assert cancel[0]["msg"] == "codetether: cancelled", cancel
    assert all(n["level"] < 4 for n in notes(ed)), notes(ed)  # no ERROR (vim.log.levels.ERROR == 4)
    assert not any("{" in n["msg"] for n in notes(ed)), notes(ed)


@REAL_ONLY
def test_e4_status_line_leaves_run_after_every_turn(start: Callable[..., Editor]) -> None:
    # Each turn: the model calls a slow bash (its usage is reported while the run is busy,
    # so the status line shows RUN), then answers (a usage after which the run ends) or
    # fails (no usage at all). The status must leave RUN when the turn ends, every time.
    chats = 6
    turns: list[Any] = []
    for n in range(chats):
        turns.append({"tool": "bash", "arguments": {"command": "sleep 0.3; echo step"}})
        turns.append({"text": f"answer {n}."} if n % 2 == 0 else {"error": 400, "message": f"failure {n}"})
    ed = start(*turns)
    open_hello(ed)
    for n in range(chats):
        ed.lua("_G.ct_test.ran = false; _G.ct_test.saw_run = false")
        ed.lua("vim.api.nvim_create_autocmd('User', {pattern = 'CodetetherStatus', callback = function(ev) "
               "if ev.data and ev.data.busy then _G.ct_test.saw_run = true end end})")
        ed.nvim.command(f"Codetether chat question {n}")
        ed.wait("_G.ct_test.saw_run", what=f"RUN during turn {n}")
        ed.wait(chat_has(f"answer {n}.") if n % 2 == 0 else chat_has(f"failure {n}"), what=f"the end of turn {n}")
        ed.wait("(vim.g.codetether_last_event or {}).type == 'done'", what=f"done {n}")
        ed.wait("not require('codetether.status').statusline():find('RUN')", timeout=10,
                what=f"the status line to leave RUN after turn {n} (E4)")


@REAL_ONLY
def test_e6_e7_an_approved_edit_is_saved_and_reads_applied(start: Callable[..., Editor], home: Any) -> None:
    ed = start_captured(start, EDIT, {"tool": "bash", "arguments": {"command": "cat hello.py"}}, {"text": "ok."})
    buf = open_hello(ed)
    ed.nvim.command("Codetether chat rename")
    ed.wait(PROPOSAL, what="the proposal")
    # E7: the notice names the workspace-relative path, in plain words.
    notice = next(n["msg"] for n in notes(ed) if "proposes" in n["msg"])
    assert notice.startswith("codetether: the agent proposes a change to hello.py (edit)"), notice
    assert str(home.workspace) not in notice and "edit proposes an edit" not in notice
    ed.nvim.command("Codetether approve")
    ed.wait(first_line_is(buf, 'print("hello there")'), what="the applied edit")
    ed.wait(chat_has("ok."), what="the answer")
    # E6: on disk before the agent's next command ran, and the buffer is not left modified.
    assert (home.workspace / "hello.py").read_text() == 'print("hello there")\n'
    assert ed.lua(f"return vim.bo[{buf}].modified") is False
    chat = ed.chat()
    assert "  ✓ applied the change to hello.py" in chat, chat  # E7: not "allowed edit by uid:0"
    assert not any("uid:" in line for line in chat), chat


@REAL_ONLY
def test_e6_the_agents_next_command_sees_the_saved_file(start: Callable[..., Editor]) -> None:
    ed = start(EDIT, {"tool": "bash", "arguments": {"command": "cat hello.py"}}, {"text": "checked."})
    open_hello(ed)
    ed.lua("_G.ct_test.outputs = {}; vim.api.nvim_create_autocmd('User', {pattern = 'CodetetherEvent', "
           "callback = function(ev) local e = ev.data.event; if e.type == 'tool_call_end' then "
           "table.insert(_G.ct_test.outputs, e.output) end end})")
    ed.nvim.command("Codetether chat rename and check")
    ed.wait(PROPOSAL, what="the proposal")
    ed.nvim.command("Codetether approve")
    ed.wait(chat_has("checked."), what="the answer")
    outputs = ed.lua("return _G.ct_test.outputs")
    assert 'hello there' in outputs[-1], outputs


@REAL_ONLY
def test_e7_a_stale_edit_says_it_was_not_applied(start: Callable[..., Editor]) -> None:
    ed = start_captured(start, EDIT, {"text": "ok."})
    buf = open_hello(ed)
    ed.nvim.command("Codetether chat rename")
    ed.wait(PROPOSAL, what="the proposal")
    ed.lua("vim.api.nvim_buf_set_lines(..., 0, 0, false, {'# typed meanwhile'})", buf)
    ed.nvim.command("Codetether approve")
    ed.wait(note_has("changed since the agent proposed this edit; not applied"), what="the warning")
    ed.wait(chat_has("not applied: the buffer changed since the agent proposed it"), what="the chat line")
    assert not any("denied" in line for line in ed.chat()), ed.chat()
    assert ed.lines(buf) == ["# typed meanwhile", HELLO]


@REAL_ONLY
def test_e7_reject_takes_the_rest_as_the_reason(start: Callable[..., Editor]) -> None:
    ed = start(EDIT, {"text": "Left it."})
    open_hello(ed)
    ed.nvim.command("Codetether chat rename")
    ed.wait(PROPOSAL, what="the proposal")
    ed.nvim.command("Codetether reject not what I wanted")
    ed.wait(chat_has("Left it."), what="the answer after the rejection")
    assert "  ✗ change to hello.py rejected: not what I wanted" in ed.chat(), ed.chat()
    assert any(line.startswith("  ✗ edit") and "not what I wanted" in line for line in ed.chat()), ed.chat()


@REAL_ONLY
def test_e7_status_before_any_chat_and_errors_are_plain(start: Callable[..., Editor]) -> None:
    ed = start_captured(start, {"text": "hi"})
    open_hello(ed)
    ed.nvim.command("Codetether status")
    ed.wait(note_has("no session yet"), what="the status message")
    assert not any("nil" in n["msg"] for n in notes(ed)), notes(ed)
    ed.nvim.command("Codetether approve 0123456789ab")  # an id the daemon does not know
    ed.wait(note_has("0123456789ab"), what="the error message")
    error = next(n["msg"] for n in notes(ed) if "0123456789ab" in n["msg"])
    assert "codetether.daemon" not in error and "Traceback" not in error and "Error:" not in error, error
    # Results read as words, not Lua tables.
    ed.nvim.command("Codetether model scripted/scripted")
    ed.wait(note_has("model: scripted/scripted"), what="the model message")
    ed.nvim.command("Codetether new")
    ed.wait(note_has("new session: "), what="the new session message")
    assert not any("{" in n["msg"] for n in notes(ed)), notes(ed)


def test_e7_proposal_notice_is_relative_with_either_server(start: Callable[..., Editor], home: Any) -> None:
    ed = start_captured(start, EDIT, {"text": "Edited."})
    open_hello(ed)
    ed.nvim.command("Codetether chat rename")
    ed.wait(note_has("proposes a change"), what="the proposal notice")
    notice = next(n["msg"] for n in notes(ed) if "proposes" in n["msg"])
    assert "hello.py" in notice and str(home.workspace) not in notice, notice


@REAL_ONLY
def test_streamed_bash_output_and_notices_show_in_the_chat(start: Callable[..., Editor]) -> None:
    ed = start({"tool": "bash", "arguments": {"command": "printf 'one\\ntwo\\nthree'"}}, {"text": "Ran it."})
    open_hello(ed)
    ed.nvim.command("Codetether chat run it, see @no-such-file.py")
    ed.wait(chat_has("Ran it."), what="the answer")
    chat = ed.chat()
    assert any(line.startswith("  ! ") for line in chat), chat  # the refused @mention
    lines = [line for line in chat if line.startswith("    │ ")]
    assert lines == ["    │ one", "    │ two", "    │ three"], chat
    end = next(i for i, line in enumerate(chat) if line.startswith("  ✓ bash"))
    assert chat.index("    │ three") < end, chat
