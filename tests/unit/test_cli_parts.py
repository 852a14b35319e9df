"""The CLI's pure parts: approval previews, rule merging, stdin prompts, event rendering,
suggestions, and what the hot path imports."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from codetether.daemon.cli.args import _did_you_mean, build_parser
from codetether.daemon.cli.config_cmd import to_toml
from codetether.daemon.cli.preview import approval_preview
from codetether.daemon.cli.render import EventPrinter
from codetether.daemon.cli.run import UsageError, read_prompt


def test_c15_preview_of_write_file_diffs_against_the_file(tmp_path):  # C15
    (tmp_path / "a.txt").write_text("one\ntwo\n")
    text = approval_preview("write_file", json.dumps({"path": "a.txt", "content": "one\nthree\n"}),
                            str(tmp_path))
    assert "-two" in text and "+three" in text and "a/a.txt" in text
    new = approval_preview("write_file", json.dumps({"path": "b.txt", "content": "x\n"}), str(tmp_path))
    assert "/dev/null" in new and "+x" in new


def test_c15_preview_of_edit_multiedit_patch_and_bash(tmp_path):  # C15
    (tmp_path / "m.py").write_text("a = 1\nb = 2\n")
    edit = approval_preview("edit", json.dumps({"path": "m.py", "old_string": "a = 1",
                                                "new_string": "a = 10"}), str(tmp_path))
    assert "-a = 1" in edit and "+a = 10" in edit
    multi = approval_preview("multiedit", json.dumps({"edits": [
        {"path": "m.py", "old_string": "a = 1", "new_string": "a = 5"},
        {"path": "m.py", "old_string": "b = 2", "new_string": "b = 6"}]}), str(tmp_path))
    assert "+a = 5" in multi and "+b = 6" in multi
    patch = "--- a/m.py\n+++ b/m.py\n@@ -1 +1 @@\n-a = 1\n+a = 2\n"
    assert "+a = 2" in approval_preview("apply_patch", json.dumps({"patch": patch}), str(tmp_path))
    assert approval_preview("bash", json.dumps({"command": "make test"}), None) == "  $ make test"
    assert approval_preview("read_file", json.dumps({"path": "m.py"}), str(tmp_path)) == ""
    assert approval_preview("write_file", "{not json", str(tmp_path)) == ""


def test_c15_preview_does_not_read_outside_the_workspace(tmp_path):  # C15
    ws = tmp_path / "ws"
    ws.mkdir()
    (tmp_path / "secret").write_text("top secret\n")
    text = approval_preview("write_file", json.dumps({"path": "../secret", "content": "x\n"}), str(ws))
    assert "top secret" not in text and "+x" in text


def test_c15_a_long_diff_is_clipped(tmp_path):  # C15
    text = approval_preview("write_file", json.dumps({"path": "big", "content": "x\n" * 500}),
                            str(tmp_path))
    assert len(text.splitlines()) <= 81 and "more lines" in text


def test_c17_show_is_toml_without_nulls():  # C17
    import tomllib

    text = to_toml({"path": "/x/config.toml", "config": {"default": {"provider": "p", "model": None},
                                                         "session": {"max_steps": 3}}})
    assert tomllib.loads(text) == {"default": {"provider": "p"}, "session": {"max_steps": 3}}


def test_c13_read_prompt(tmp_path):  # C13
    stdin = tmp_path / "in.txt"
    stdin.write_text("context line\n")
    with open(stdin) as fh:
        assert read_prompt(["-"], fh) == ("context line", True)
    with open(stdin) as fh:
        assert read_prompt(["explain"], fh) == ("explain\n\ncontext line", True)
    with open(os.devnull) as fh:  # /dev/null is not piped input
        assert read_prompt(["explain", "this"], fh) == ("explain this", False)
    (tmp_path / "empty").write_text("")
    with open(tmp_path / "empty") as fh, pytest.raises(UsageError):
        read_prompt(["-"], fh)


def _printer(**kw) -> tuple[EventPrinter, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return EventPrinter(as_json=False, out=out, err=err, progress=False, **kw), out, err


def test_c11_notices_and_c9_errors_are_shown():  # C11, C9
    printer, out, err = _printer()
    printer.event("s", 0, {"type": "notice", "text": "@missing.py: no such file", "level": "warning"})
    printer.event("s", 1, {"type": "error", "code": -31004, "message": "model failed"})
    assert err.getvalue() == "warning: @missing.py: no such file\nerror: model failed\n"
    assert printer.errors == ["model failed"]


def test_c15_tool_output_streams_and_is_not_repeated():  # C15
    printer, out, err = _printer()
    printer.event("s", 0, {"type": "tool_call_start", "call_id": "c1", "name": "bash",
                           "arguments": '{"command": "ls"}'})
    printer.event("s", 1, {"type": "tool_output", "call_id": "c1", "text": "a\nb", "stream": "stdout"})
    printer.event("s", 2, {"type": "tool_call_end", "call_id": "c1", "name": "bash",
                           "output": "a\nb\n[exit code: 0]", "is_error": False})
    assert err.getvalue().splitlines() == ['⚙ bash {"command": "ls"}', "a", "b", "  ✓"]
    printer.event("s", 3, {"type": "progress", "phase": "prompt", "tokens": 10})  # a pipe: nothing
    assert out.getvalue() == "" and "prompt" not in err.getvalue()


def test_c16_limits_are_said():  # C16
    printer, _, err = _printer()
    printer.result({"session_id": "s1", "stop_reason": "max_steps", "steps": 4})
    assert "stopped at the step limit (4 steps); continue with `codetether run -c`" in err.getvalue()


def test_c14_did_you_mean():  # C14
    message = "argument COMMAND: invalid choice: 'sesions' (choose from 'run', 'sessions')"
    assert _did_you_mean(message).endswith("did you mean 'sessions'?")
    assert _did_you_mean("argument COMMAND: invalid choice: 'zzz' (choose from 'run')").endswith("'run')")
    assert build_parser(["sessions"]).parse_args(["sessions", "list", "--limit", "0"]).limit == 0


def test_c15_the_status_path_imports_nothing_heavy():  # C15
    # `daemon status --json` must stay near `python -c pass`: no rich, msgspec or difflib.
    code = ("import sys; from codetether.daemon.cli import main as m; from codetether.daemon.cli import "
            "args; args.build_parser(['daemon', 'status', '--json']); import codetether.daemon.cli.main; "
            "print(sorted(n for n in ('rich', 'msgspec', 'difflib', 'tomllib', 'tomlkit', 'typing') "
            "if n in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]", proc.stdout


def test_c15_a_ctrl_c_while_the_spinner_starts_leaves_nothing_to_crash_on(monkeypatch):
    # Found by CI on a clean clone: Ctrl-C landed inside rich's Live.start(); the cancel path
    # then stopped the half-started spinner and rich raised IndexError (a traceback, exit 1).
    import io

    import rich.console
    from codetether.daemon.cli import render

    class Interrupted:
        def start(self):
            raise KeyboardInterrupt

    class Console:
        def __init__(self, **_kwargs):
            pass

        def status(self, *_args, **_kwargs):
            return Interrupted()

    monkeypatch.setattr(rich.console, "Console", Console)
    spinner = render.Spinner(io.StringIO())
    with pytest.raises(KeyboardInterrupt):
        spinner.show("reading 4035 prompt tokens…")
    spinner.hide()  # nothing half-made to stop: no IndexError


def test_the_whole_parser_builds_every_command_once() -> None:
    """`codetether --help` and a typo build every subcommand: each must register once."""
    from codetether.daemon.cli.args import build_parser

    parser = build_parser(None)
    choices = next(a for a in parser._actions if a.dest == "command").choices  # noqa: SLF001
    assert {"swarm", "bus", "agents", "worker", "workers", "okr", "ralph", "relay"} <= set(choices)
