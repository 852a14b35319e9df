"""`codetether ralph` through the real daemon: create-prd drafts a prd.json, run works
through it (a failing test check, then a passing one, a commit), status, Ctrl-C cancels,
and bad input is refused clearly."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

CLI = str(Path(sys.executable).parent / "codetether")

_PRD = {"project": "whatever", "feature": "hello", "auto_commit": True,
        "quality_checks": {"typecheck": None, "lint": "true", "test": "test -f hello.txt", "build": None},
        "user_stories": [{"id": "US-001", "title": "Write hello", "description": "create hello.txt",
                          "acceptance_criteria": ["hello.txt says hi"],
                          "verification_steps": ["$ grep -q hi hello.txt", "Someone reads it"],
                          "priority": 1, "depends_on": [], "passes": False, "complexity": 1}]}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def _repo(path: Path) -> None:
    _git(path, "init", "-q", "-b", "main")
    _git(path, "config", "user.email", "t@example.com")
    _git(path, "config", "user.name", "t")
    (path / "README").write_text("base\n")
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "base")


def _auto(home: Any) -> None:
    home.config_file.write_text(home.config_file.read_text() + '\n[permissions]\nmode = "auto"\n')


def test_create_prd_then_run_fail_then_pass_then_status(home: Any) -> None:
    _repo(home.workspace)
    home.script("```json\n" + json.dumps(_PRD) + "\n```",
                "Nothing to do yet, I think.",
                {"tool": "write_file", "arguments": {"path": "hello.txt", "content": "hi\n"}}, "wrote hello.txt")
    _auto(home)
    made = home.cli("ralph", "create-prd", "--feature", "hello", "--project-name", "demo", check=True)
    assert f"wrote {home.workspace / 'prd.json'}: demo — hello, 1 stories" in made.stdout
    assert json.loads((home.workspace / "prd.json").read_text())["project"] == "demo"
    again = home.cli("ralph", "create-prd", "--feature", "hello")
    assert again.returncode != 0 and "exists" in again.stderr

    proc = home.cli("ralph", "run", "--max-iterations", "3")
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    assert "▶ iteration 1: US-001 Write hello" in err and "  check test failed (exit 1)" in err
    assert "✗ US-001 failed: test failed" in err and "▶ iteration 2: US-001" in err
    assert "  US-001: write_file" in err and "  check verify[2] manual" in err and "✓ US-001 passes" in err
    assert "committed" in err and "ralph completed: 1 of 1 stories pass" in err
    assert ": completed: 1 of 1 stories pass after 2 iterations" in proc.stdout
    assert "2. US-001     passed, commit" in proc.stdout
    assert json.loads((home.workspace / "prd.json").read_text())["user_stories"][0]["passes"] is True
    progress = (home.workspace / "progress.txt").read_text()
    assert "Iteration 1: US-001 Write hello: failed" in progress and "Iteration 2: US-001 Write hello: passed" in progress
    assert _git(home.workspace, "log", "--format=%s", "-1").strip() == "ralph: US-001 Write hello"

    text = home.cli("ralph", "status", check=True).stdout
    assert "✓ US-001" in text and "1 of 1 stories pass" in text and "last run: completed, 2 of 3 iterations" in text
    status = home.json("ralph", "status", "--prd", str(home.workspace / "prd.json"))
    assert status["passed"] == 1 and status["run"]["status"] == "completed"
    # by id too; and a run with nothing left to do is a completed run of 0 iterations
    assert home.json("ralph", "status", "--prd", status["prd_id"])["prd_path"] == status["prd_path"]
    lines = [json.loads(line) for line in home.cli("ralph", "run", "--json", check=True).stdout.splitlines()]
    assert {line["type"] for line in lines[:-1]} == {"ralph_event"}
    assert lines[-1]["type"] == "result" and lines[-1]["status"] == "completed" and lines[-1].get("iteration", 0) == 0


def test_ctrl_c_cancels_the_run(home: Any) -> None:
    (home.workspace / "prd.json").write_text(json.dumps(_PRD))
    home.script({"tool": "bash", "arguments": {"command": "echo hi > hello.txt"}})  # waits for an approval
    with subprocess.Popen([CLI, "ralph", "run", "--prd", "prd.json"], cwd=home.workspace, env=home.env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL) as proc:
        try:
            assert proc.stderr is not None
            for line in proc.stderr:  # the handshake: the agent is waiting on its approval
                if "asks to run" in line:
                    break
            else:
                raise AssertionError(f"no approval line; exit {proc.wait()}")
            proc.send_signal(signal.SIGINT)
            rest = proc.stderr.read()
            assert proc.wait(timeout=60) == 130 and "cancelled; what passes is saved" in rest
        finally:
            if proc.poll() is None:
                proc.kill()
    status = home.json("ralph", "status")
    assert status["run"]["status"] == "cancelled" and status["next_story"] == "US-001"
    assert "Iteration 1: US-001 Write hello: cancelled" in (home.workspace / "progress.txt").read_text()


def test_bad_input_is_refused_clearly(home: Any) -> None:
    home.script()
    proc = home.cli("ralph", "run", "--prd", "missing.json")
    assert proc.returncode != 0 and "missing.json does not exist" in proc.stderr
    proc = home.cli("ralph", "run", "--max-iterations", "0")
    assert proc.returncode == 2 and "must be at least 1" in proc.stderr
    proc = home.cli("ralph", "create-prd")
    assert proc.returncode == 2 and "--feature" in proc.stderr
    (home.workspace / "prd.json").write_text(json.dumps({**_PRD, "user_stories": [
        {"id": "A", "title": "a", "depends_on": ["B"]}, {"id": "B", "title": "b", "depends_on": ["A"]}]}))
    proc = home.cli("ralph", "run")
    assert proc.returncode != 0 and "in a circle: A -> B -> A" in proc.stderr
    proc = home.cli("ralph", "status", "--prd", "prd-000000000000")
    assert proc.returncode != 0 and "no PRD known as 'prd-000000000000'" in proc.stderr
    # a model that cannot draft a PRD: a clear error, no file
    home.script("no JSON here", "nor here")
    proc = home.cli("ralph", "create-prd", "--feature", "x", "--out", "other.json")
    assert proc.returncode != 0 and "did not draft a valid PRD" in proc.stderr
    assert not (home.workspace / "other.json").exists()


def test_run_parallel_runs_ready_stories_together_in_worktrees(home: Any) -> None:
    _repo(home.workspace)
    stories = [{"id": sid, "title": f"write {sid}", "priority": i, "verification_steps": [f"$ test -f {sid}.txt"]}
               for i, sid in enumerate(("A", "B"), 1)]
    stories.append({"id": "C", "title": "after both", "depends_on": ["A", "B"], "verification_steps": ["$ true"]})
    (home.workspace / "prd.json").write_text(json.dumps({"project": "p", "feature": "f", "auto_commit": True,
                                                         "user_stories": stories}))
    # the two writes are interchangeable between the parallel agents: checks run after the merges
    home.script({"tool": "write_file", "arguments": {"path": "A.txt", "content": "a\n"}},
                {"tool": "write_file", "arguments": {"path": "B.txt", "content": "b\n"}}, fallback="done")
    _auto(home)
    proc = home.cli("ralph", "run", "--parallel", "2", "--max-iterations", "2")
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    assert "▶ iteration 1: 2 stories in parallel, each in its own worktree: A, B" in err
    assert "  merge A: merged" in err and "  merge B: merged" in err and "▶ iteration 2: C after both" in err
    assert ": completed: 3 of 3 stories pass after 2 iterations" in proc.stdout
    assert "1. A          passed" in proc.stdout and "1. B          passed" in proc.stdout
    assert _git(home.workspace, "log", "--first-parent", "--format=%s", "-2").split("\n")[:2] == [
        "ralph: C after both", "ralph: A, B"]
    proc = home.cli("ralph", "run", "--parallel", "0")
    assert proc.returncode == 2 and "must be at least 1" in proc.stderr
