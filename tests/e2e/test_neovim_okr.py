"""`/go`'s OKR gate in real Neovim: the float with the objective and its key results,
`a` / `d` (with a reason: drafted again) / `q` (later, `:Codetether pending` reopens), a
gate decided from the CLI closing the float, and the gate's round trip (printed for
bench/neovim_okr_gate.py).

Same harness as test_neovim.py (real headless nvim 0.11 via pynvim, the real language
server and daemon, a scripted model); readiness is always a condition waited on inside
Neovim. The stub server does not speak `/go`, so the flows run on the real server only.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# Fixtures (pytest finds them by name in this module) and helpers of the main Neovim suite.
from .test_neovim import Editor, chat_has, init_lua
from .test_neovim import server as _server
from .test_neovim import start as _start

server, start = _server, _start

REAL_ONLY = pytest.mark.parametrize("server", ["real"], indirect=True)
FOOTER = "a approve   d deny   q later"

# Test-side Lua: a vim.ui.input stub answering `_G.ct_test.reason` (the plugin asks through
# vim.ui.input, so any provider works), and a look at the OKR float as it is on screen.
OKR_LUA = r"""
_G.ct_test.inputs = {}
vim.ui.input = function(opts, cb)
  table.insert(_G.ct_test.inputs, opts.prompt)
  vim.schedule(function() cb(_G.ct_test.reason) end)
end
function _G.ct_test.okr_float()
  for _, w in ipairs(vim.api.nvim_list_wins()) do
    local b = vim.api.nvim_win_get_buf(w)
    if vim.bo[b].filetype == 'codetether-okr' then
      local maps = {}
      for _, m in ipairs(vim.api.nvim_buf_get_keymap(b, 'n')) do maps[m.lhs] = m.buffer end
      local global = {}
      for _, m in ipairs(vim.api.nvim_get_keymap('n')) do global[m.lhs] = true end
      local cfg = vim.api.nvim_win_get_config(w)
      return { win = w, buf = b, lines = vim.api.nvim_buf_get_lines(b, 0, -1, false),
               modifiable = vim.bo[b].modifiable, relative = cfg.relative,
               current = vim.api.nvim_get_current_win() == w, maps = maps,
               global = { a = global.a or false, d = global.d or false, q = global.q or false } }
    end
  end
  return nil
end
"""

FLOAT = "_G.ct_test.okr_float() ~= nil"
NO_FLOAT = "_G.ct_test.okr_float() == nil"


def float_shows(needle: str) -> str:
    return (f"(function() local f = _G.ct_test.okr_float(); return f ~= nil and "
            f"table.concat(f.lines, '\\n'):find({json.dumps(needle)}, 1, true) ~= nil end)()")


def draft(title: str, evidence: tuple[dict[str, str], dict[str, str]] | None = None) -> str:
    """The model's draft: two binary key results, each with its evidence."""
    first, second = evidence or ({"kind": "file", "path": "done.txt"},
                                 {"kind": "command", "command": "grep -q done done.txt"})
    return json.dumps({"title": title, "description": "a file that says it is done", "key_results": [
        {"title": "done.txt exists", "metric_type": "binary", "evidence": first},
        {"title": "it says done", "metric_type": "binary", "evidence": second}]})


WRITE = {"tool": "write_file", "arguments": {"path": "done.txt", "content": "done\n"}}


def auto_mode(home: Any) -> None:
    """The stories run without asking (the OKR gate still asks: it is not a tool call)."""
    home.config_file.write_text(home.config_file.read_text() + '\n[permissions]\nmode = "auto"\n')


def go(start: Callable[..., Editor], home: Any, *turns: Any) -> Editor:
    ed = start(*turns)
    auto_mode(home)  # before the first command starts the server (and the daemon)
    ed.lua(OKR_LUA)
    return ed


def wait_run(ed: Editor, home: Any, needle: str) -> None:
    """Wait for the run's summary in the chat; on a timeout, say which gates the daemon holds."""
    try:
        ed.wait(chat_has(needle), timeout=60, what="the run to complete")
    except AssertionError as exc:
        held = home.cli("approvals", "list", "--json").stdout
        raise AssertionError(f"{exc}\npending approvals in the daemon: {held}") from None


