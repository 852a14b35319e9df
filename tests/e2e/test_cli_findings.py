"""The CLI findings of 2026-11-30 (S1, C1-C17), each through the `codetether` subprocess
against the real daemon and a scripted model."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

CLI = str(Path(sys.executable).parent / "codetether")


def _events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def _closed_stdout(home, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI with a stdout pipe whose reader is already gone (`| head` that quit)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([CLI, *args], cwd=home.workspace, env=home.env, stdout=write_end,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, timeout=120)
    finally:
        os.close(write_end)


def test_s1_yes_with_plan_or_ask_is_a_usage_error_and_writes_nothing(home):
    home.script({"tool": "write_file", "arguments": {"path": "out.txt", "content": "x"}},
                {"text": "wrote"})
    for mode in ("plan", "ask"):
        proc = home.cli("run", "--approval-mode", mode, "--yes", "write out.txt")
        assert proc.returncode == 2, proc.stderr
        assert f"contradicts --approval-mode {mode}" in proc.stderr
    assert not (home.workspace / "out.txt").exists()
    assert home.json("sessions", "list") == []  # refused before anything started


def test_s1_plan_mode_stays_read_only(home):
    home.script({"tool": "write_file", "arguments": {"path": "out.txt", "content": "x"}},
                {"text": "could not"})
    proc = home.cli("run", "--approval-mode", "plan", "--json", "write out.txt")
    assert proc.returncode == 0, proc.stderr
    assert not (home.workspace / "out.txt").exists()
    end = next(e for e in _events(proc.stdout) if e["type"] == "tool_call_end")
    assert end["is_error"]


def test_c1_a_closed_stdout_ends_quietly(home):  # C1
    home.script({"text": "a long answer"}, {"text": "another"})
    for args in (("tools", "--json"), ("sessions", "list", "--all"), ("run", "--json", "hi"),
                 ("run", "hello")):
        proc = _closed_stdout(home, *args)
        assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, (args, proc.stderr)
        assert proc.returncode == 141, (args, proc.returncode, proc.stderr)
    # The daemon is fine afterwards.
    assert home.json("daemon", "status")["running"]


def test_c2_events_reconstruct_prints_the_conversation(home):  # C2
    home.script({"tool": "bash", "arguments": {"command": "echo one; echo two"}},
                {"text": "Both printed."})
    home.cli("run", "--yes", "print two lines", check=True)
    sid = home.json("sessions", "list")[0]["id"]
    proc = home.cli("events", "reconstruct", sid, check=True)
    lines = proc.stdout.splitlines()
    assert "user: print two lines" in lines
    assert "assistant: Both printed." in lines
    assert any(line.startswith("  [bash] ✓ one") for line in lines)
    assert not any(line.rstrip() in ("user:", "assistant:") for line in lines)


def test_c3_run_json_seq_is_the_event_stream_seq(home):  # C3
    home.script({"text": "first"}, {"text": "second"})
    first = _events(home.cli("run", "--json", "one", check=True).stdout)
    assert first[0]["seq"] == 0  # 0-based, like `events read`
    second = _events(home.cli("run", "-c", "--json", "two", check=True).stdout)
    sid = second[-1]["session_id"]
    for event in (e for e in first + second if e["type"] != "result"):
        stored = home.json("events", "read", sid, str(event["seq"]))
        assert stored["kind"] == event["type"], event
    assert second[0]["seq"] == first[-2]["seq"] + 1  # runs continue one stream


def test_c4_events_show_prints_time_since_the_first_event(home):  # C4
    home.script({"text": "hello"})
    home.cli("run", "hi", check=True)
    sid = home.json("sessions", "list")[0]["id"]
    rows = home.json("events", "show", sid)
    assert rows[1]["offset"] > 0  # the byte offset stays in --json
    proc = home.cli("events", "show", sid, check=True)
    for line, row in zip(proc.stdout.splitlines(), rows, strict=True):
        seq, when, kind = line.split()[:3]
        assert int(seq) == row["seq"] and kind == row["kind"]
        assert re.fullmatch(r"\+(\d+ms|\d+\.\ds|\d+m\d\ds)", when), line
    proc = home.cli("events", "show", sid, "--from", "2", check=True)
    assert proc.stdout.split()[0] == "2"


def test_c6_audit_verify_of_a_missing_file_is_an_error(home, short_dir):  # C6
    proc = home.cli("audit", "verify", "--file", "/no/such/file")
    assert proc.returncode == 4 and "/no/such/file does not exist" in proc.stderr
    assert "intact" not in proc.stdout
    proc = home.cli("audit", "verify", "--file", str(short_dir))
    assert proc.returncode == 4 and "is not a file" in proc.stderr


def _cli_at(home, codetether_home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], cwd=home.workspace, text=True, capture_output=True,
                          env={**home.env, "CODETETHER_HOME": str(codetether_home)},
                          stdin=subprocess.DEVNULL, timeout=120)


def test_c7_an_unusable_home_is_a_clear_error(home, short_dir):  # C7
    long_home = short_dir / ("x" * 120)
    for args in (("daemon", "status"), ("run", "hi")):
        proc = _cli_at(home, long_home, *args)
        assert proc.returncode == 5, proc.stderr
        assert "107-byte limit" in proc.stderr and str(long_home) in proc.stderr
        assert "Traceback" not in proc.stderr
    blocker = short_dir / "file"
    blocker.write_text("")
    proc = _cli_at(home, blocker / "sub", "run", "hi")
    assert proc.returncode == 5 and "Traceback" not in proc.stderr
    assert f"{blocker}/sub/data: Not a directory" in proc.stderr
    proc = _cli_at(home, blocker / "sub", "daemon", "status")
    assert proc.returncode == 3 and "Traceback" not in proc.stderr


def test_c9_a_run_error_is_printed_once(home):  # C9
    home.script({"error": 400, "message": "the model refused the request"})
    proc = home.cli("run", "hi")
    assert proc.returncode == 1
    assert proc.stderr.count("the model refused the request") == 1, proc.stderr


def test_c11_a_refused_mention_is_shown(home):  # C11
    home.script({"text": "ok"})
    proc = home.cli("run", "look at @missing.py")
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^warning: .*missing\.py", proc.stderr, re.M), proc.stderr


def test_c12_bad_arguments_are_usage_errors(home, short_dir):  # C12
    proc = home.cli("sessions", "list", "--limit", "-1")
    assert proc.returncode == 2 and "must be 0 or more" in proc.stderr
    proc = home.cli("audit", "query", "--category", "aproval")
    assert proc.returncode == 2 and "did you mean 'approval'" in proc.stderr
    proc = home.cli("telemetry", "report", "--html", "/nonexistent/d/r.html")
    assert proc.returncode == 2 and "no directory /nonexistent/d" in proc.stderr
    proc = home.cli("telemetry", "report", "--html", str(short_dir))
    assert proc.returncode == 2 and "is a directory" in proc.stderr


def _run_with_stdin(home, text: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], cwd=home.workspace, env=home.env, input=text, text=True,
                          capture_output=True, timeout=120)


def test_c13_dash_reads_the_prompt_from_stdin_and_piped_input_is_context(home):  # C13
    home.script({"text": "one"}, {"text": "two"})
    proc = _run_with_stdin(home, "task from stdin\n", "run", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    assert _events(proc.stdout)[0] == {**_events(proc.stdout)[0], "type": "user",
                                       "text": "task from stdin"}
    proc = _run_with_stdin(home, "line 1\nline 2\n", "run", "--json", "-c", "summarise this")
    assert proc.returncode == 0, proc.stderr
    assert _events(proc.stdout)[0]["text"] == "summarise this\n\nline 1\nline 2"
    proc = _run_with_stdin(home, "", "run", "-")
    assert proc.returncode == 2 and "stdin was empty" in proc.stderr


def test_c14_every_group_lists_its_actions_and_typos_get_a_suggestion(home):  # C14
    for group, actions in (("sessions", ("list", "show", "delete", "resume", "fork")),
                           ("approvals", ("list", "allow", "deny")),
                           ("daemon", ("start", "stop", "status", "logs")),
                           ("events", ("show", "read", "reconstruct", "archive")),
                           ("audit", ("verify", "recent", "query"))):
        out = home.cli(group, "--help", check=True).stdout
        for action in actions:
            assert re.search(rf"^\s+{action}\s+\S", out, re.M), (group, action, out)
    proc = home.cli("sesions", "list")
    assert proc.returncode == 2 and "did you mean 'sessions'?" in proc.stderr
    proc = home.cli("daemon", "stauts")
    assert proc.returncode == 2 and "did you mean 'status'?" in proc.stderr
    proc = home.cli("sessions", "list", "--jsn")
    assert proc.returncode == 2 and "did you mean --json?" in proc.stderr


def test_c16_limits_have_their_own_exit_codes_and_messages(home):  # C16
    home.script({"tool": "list_dir", "arguments": {"path": "."}},
                {"text": "cut off mid-sent", "stop_reason": "max_tokens"})
    home.write_config(home.config_file.read_text().replace(
        "[providers.scripted]", "[session]\nmax_steps = 1\n\n[providers.scripted]"))
    proc = home.cli("run", "--yes", "look around")
    assert proc.returncode == 8, proc.stderr
    assert "stopped at the step limit (1 steps); continue with `codetether run -c`" in proc.stderr
    proc = home.cli("run", "-c", "go on")
    assert proc.returncode == 9, proc.stderr
    assert "output token limit" in proc.stderr


def test_c16_continue_without_a_session_is_not_found(home):  # C16
    home.script({"text": "x"})
    proc = home.cli("run", "-c", "go on")
    assert proc.returncode == 4 and "no session to continue" in proc.stderr
    assert home.json("sessions", "list") == []


def test_c17_config_show_is_toml_or_json_and_set_prints_the_change(home):  # C17
    import tomllib

    home.script({"text": "x"})
    shown = home.cli("config", "--show", check=True).stdout
    assert tomllib.loads(shown)["default"]["provider"] == "scripted"
    as_json = json.loads(home.cli("config", "--show", "--json", check=True).stdout)
    assert as_json["config"]["default"]["provider"] == "scripted"

    proc = home.cli("config", "--set", "session.max_steps=7", check=True)
    assert proc.stdout.strip() == "session.max_steps: 25 -> 7"
    home.cli("config", "--set", 'permissions.rules.bash={ "rm *" = "deny" }', check=True)
    proc = home.cli("config", "--set", 'permissions.rules.bash={ "git push*" = "ask" }', check=True)
    assert proc.stdout.strip() == 'permissions.rules.bash."git push*": (unset) -> "ask"'
    rules = home.json("config", "--show")["config"]["permissions"]["rules"]
    assert rules["bash"] == {"rm *": "deny", "git push*": "ask"}  # merged, not replaced
    assert tomllib.loads(home.config_file.read_text())["permissions"]["rules"]["bash"] == rules["bash"]


def test_c5_a_prompt_carries_the_callers_keys(home):  # C5
    # The daemon learns a key from the CLI that asks (here: it redacts the key the model
    # echoes), not only from the environment it started with.
    key = "zq8Xv2LmN4pR7tY1wK9sB3dF6hJ0cV5e"
    home.script({"text": f"your key is {key} ok"})
    home.json("daemon", "start")  # started without the key
    proc = subprocess.run([CLI, "run", "echo it"], cwd=home.workspace, text=True, capture_output=True,
                          env={**home.env, "MYVENDOR_API_KEY": key}, stdin=subprocess.DEVNULL,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "your key is" in proc.stdout and key not in proc.stdout


def test_resuming_a_finished_session_says_there_is_nothing_to_resume(home):
    # S7 is the daemon's; the CLI shows its answer and exits 0.
    home.script({"text": "done"})
    home.cli("run", "hi", check=True)
    sid = home.json("sessions", "list")[0]["id"]
    proc = home.cli("sessions", "resume", sid)
    assert proc.returncode == 0, proc.stderr
    assert "nothing to resume" in proc.stderr and "stopped:" not in proc.stderr


def test_models_pull_is_reachable_from_the_cli(home, short_dir):
    # The deps work (D) ships `models pull`; the CLI routes to it without making `models` slower.
    home.script({"text": "x"})
    proc = subprocess.run([CLI, "models", "pull", "no-such-model"], cwd=home.workspace, text=True,
                          capture_output=True, env={**home.env, "CODETETHER_MODELS": str(short_dir / "m")},
                          stdin=subprocess.DEVNULL, timeout=120)
    assert proc.returncode == 2 and "unknown embedded model 'no-such-model'" in proc.stderr
    assert "models" in home.cli("--help", check=True).stdout
    assert home.json("models")[0]["id"] == "scripted/scripted"
