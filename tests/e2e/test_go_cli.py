"""`/go` through the CLI on a real pseudo-terminal: the drafted objective shown, deny
with a reason (drafted again), approve, the PRD loop, every key result measured; and
without a terminal the gate fails closed."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from .conftest import CLI
from .test_cli_tty import SCRIPT, Terminal


def _draft(title: str) -> dict[str, Any]:
    return {"text": json.dumps({
        "title": title, "description": "a file that says it is done",
        "key_results": [
            {"title": "done.txt exists", "metric_type": "binary", "evidence": {"kind": "file", "path": "done.txt"}},
            {"title": "it says done", "metric_type": "binary",
             "evidence": {"kind": "command", "command": "grep -q done done.txt"}}]})}


def _script(home: Any, *turns: Any) -> None:
    home.script(*turns)
    home.config_file.write_text(home.config_file.read_text() + '\n[permissions]\nmode = "auto"\n')


@pytest.mark.skipif(SCRIPT is None, reason="needs util-linux `script` for a pty")
def test_go_on_a_terminal_deny_redraft_approve_and_ship(home: Any) -> None:
    _script(home, _draft("Too vague"), _draft("Ship done.txt"),
            {"tool": "write_file", "arguments": {"path": "done.txt", "content": "done\n"}}, "wrote it", "holds")
    term = Terminal(home, "run", "/go ship a done file")
    try:
        term.expect("Objective draft 1:\r\n  Too vague")
        term.expect("KR1. done.txt exists (target 1, binary) — measured by file: done.txt")
        term.expect("KR2. it says done (target 1, binary) — measured by command: grep -q done done.txt")
        term.expect("Approve objective 'Too vague' and start? [y/N]")
        term.type("n\r")
        term.expect("Why not? (it is drafted again with your reason)")
        term.type("say which file\r")
        term.expect("Objective draft 2:\r\n  Ship done.txt")
        term.expect("Approve objective 'Ship done.txt' and start? [y/N]")
        term.type("y\r")
        term.expect("/go completed: Ship done.txt")
        assert term.finish() == 0, term.output
    finally:
        term.kill()
    assert "Denied by" in term.output and "say which file" in term.output
    assert (home.workspace / "done.txt").read_text() == "done\n"
    runs = home.json("okr", "runs")
    assert [r["status"] for r in runs] == ["completed"]
    assert runs[0]["approval"]["decision"] == "approve" and set(runs[0]["kr_progress"].values()) == {1.0}


def test_go_without_a_terminal_waits_for_a_decision_made_elsewhere(home: Any) -> None:
    """No terminal: the gate is not answered for the user; it waits, and a decision made
    from another process (an editor, a script) lets the run go on."""
    _script(home, _draft("Ship done.txt"),
            {"tool": "write_file", "arguments": {"path": "done.txt", "content": "done\n"}}, "wrote it", "holds")
    run = subprocess.Popen([CLI, "run", "/go ship it"], env=home.env, cwd=home.workspace, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        assert run.stderr is not None
        line = ""
        while "waiting for a decision" not in line:
            line = run.stderr.readline()
            assert line, "the run ended without waiting at the gate"
        approval_id = line.split("codetether approvals allow ", 1)[1].split("`", 1)[0]
        assert not (home.workspace / "done.txt").exists()  # nothing ran before the decision
        pending = home.json("approvals", "list")
        assert [(a["id"], a["tool"]) for a in pending] == [(approval_id, "okr")]
        home.cli("approvals", "allow", approval_id, check=True)
        out, _ = run.communicate(timeout=120)
        assert run.returncode == 0 and "/go completed: Ship done.txt" in out
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert (home.workspace / "done.txt").read_text() == "done\n"
    assert [r["status"] for r in home.json("okr", "runs")] == ["completed"]
