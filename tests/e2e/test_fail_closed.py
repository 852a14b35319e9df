"""Fail closed: nothing that goes wrong may widen what the agent may do or where it
may write (findings S2, S5, S7, S8, R2, R3, R5), through the real daemon and CLI."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
import time
from pathlib import Path

import pytest
from codetether.daemon.client import Client
from codetether.daemon.errors import ConfigError, InvalidParams, NotFound
from codetether.daemon.paths import get_paths

BROKEN = '[permissions.rules]\nbash = { "rm*" = "deny" }\nfoo = \n'


def _client(home) -> Client:
    home.cli("daemon", "start", check=True)
    return Client(get_paths({"CODETETHER_HOME": str(home.root)}), autostart=False)


def _wait(predicate, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # the config watcher's reload: poll its observable effect
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_S2_a_config_that_does_not_parse_runs_nothing_and_every_command_says_why(home):  # S2
    home.write_config(BROKEN)
    (home.workspace / "victim.txt").write_text("keep me\n")
    for args in (("run", "--yes", "hi"), ("models",), ("tools",), ("stats",)):
        proc = home.cli(*args)
        assert proc.returncode == 5, (args, proc.returncode, proc.stdout, proc.stderr)
        assert "config.toml" in proc.stderr and ":3" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    status = home.cli("daemon", "status", "--json")
    assert status.returncode == 5
    assert ":3" in json.loads(status.stdout)["config_error"]
    assert home.cli("daemon", "stop").returncode == 0  # stopping still works


def test_S2_a_broken_reload_refuses_runs_until_the_file_loads_again(home):  # S2
    home.script({"text": "one"}, {"text": "two"})
    good = home.config_file.read_text()
    assert home.cli("run", "hi").returncode == 0
    home.write_config(good + BROKEN)  # a hot reload of a file with a syntax error
    _wait(lambda: home.cli("run", "hi").returncode == 5, "a broken reload was not refused")
    proc = home.cli("run", "hi")
    assert "nothing runs until it loads" in proc.stderr
    home.write_config(good)
    _wait(lambda: home.cli("run", "again").returncode == 0, "the fixed config was not picked up")


def _agent_runs(home, command: str, *, scripted: bool = False) -> str:
    """Have the scripted agent run ``command`` in bash (auto mode); its output."""
    if not scripted:
        home.script({"tool": "bash", "arguments": {"command": command}}, {"text": "done"})
    home.extra_env["PATH"] = f"{os.path.dirname(sys.executable)}:{os.environ.get('PATH', '')}"
    proc = home.cli("run", "--yes", "--json", "go")
    assert proc.returncode == 0, proc.stderr
    end = next(json.loads(line) for line in proc.stdout.splitlines()
               if json.loads(line)["type"] == "tool_call_end")
    return str(end["output"])


def test_S5_a_process_the_agent_starts_cannot_widen_its_mode_or_write_through_the_daemon(home, short_dir):  # S5
    elsewhere = short_dir / "elsewhere"
    elsewhere.mkdir()
    report = short_dir / "evil.html"
    output = _agent_runs(home, f"cd {elsewhere} && codetether run --yes 'write pwned'; echo rc=$?; "
                               f"codetether telemetry report --html {report}; echo rc=$?")
    assert output.count("rc=7") == 2, output
    assert "may not choose approval mode 'auto'" in output
    assert "may not write files through the daemon" in output
    assert not report.exists() and not list(elsewhere.iterdir())


def test_S5_agent_processes_cannot_prompt_a_session_in_a_wider_mode_over_the_api(home):  # S5
    command = f"{sys.executable} probe.py"
    home.script({"tool": "bash", "arguments": {"command": command}}, {"text": "done"})
    client = _client(home)
    session = client.call("session/create", {"workspace": str(home.workspace), "approval_mode": "auto"})
    # Simulate the peer check through a child of the daemon: the bash tool's own process.
    script = (f"import sys; sys.path[:0] = {sys.path!r}\n"
              "from codetether.daemon.client import Client\n"
              "from codetether.daemon.paths import get_paths\n"
              "c = Client(get_paths(), autostart=False)\n"
              "try:\n"
              f"    c.call('session/prompt', {{'session_id': {session['id']!r}, 'text': 'x'}})\n"
              "except Exception as e:\n"
              "    print(type(e).__name__, e)\n")
    (home.workspace / "probe.py").write_text(script)
    output = _agent_runs(home, command, scripted=True)
    assert "ApprovalDenied" in output and "'auto'" in output, output
    client.close()


def test_S7_resume_of_a_finished_session_is_a_no_op_that_says_so(home):  # S7
    home.script({"tool": "bash", "arguments": {"command": "echo ran >> ran.txt"}}, {"text": "finished"},
                {"tool": "bash", "arguments": {"command": "echo again >> ran.txt"}}, {"text": "x"})
    assert home.cli("run", "--yes", "do it").returncode == 0
    sid = home.json("sessions", "list")[0]["id"]
    proc = home.cli("sessions", "resume", sid)
    assert proc.returncode == 0, proc.stderr
    assert "nothing to resume" in proc.stdout + proc.stderr
    assert (home.workspace / "ran.txt").read_text() == "ran\n"  # the bash call did not run again


def test_R2_R3_bad_paths_and_ids_are_invalid_params_or_not_found(home, short_dir):  # R2
    client = _client(home)
    a_dir = short_dir / "adir"
    a_dir.mkdir()
    with pytest.raises(InvalidParams, match="regular file"):
        client.call("telemetry/report", {"path": str(a_dir)})
    with pytest.raises(InvalidParams, match="codetether's own files"):
        client.call("telemetry/report", {"path": str(home.root / "data" / "r.html")})
    for bad in ("a\0b", "x" * 300, "../x", ".hidden"):
        for method in ("session/get", "session/resume", "session/delete", "session/cancel",
                       "session/subscribe", "session/status"):
            with pytest.raises(NotFound):
                client.call(method, {"session_id": bad})
        with pytest.raises(NotFound):
            client.call("session/fork", {"session_id": bad})
    assert client.call("daemon/status", {})["pid"]
    client.close()


def test_R5_a_full_disk_is_a_clear_error_and_makes_the_daemon_degraded(home):  # R5
    sessions = home.root / "data" / "sessions"
    sessions.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(sessions)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        home.script({"text": "x" * 10})
        (sessions / "filler").write_bytes(b"\0" * 60_000)
        with pytest.raises(OSError):
            (sessions / "more").write_bytes(b"\0" * 8192)
        proc = home.cli("run", "hello")
        assert proc.returncode == 3, (proc.returncode, proc.stderr)
        assert "No space left on device" in proc.stderr and "Traceback" not in proc.stderr
        status = home.json("daemon", "status")
        assert status["degraded"] and not status["health"]["sessions"]["ok"]
        (sessions / "filler").unlink()
        assert home.cli("run", "hello").returncode == 0
        assert not home.json("daemon", "status")["degraded"]
    finally:
        home.stop()
        subprocess.run(["umount", "-l", str(sessions)], check=False)


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to give the dir to another user")
def test_S8_a_runtime_dir_another_user_owns_is_refused_with_a_clear_error(home):  # S8
    run_dir = home.root / "run"
    run_dir.mkdir(mode=0o777)
    os.chmod(run_dir, 0o777)
    nobody = pwd.getpwnam("nobody")
    os.chown(run_dir, nobody.pw_uid, nobody.pw_gid)
    proc = home.cli("daemon", "start")
    assert proc.returncode == 3, (proc.stdout, proc.stderr)
    assert f"belongs to uid {nobody.pw_uid}" in proc.stderr and "Traceback" not in proc.stderr
    assert not (run_dir / "daemon.sock").exists()
    assert not Path(run_dir / "daemon.pid").exists()


def test_E9_a_config_at_the_top_of_CODETETHER_HOME_is_pointed_out(home):  # E9
    home.script({"text": "hi"})
    (home.root / "config.toml").write_text('[session]\nmax_steps = 3\n')
    proc = home.cli("run", "--json", "hello")
    assert proc.returncode == 0, proc.stderr
    notices = [json.loads(line)["text"] for line in proc.stdout.splitlines()
               if json.loads(line)["type"] == "notice"]
    assert notices and "config" in notices[0] and str(home.config_file) in notices[0]
    assert any("is not read" in w for w in home.json("daemon", "status")["config_warnings"])


def test_C9_C10_a_model_that_cannot_run_is_refused_with_a_suggestion(home):  # C9
    home.write_config("[session]\nmax_steps = 5\n")  # the embedded default
    before = home.config_file.read_text()
    proc = home.cli("config", "--set", "default.model=gpt-4o")
    assert proc.returncode == 5, proc.stderr
    assert "did you mean 'openai/gpt-4o'" in proc.stderr and "unchanged" in proc.stderr
    assert home.config_file.read_text() == before
    proc = home.cli("run", "-m", "gpt-4o", "hi")
    assert proc.returncode == 2 and proc.stderr.count("did you mean 'openai/gpt-4o'") == 1


@pytest.mark.skipif(os.getuid() != 0 or not Path("/usr/bin/python3").exists(),
                    reason="needs root to run a listener as another user")
def test_S8_clients_never_talk_to_a_socket_another_user_serves(home):
    # Another local user planted a listener where the daemon's socket goes: the CLI must
    # not send it prompts or keys (C5 forwards them), and must say why.
    run_dir = home.root / "run"
    run_dir.mkdir(mode=0o777)
    os.chmod(run_dir, 0o777)
    nobody = pwd.getpwnam("nobody")
    os.chown(run_dir, nobody.pw_uid, nobody.pw_gid)
    for parent in (home.root, home.root.parent):  # let the other user reach its dir
        os.chmod(parent, 0o755)
    sock = run_dir / "daemon.sock"
    listener = subprocess.Popen(
        ["/usr/bin/python3", "-c",
         "import socket, sys\n"
         f"s = socket.socket(socket.AF_UNIX); s.bind({str(sock)!r}); s.listen()\n"
         "print('ready', flush=True)\n"
         "c, _ = s.accept(); data = c.recv(65536); print('GOT', len(data), flush=True)\n"],
        user=nobody.pw_uid, group=nobody.pw_gid, stdout=subprocess.PIPE, text=True, cwd="/")
    try:
        assert listener.stdout is not None and listener.stdout.readline().strip() == "ready"
        home.extra_env["ANTHROPIC_API_KEY"] = "sk-ant-must-not-leave-0123456789"
        proc = home.cli("run", "hello")
        assert proc.returncode == 3, (proc.stdout, proc.stderr)
        assert f"served by uid {nobody.pw_uid}" in proc.stderr and "Traceback" not in proc.stderr
    finally:
        listener.kill()
        out, _ = listener.communicate()
    assert "GOT" not in out or "GOT 0" in out  # nothing was sent


def test_S2_a_run_in_flight_can_still_be_answered_when_the_config_breaks(home):
    home.script({"tool": "bash", "arguments": {"command": "echo hi > out.txt"}}, {"text": "stopped"})
    client = _client(home)
    session = client.call("session/create", {"workspace": str(home.workspace), "approval_mode": "ask"})
    asked: list[str] = []

    def on_event(frame):
        event = frame["params"]["event"]
        if event["type"] == "approval_request" and not asked:
            asked.append(event["approval_id"])
            home.write_config(home.config_file.read_text() + BROKEN)
            with Client(get_paths({"CODETETHER_HOME": str(home.root)}), autostart=False) as other:
                _wait(lambda: other.call("daemon/status", {}).get("config_error"), "no reload")
                assert other.call("approval/list", {})[0]["id"] == asked[0]
                other.call("approval/decide", {"approval_id": asked[0], "decision": "deny"})

    result = client.call("session/prompt", {"session_id": session["id"], "text": "go"}, on_event)
    assert asked and result["stop_reason"] == "end_turn"
    assert not (home.workspace / "out.txt").exists()
    with pytest.raises(ConfigError):
        client.call("session/prompt", {"session_id": session["id"], "text": "again"})
    client.close()


@pytest.mark.parametrize("command", ["echo ok; rm -f victim.txt", "  rm victim.txt",
                                     "FOO=1 sudo rm victim.txt", "(cd . && rm victim.txt)",
                                     "echo $(rm victim.txt)", "sh -c 'rm victim.txt'"])
def test_S3_a_bash_deny_rule_holds_for_every_simple_command_in_the_line(home, command):
    # Found trying it as a user: "rm*" = "deny" was checked against the whole line only.
    home.script({"tool": "bash", "arguments": {"command": command}}, {"text": "done"})
    home.write_config(home.config_file.read_text() + '\n[permissions.rules]\nbash = { "rm*" = "deny" }\n')
    (home.workspace / "victim.txt").write_text("keep\n")
    proc = home.cli("run", "--yes", "--json", "delete it")
    assert proc.returncode == 0, proc.stderr
    assert (home.workspace / "victim.txt").read_text() == "keep\n"
    end = next(json.loads(line) for line in proc.stdout.splitlines()
               if json.loads(line)["type"] == "tool_call_end")
    assert end["is_error"] and "bash:rm*" in end["output"]


def test_S3_an_explicit_ask_rule_still_asks_in_auto_mode(home):
    home.script({"tool": "bash", "arguments": {"command": "echo pushed > pushed.txt"}}, {"text": "done"})
    home.write_config(home.config_file.read_text() + '\n[permissions.rules]\nbash = { "echo pushed*" = "ask" }\n')
    proc = home.cli("run", "--yes", "push")  # no terminal to ask on: denied, with the reason
    assert proc.returncode == 0, proc.stderr
    assert not (home.workspace / "pushed.txt").exists()
    assert "no one to ask" in proc.stderr