def okr_float(ed: Editor) -> dict[str, Any]:
    f = ed.lua("return _G.ct_test.okr_float()")
    assert f is not None
    return dict(f)


def the_float_is_accessible(f: dict[str, Any]) -> None:
    assert f["relative"] == "editor" and f["current"], f
    assert f["modifiable"] is False
    buf = f["buf"]
    assert {k: f["maps"].get(k) for k in ("a", "d", "q")} == {"a": buf, "d": buf, "q": buf}, f["maps"]
    assert f["global"] == {"a": False, "d": False, "q": False}  # buffer-local only
    assert f["lines"][-1].strip() == FOOTER


@REAL_ONLY
def test_go_gate_deny_with_a_reason_redrafts_then_approve_ships(start: Callable[..., Editor], home: Any) -> None:
    ed = go(start, home, draft("Too vague"), draft("Ship done.txt"), WRITE, "wrote it", "holds")
    ed.nvim.command("Codetether chat /go ship a done file")
    ed.wait(FLOAT, what="the OKR float")
    f = okr_float(ed)
    the_float_is_accessible(f)
    text = [line.strip() for line in f["lines"]]
    assert text[0] == "Objective: Too vague"
    assert "a file that says it is done" in text
    assert text[text.index("Key results:") + 1:text.index(FOOTER)] == [
        "1. done.txt exists", "target 1 (binary)", "measured by file: done.txt",
        "2. it says done", "target 1 (binary)", "measured by command: grep -q done done.txt", ""]

    ed.lua("_G.ct_test.reason = 'say which file'")
    ed.nvim.input("d")
    ed.wait(float_shows("Objective: Ship done.txt"), what="the re-drafted objective in a new float")
    assert ed.lua("return _G.ct_test.inputs")[0].startswith("Deny: why?")
    second = okr_float(ed)
    assert second["buf"] != f["buf"]
    the_float_is_accessible(second)

    ed.nvim.input("a")
    wait_run(ed, home, "/go completed: Ship done.txt")
    ed.wait("(vim.g.codetether_last_event or {}).type == 'done'", what="done")
    assert ed.lua(f"return {NO_FLOAT}")
    assert ed.lua("return require('codetether.pending').latest()") is None
    chat = "\n".join(ed.chat())
    assert "✗ objective denied: say which file" in chat and "✓ objective approved" in chat
    runs = home.json("okr", "runs")
    assert [r["status"] for r in runs] == ["completed"], runs
    assert runs[0]["approval"]["decision"] == "approve"
    assert (home.workspace / "done.txt").read_text() == "done\n"


@REAL_ONLY
def test_q_leaves_the_gate_pending_and_a_decision_elsewhere_closes_the_float(
        start: Callable[..., Editor], home: Any) -> None:
    ed = go(start, home, draft("Ship done.txt"), WRITE, "wrote it", "holds")
    ed.nvim.command("Codetether chat /go ship a done file")
    ed.wait(FLOAT, what="the OKR float")
    gate = ed.lua("return require('codetether.pending').latest()")
    ed.nvim.input("q")
    ed.wait(NO_FLOAT, what="q to close the float")
    assert ed.lua("return require('codetether.pending').is_pending(...)", gate) is True
    pending = home.json("approvals", "list")
    assert [p["id"] for p in pending] == [gate], pending

    ed.nvim.command("Codetether pending")
    ed.wait(float_shows("Objective: Ship done.txt"), what=":Codetether pending to reopen the float")
    the_float_is_accessible(okr_float(ed))

    home.cli("approvals", "allow", gate, check=True)  # decided elsewhere
    ed.wait(NO_FLOAT, what="the float to close on codetether/resolved")
    wait_run(ed, home, "/go completed: Ship done.txt")
    assert [r["status"] for r in home.json("okr", "runs")] == ["completed"]
    assert (home.workspace / "done.txt").exists()


