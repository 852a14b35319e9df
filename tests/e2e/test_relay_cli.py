"""`codetether run "/autochat ..."` and `codetether relay ...` through the real daemon on
the scripted model: live progress, the last baton on stdout, status/list/resume/cancel,
and bad input."""

from __future__ import annotations

import json
from typing import Any


def _profiles(*names: str) -> dict[str, Any]:
    return {"text": json.dumps({"profiles": [{"name": n, "instructions": f"be the {n}"} for n in names]})}


def test_autochat_runs_a_relay_and_relay_commands_show_it(home: Any) -> None:
    home.script(_profiles("planner", "coder"), "plan: write it",
                {"tool": "bash", "arguments": {"command": "echo hi >> out.txt"}}, "wrote out.txt\nAPPROVED")
    home.config_file.write_text(home.config_file.read_text() + '\n[permissions]\nmode = "auto"\n')
    proc = home.cli("run", "/autochat 2 write out.txt")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "wrote out.txt\nAPPROVED"
    err = proc.stderr
    assert "planner → coder" in err and "▶ round 1: planner" in err and "  coder: bash" in err
    assert "✓ planner → coder: plan: write it" in err and "completed (converged)" in err
    assert (home.workspace / "out.txt").read_text() == "hi\n"
    relay_id = err.split("relay ", 1)[1].split(":", 1)[0]

    status = home.json("relay", "status", relay_id)
    assert status["status"] == "completed" and [t["profile"] for t in status["turns"]] == ["planner", "coder"]
    assert [r["relay_id"] for r in home.json("relay", "list")] == [relay_id]
    text = home.cli("relay", "status", relay_id, check=True).stdout
    assert "1.2 coder" in text and "1 tool calls" in text and "APPROVED" in text
    listed = home.cli("relay", "list", check=True).stdout
    assert relay_id in listed and "completed (converged)" in listed
    resumed = home.cli("relay", "resume", relay_id, "--json", check=True)
    assert json.loads(resumed.stdout.splitlines()[-1])["status"] == "completed"
    assert "is not running" in home.cli("relay", "cancel", relay_id, check=True).stdout


def test_relay_bad_input_is_refused_clearly(home: Any) -> None:
    home.script()
    proc = home.cli("relay", "status", "r20260101-000000-abcdef")
    assert proc.returncode != 0 and "r20260101-000000-abcdef" in proc.stderr
    assert home.cli("relay", "status").returncode != 0
    assert home.cli("relay", "bogus").returncode == 2
    proc = home.cli("run", "/autochat")
    assert proc.returncode == 2 and "needs a task" in proc.stderr
    proc = home.cli("run", "/autochat 99 do it")
    assert proc.returncode == 2 and "between 1 and 8" in proc.stderr
