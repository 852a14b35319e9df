"""The real daemon, driven by the `codetether` CLI as a subprocess."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).parent / "codetether")


def _events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_run_streams_text_and_json_events(home):
    home.script({"text": "Hello from the script."}, {"text": "Second answer."})
    proc = home.cli("run", "say hello")
    assert proc.returncode == 0, proc.stderr
    assert "Hello from the script." in proc.stdout
    assert "session " in proc.stderr

    proc = home.cli("run", "--continue", "--json", "again")
    assert proc.returncode == 0, proc.stderr
    events = _events(proc.stdout)
    kinds = [e["type"] for e in events]
    assert "text" in kinds and kinds[-2:] == ["done", "result"]
    assert "".join(e["text"] for e in events if e["type"] == "text") == "Second answer."
    result = events[-1]
    assert result["stop_reason"] == "end_turn"
    # --continue reused the first session: it now holds both exchanges.
    detail = home.json("sessions", "show", result["session_id"])
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant", "user", "assistant"]


def test_tool_call_approved_with_yes_writes_the_file(home):
    home.script({"tool": "write_file", "arguments": {"path": "out.txt", "content": "hi\n"}},
                {"text": "Wrote it."})
    proc = home.cli("run", "--yes", "write out.txt")
    assert proc.returncode == 0, proc.stderr
    assert (home.workspace / "out.txt").read_text() == "hi\n"
    assert "write_file" in proc.stderr and "Wrote it." in proc.stdout


def test_ask_mode_without_a_terminal_denies_and_writes_nothing(home):
    home.script({"tool": "write_file", "arguments": {"path": "out.txt", "content": "x"}},
                {"text": "Could not write."})
    proc = home.cli("run", "--json", "write out.txt")
    assert proc.returncode == 0, proc.stderr
    assert not (home.workspace / "out.txt").exists()
    events = _events(proc.stdout)
    request = next(e for e in events if e["type"] == "approval_request")
    assert request["tool"] == "write_file" and request["subject"] == "out.txt"
    end = next(e for e in events if e["type"] == "tool_call_end")
    assert end["is_error"] and "Permission denied" in end["output"]
    receipts = home.json("approvals", "list")
    assert receipts == []  # decided, so no longer pending


def test_broken_tool_json_and_unknown_tool_get_tool_errors_and_the_loop_goes_on(home):
    home.script({"tool": "read_file", "arguments": '{"path": "a.txt"'},
                {"tool": "no_such_tool", "arguments": {}},
                {"text": "Recovered."})
    proc = home.cli("run", "--json", "read it")
    assert proc.returncode == 0, proc.stderr
    ends = [e for e in _events(proc.stdout) if e["type"] == "tool_call_end"]
    assert len(ends) == 2 and all(e["is_error"] for e in ends)
    assert "not valid JSON" in ends[0]["output"]
    assert "Unknown tool 'no_such_tool'" in ends[1]["output"]
    assert _events(proc.stdout)[-1]["text"] == "Recovered."


def test_workspace_escape_is_refused(home, short_dir):
    secret = short_dir / "secret.txt"
    secret.write_text("top secret")
    (home.workspace / "link").symlink_to(secret)
    home.script({"tool": "read_file", "arguments": {"path": "../secret.txt"}},
                {"tool": "read_file", "arguments": {"path": "link"}},
                {"tool": "write_file", "arguments": {"path": "../evil.txt", "content": "x"}},
                {"text": "ok"})
    proc = home.cli("run", "--yes", "--json", "escape")
    assert proc.returncode == 0, proc.stderr
    ends = [e for e in _events(proc.stdout) if e["type"] == "tool_call_end"]
    assert len(ends) == 3
    for end in ends:
        assert end["is_error"] and "outside the workspace" in end["output"]
        assert "top secret" not in end["output"]
    assert not (short_dir / "evil.txt").exists()


def test_sessions_list_show_fork_delete(home):
    home.script({"text": "one"}, {"text": "two"})
    home.cli("run", "first", check=True)
    sid = home.json("sessions", "list")[0]["id"]
    home.cli("run", "--session", sid, "second", check=True)
    assert home.json("sessions", "show", sid)["info"]["message_count"] == 4

    fork = home.json("sessions", "fork", sid, "--at", "2")
    assert fork["parent_id"] == sid and fork["message_count"] == 2
    ids = {s["id"] for s in home.json("sessions", "list")}
    assert ids == {sid, fork["id"]}

    assert home.json("sessions", "delete", fork["id"]) == {"deleted": True}
    proc = home.cli("sessions", "show", fork["id"])
    assert proc.returncode == 4 and "no session" in proc.stderr
    proc = home.cli("run", "--session", "nope", "x", "--json")
    assert proc.returncode == 4 and json.loads(proc.stdout)["error"]["code"] == -31001


def test_models_tools_and_config(home):
    home.script({"text": "x"})
    models = home.json("models")
    assert models[0]["default"] and models[0]["id"] == "scripted/scripted"
    assert any(m["id"] == "embedded/smollm2-135m" and m["configured"] for m in models)
    assert any(m["id"] == "embedded/gemma3-270m" for m in models)  # every model `models pull` fetches
    assert any(m["id"].startswith("anthropic/") for m in models)

    tools = {t["name"]: t for t in home.json("tools")}
    for name in ("read_file", "write_file", "edit", "multiedit", "apply_patch", "glob", "list_dir",
                 "grep", "codesearch", "bash", "batch", "todo_read", "todo_write", "question",
                 "plan_enter", "plan_exit", "webfetch", "websearch"):
        assert tools[name]["parameters"]["type"] == "object", name
    assert tools["read_file"]["read_only"] and not tools["bash"]["read_only"]

    shown = home.json("config", "--show")
    assert shown["config"]["default"]["provider"] == "scripted"
    changed = home.json("config", "--set", "session.max_steps=7")
    assert changed["config"]["session"]["max_steps"] == 7
    assert "max_steps = 7" in home.config_file.read_text()

    before = home.config_file.read_text()
    proc = home.cli("config", "--set", "session.max_steps=many")
    assert proc.returncode == 5 and "session.max_steps" in proc.stderr
    assert home.config_file.read_text() == before
    proc = home.cli("config", "--set", "nonsense")
    assert proc.returncode == 2


def test_bad_config_file_is_reported_by_every_command_and_refuses_runs(home):
    # S2 (CLI side): the daemon serves status, the CLI says what is wrong and exits 5.
    home.write_config('[session]\nmax_steps = "lots"\nmystery = 1\n')
    proc = home.cli("daemon", "start")
    assert proc.returncode == 5 and "session.max_steps" in proc.stderr and ":2:" in proc.stderr
    proc = home.cli("daemon", "status", "--json")
    status = json.loads(proc.stdout)
    assert proc.returncode == 5 and status["running"]
    assert "session.max_steps" in status["config_error"] and ":2:" in status["config_error"]
    proc = home.cli("run", "--yes", "anything")
    assert proc.returncode == 5 and "session.max_steps" in proc.stderr
    proc = home.cli("config", "--show")
    assert proc.returncode == 5 and "runs are refused" in proc.stderr

    home.write_config('[session]\nmax_steps = 3\nmystery = 1\n')
    deadline = time.monotonic() + 20
    while home.cli("daemon", "status").returncode != 0:  # hot reload
        assert time.monotonic() < deadline, "config was not reloaded"
    shown = home.json("config", "--show")
    assert shown["config"]["session"]["max_steps"] == 3
    assert any("unknown key 'session.mystery'" in w for w in shown["warnings"])

    home.write_config("[session\nmax_steps = 4\n")  # broken TOML: refused again, loudly
    while home.cli("daemon", "status").returncode != 5:
        assert time.monotonic() < deadline + 20, "the broken reload was not reported"
    proc = home.cli("config", "--show", "--json")
    assert proc.returncode == 5 and json.loads(proc.stdout)["config"]["session"]["max_steps"] == 3


def test_daemon_lifecycle_and_exit_codes(home):
    proc = home.cli("daemon", "status", "--json")
    assert proc.returncode == 3 and json.loads(proc.stdout)["running"] is False
    assert home.cli("daemon", "stop").returncode == 0  # nothing to stop is fine

    started = home.json("daemon", "start")
    assert started["pid"] == home.daemon_pid()
    status = home.json("daemon", "status")
    assert status["pid"] == started["pid"] and status["socket"].endswith("daemon.sock")
    sock = home.root / "run" / "daemon.sock"
    assert sock.stat().st_mode & 0o777 == 0o600

    assert home.json("daemon", "start")["pid"] == started["pid"]  # single instance
    logs = home.json("daemon", "logs")
    assert any("listening on" in line for line in logs)

    stopped = home.json("daemon", "stop")
    assert stopped["stopped"] and not sock.exists() and home.daemon_pid() is None
    assert home.cli("run", "--bogus-flag", "x").returncode == 2


def test_auto_save_off_keeps_sessions_in_memory_only(home):
    home.script({"text": "ephemeral"})
    home.write_config(home.config_file.read_text().replace(
        "[providers.scripted]", "[session]\nauto_save = false\n\n[providers.scripted]"))
    home.cli("run", "hello", check=True)
    assert len(home.json("sessions", "list")) == 1
    sessions_dir = home.root / "data" / "sessions"
    assert not sessions_dir.exists() or not any(sessions_dir.iterdir())


@pytest.mark.parametrize(("answer", "written"), [("y", True), ("n", False)])
def test_interactive_prompt_decides_the_approval(home, answer, written):
    script = shutil.which("script")  # util-linux: runs the CLI on a real pseudo-terminal
    if script is None:
        pytest.skip("needs util-linux `script` for a pty")
    home.script({"tool": "write_file", "arguments": {"path": "out.txt", "content": "hi\n"}},
                {"text": "finished"})
    cmd = f"{shlex.quote(CLI)} run 'write out.txt'"
    proc = subprocess.run([script, "-qec", cmd, "/dev/null"], input=f"{answer}\n", text=True,
                          capture_output=True, env=home.env, cwd=home.workspace, timeout=120)
    assert proc.returncode == 0, proc.stdout
    assert "Allow write_file out.txt? [y/N]" in proc.stdout
    assert (home.workspace / "out.txt").exists() is written
    tool = home.json("sessions", "show", home.json("sessions", "list")[0]["id"])["messages"][2]
    assert tool["role"] == "tool" and (("Permission denied" in tool["content"]) is not written)


def test_bash_resource_limits_come_from_the_config(home):
    home.script({"tool": "bash", "arguments": {"command": "ulimit -v; ulimit -f"}}, {"text": "ok"})
    home.write_config(home.config_file.read_text().replace(
        "[providers.scripted]", "[tools]\nbash_memory_mb = 512\nbash_file_size_mb = 2\n\n[providers.scripted]"))
    proc = home.cli("run", "--yes", "--json", "limits")
    assert proc.returncode == 0, proc.stderr
    end = next(json.loads(line) for line in proc.stdout.splitlines()
               if json.loads(line)["type"] == "tool_call_end")
    # bash reports both limits in KiB.
    assert str(512 * 1024) in end["output"] and str(2 * 1024) in end["output"]