def test_without_the_draft_the_float_shows_the_servers_detail(short_dir: Path) -> None:
    """An `okr` gate with no `okr` object (an older server): the float shows `detail`."""
    init = init_lua(short_dir / "init.lua", cmd=["false"], home=short_dir / "home", workspace=short_dir,
                    state=short_dir / "state")
    ed = Editor(init)
    try:
        ed.lua(OKR_LUA)
        ed.lua("""
            local p = { id = 'abc', kind = 'okr', title = 'Approve objective: Ship it',
                        detail = 'Ship it\\nKR1. tests pass (target 1, binary) — measured by command: pytest',
                        options = { 'Approve', 'Deny' } }
            require('codetether.pending').add_approval(p)
            require('codetether.approvals').on_approval(p)
        """)
        f = okr_float(ed)
        the_float_is_accessible(f)
        assert [line.strip() for line in f["lines"]] == [
            "Objective: Ship it", "", "KR1. tests pass (target 1, binary) — measured by command: pytest",
            "", FOOTER]
        ed.lua("require('codetether.pending').resolve('abc'); require('codetether.approvals').on_resolved({id = 'abc'})")
        assert ed.lua(f"return {NO_FLOAT}")
    finally:
        ed.close()


# Presses `a` in each OKR float as it opens and times the gate: from the notification
# reaching the client (pending.add_approval) to `codetether.approve`'s answer, which the
# server sends once the daemon has recorded the decision (approval/decide returned).
ROUND_TRIP_LUA = r"""
local t = _G.ct_test
t.gates = {}
local approvals = require('codetether.approvals')
local approve = approvals.approve
approvals.approve = function(id, cb)
  approve(id, function(err, result)
    local a = t.arrived[id]
    table.insert(t.gates, { id = id, ms = (vim.uv.hrtime() - a) / 1e6,
                            status = type(result) == 'table' and result.status or tostring(err) })
    if cb then cb(err, result) end
  end)
end
t.arrived = {}
function t.completed()
  local text = table.concat(require('codetether.chat').lines(), '\n')
  return select(2, text:gsub('/go completed: Bench gate', ''))
end
vim.api.nvim_create_autocmd('User', {
  pattern = 'CodetetherApproval',
  callback = function(ev)
    if ev.data.kind ~= 'okr' then return end
    t.arrived[ev.data.id] = require('codetether.pending').approvals[ev.data.id].arrived
    vim.schedule(function() vim.api.nvim_feedkeys('a', 'mx', false) end) -- the key, in the float
  end,
})
"""


@REAL_ONLY
def test_okr_gate_round_trip(start: Callable[..., Editor], home: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """Print (not assert) the gate's round trip over N `/go`s: notification in → decision recorded."""
    gates = int(os.environ.get("CT_BENCH_OKR_GATES", "20"))  # the bench asks for more
    # Every model call answers the draft: drafts parse, and a story agent's reply is just text
    # (its key results are measured by `true`, so each run completes).
    body = draft("Bench gate", ({"kind": "command", "command": "true"}, {"kind": "command", "command": "true"}))
    ed = start()
    home.script(fallback=body)
    auto_mode(home)
    ed.lua(OKR_LUA)
    ed.lua(ROUND_TRIP_LUA)
    for n in range(1, gates + 1):
        ed.nvim.command(f"Codetether chat /go bench {n}")
        ed.wait(f"#_G.ct_test.gates >= {n}", what=f"gate {n}")
        ed.wait(f"_G.ct_test.completed() >= {n}", timeout=60, what=f"run {n} to complete")
    samples = sorted(float(g["ms"]) for g in ed.lua("return _G.ct_test.gates"))
    assert {g["status"] for g in ed.lua("return _G.ct_test.gates")} == {"allow"}
    runs = home.json("okr", "runs")
    assert len(runs) == gates and {r["status"] for r in runs} == {"completed"}
    p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]
    with capsys.disabled():
        print(f"\n[neovim okr gate round trip, {len(samples)} gates] p50 {statistics.median(samples):.1f} ms, "
              f"p99 {p99:.1f} ms, min {samples[0]:.1f} ms, max {samples[-1]:.1f} ms")
