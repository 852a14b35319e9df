"""What trying the CLI as a new user found after the findings were fixed (2026-11-30),
each through the CLI subprocess against the real daemon."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def _cli_input(home, data: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(home.cli.__globals__["CLI"]), *args], cwd=home.workspace, env=home.env,
                          input=data, capture_output=True, timeout=120)


def test_stdin_that_is_not_utf8_is_read_with_replacements(home):  # C13
    home.script({"text": "read it"})
    proc = _cli_input(home, b"\xff\xfe bad bytes", "run", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    user = next(json.loads(line) for line in proc.stdout.splitlines() if json.loads(line)["type"] == "user")
    assert "\ufffd" in user["text"] and "bad bytes" in user["text"]


def test_a_failed_run_leaves_no_empty_session_for_continue(home):  # C16
    home.script({"text": "first answer"}, {"text": "follow-up answer"})
    assert home.cli("run", "hello").returncode == 0
    assert home.cli("run", "-m", "nosuchprovider/x", "oops").returncode == 2
    assert home.cli("run", " ").returncode == 2
    sessions = home.json("sessions", "list")
    assert len(sessions) == 1 and sessions[0]["message_count"] > 0
    proc = home.cli("run", "-c", "--json", "and then?")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]).get("session_id", sessions[0]["id"]) == sessions[0]["id"]
    assert home.json("sessions", "list")[0]["message_count"] > sessions[0]["message_count"]


def test_the_daemon_stopping_while_a_tool_runs_says_how_to_resume(home):  # C8
    home.script({"tool": "bash", "arguments": {"command": "codetether daemon stop; sleep 5"}},
                {"text": "never"})
    home.extra_env["PATH"] = f"{os.path.dirname(sys.executable)}:{os.environ.get('PATH', '')}"
    proc = home.cli("run", "--yes", "stop yourself")
    assert proc.returncode == 3, (proc.returncode, proc.stderr)
    assert "the daemon stopped during the run" in proc.stderr
    assert "codetether sessions resume" in proc.stderr and "Traceback" not in proc.stderr


def test_plain_status_says_degraded_and_events_show_says_there_is_more(home):  # R5, C4
    home.script(*({"tool": "todo_read", "arguments": {}} for _ in range(6)), {"text": "done"})
    assert home.cli("run", "--yes", "busy").returncode == 0
    sid = home.json("sessions", "list")[0]["id"]
    proc = home.cli("events", "show", sid, "--limit", "3")
    assert proc.returncode == 0 and len(proc.stdout.splitlines()) == 3
    assert "--from 3" in proc.stderr
    home.stop()
    events = home.root / "data" / "events"
    for child in events.iterdir():
        subprocess.run(["rm", "-rf", str(child)], check=True)
    events.rmdir()
    events.write_text("not a directory")
    home.script({"text": "x"})
    home.cli("run", "again")
    proc = home.cli("daemon", "status")
    assert proc.returncode == 0 and "degraded: events" in proc.stderr


def test_sessions_resume_needs_only_the_id(home):  # C14
    proc = home.cli("sessions", "resume")
    assert proc.returncode == 2 and proc.stderr.endswith("the following arguments are required: id\n")


def test_archive_without_credentials_is_a_missing_key_with_a_hint(home, short_dir):
    pytest.importorskip("boto3", reason="the [archive] extra is not installed")
    home.script({"text": "x"})
    assert home.cli("run", "hi").returncode == 0
    sid = home.json("sessions", "list")[0]["id"]
    home.stop()
    home.write_config(home.config_file.read_text() + '\n[archive]\nenabled = true\nbucket = "b"\n'
                      'endpoint_url = "http://127.0.0.1:9"\n')
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        home.extra_env[name] = ""
    home.extra_env["HOME"] = str(short_dir)  # no ~/.aws
    home.extra_env["AWS_CONFIG_FILE"] = home.extra_env["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent"
    proc = home.cli("events", "archive", sid)
    assert proc.returncode == 6, (proc.returncode, proc.stderr)
    assert "secret/codetether/providers/archive" in proc.stderr


def test_an_unknown_flag_is_reported_by_its_subcommand(home):  # C14
    proc = home.cli("run", "--bogus", "x")
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage: codetether run ") and "unrecognized arguments: --bogus" in proc.stderr
    proc = home.cli("sessions", "resume", "abc", "--jsn")
    assert "usage: codetether sessions resume" in proc.stderr and "did you mean --json?" in proc.stderr
