"""`codetether swarm` through the real daemon: a plan in two stages on a git workspace,
live progress, the answer, status/list/resume/cancel, and bad input."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def _repo(path: Path) -> None:
    _git(path, "init", "-q", "-b", "main")
    _git(path, "config", "user.email", "t@example.com")
    _git(path, "config", "user.name", "t")
    (path / "README").write_text("base\n")
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "base")


def _plan(*subtasks: dict[str, Any]) -> dict[str, Any]:
    return {"text": json.dumps({"subtasks": list(subtasks)})}


def _script_auto(home: Any, *turns: Any) -> None:
    home.script(*turns)
    home.config_file.write_text(home.config_file.read_text() + '\n[permissions]\nmode = "auto"\n')


def test_swarm_runs_stages_merges_and_answers(home: Any) -> None:
    _repo(home.workspace)
    _script_auto(home,
                 _plan({"name": "docs", "instruction": "write docs", "needs_worktree": True},
                       {"name": "review", "instruction": "review docs", "dependencies": ["docs"]}),
                 {"tool": "write_file", "arguments": {"path": "DOCS.md", "content": "# docs\n"}},
                 "wrote DOCS.md", "the docs read well", "Docs written and reviewed.")
    proc = home.cli("swarm", "--concurrency", "1", "document the project")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "Docs written and reviewed."
    err = proc.stderr
    assert "plan: stage 1: docs  →  stage 2: review" in err
    assert "▶ docs" in err and "  docs: write_file" in err and "✓ docs done" in err and "✓ review done" in err
    assert "merged: docs merged" in err
    assert (home.workspace / "DOCS.md").read_text() == "# docs\n"
    assert _git(home.workspace, "status", "--porcelain") == ""
    swarm_id = err.split("swarm ", 1)[1].split(":", 1)[0]

    status = home.json("swarm", "status", swarm_id)
    assert status["status"] == "completed" and status["results"]["docs"]["diff"]["files"][0]["path"] == "DOCS.md"
    listed = home.json("swarm", "list")
    assert [s["id"] for s in listed] == [swarm_id]
    text = home.cli("swarm", "status", swarm_id, check=True).stdout
    assert "docs" in text and "done" in text and "1 files +1 -0" in text
    # resuming a completed swarm changes nothing; cancelling one that is not running says so
    resumed = home.cli("swarm", "resume", swarm_id, "--json", check=True)
    assert json.loads(resumed.stdout.splitlines()[-1])["status"] == "completed"
    assert "is not running" in home.cli("swarm", "cancel", swarm_id, check=True).stdout


def test_swarm_json_streams_events_then_the_state(home: Any) -> None:
    _script_auto(home, "not a plan at all", "still not a plan", "did the whole thing", "Done.")
    proc = home.cli("swarm", "--json", "do it")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert {line["type"] for line in lines[:-1]} == {"swarm_event"}
    final = lines[-1]
    assert final["type"] == "result" and final["status"] == "completed" and final["answer"] == "Done."
    # an unusable plan, even after one repair, falls back to the task as one subtask
    assert final["stages"] == [["task"]] and final["results"]["task"]["output"] == "did the whole thing"


def test_swarm_bad_input_is_refused_clearly(home: Any) -> None:
    home.script()
    proc = home.cli("swarm", "status", "sw_missing")
    assert proc.returncode != 0 and "sw_missing" in proc.stderr
    proc = home.cli("swarm", "--max-subagents", "0", "x")
    assert proc.returncode == 2 and "max-subagents" in proc.stderr
    proc = home.cli("swarm", "--execution", "cluster", "x")
    assert proc.returncode != 0 and "NATS" in proc.stderr
    proc = home.cli("swarm", "--strategy", "bogus", "x")
    assert proc.returncode == 2
