"""The real daemon over its socket: bad input, cancellation, SIGTERM, durable approvals."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys

import pytest
from codetether.daemon.client import Client
from codetether.daemon.errors import InvalidParams, MethodNotFound, RequestCancelled
from codetether.daemon.paths import get_paths


def _client(home) -> Client:
    home.cli("daemon", "start", check=True)
    return Client(get_paths({"CODETETHER_HOME": str(home.root)}), autostart=False)


def _raw(home) -> socket.socket:
    home.cli("daemon", "start", check=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(home.root / "run" / "daemon.sock"))
    sock.settimeout(30)
    return sock


def _read_json_line(sock: socket.socket, buf: bytearray) -> dict:
    while b"\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, "daemon closed the connection"
        buf += chunk
    line, _, rest = bytes(buf).partition(b"\n")
    buf[:] = rest
    return json.loads(line)


def test_bad_frames_get_clear_errors_and_the_daemon_keeps_serving(home):
    home.script({"text": "x"})
    sock = _raw(home)
    buf = bytearray()
    cases = [
        (b"this is not json", -32700),
        (b'{"jsonrpc":"2.0","id":1}', -32600),
        (b'{"jsonrpc":"2.0","id":2,"method":"no/such"}', -32601),
        (b'{"jsonrpc":"2.0","id":3,"method":"session/create","params":{"workspace":5}}', -32602),
        (b'{"jsonrpc":"2.0","id":4,"method":"session/create","params":{"workspace":"/nonexistent"}}', -32602),
        (b'{"jsonrpc":"2.0","id":5,"method":"session/prompt","params":{"session_id":"nope","text":"x"}}', -31001),
        (b'{"jsonrpc":"2.0","id":6,"method":"approval/decide","params":{"approval_id":"x","decision":"maybe"}}', -32602),
    ]
    for frame, code in cases:
        sock.sendall(frame + b"\n")
        reply = _read_json_line(sock, buf)
        assert reply["error"]["code"] == code, (frame, reply)
        assert reply["error"]["message"]
    big = b'{"jsonrpc":"2.0","id":7,"method":"daemon/status","params":{"x":"' + b"a" * (9 << 20) + b'"}}\n'
    sock.sendall(big)
    reply = _read_json_line(sock, buf)
    assert reply["error"]["code"] == -32600 and "exceeds" in reply["error"]["message"]
    sock.sendall(b'{"jsonrpc":"2.0","id":8,"method":"daemon/status"}\n')
    assert _read_json_line(sock, buf)["result"]["pid"] == home.daemon_pid()
    sock.close()


def test_client_errors_round_trip_to_exception_classes(home):
    home.script({"text": "x"})
    with _client(home) as client:
        with pytest.raises(MethodNotFound):
            client.call("nope/nope")
        with pytest.raises(InvalidParams, match="session/prompt"):
            client.call("session/prompt", {"session_id": "s"})  # text missing


def test_cancel_request_stops_a_running_tool(home):
    home.script({"tool": "bash", "arguments": {"command": "sleep 60"}}, {"text": "never"})
    with _client(home) as client:
        sid = client.call("session/create", {"workspace": str(home.workspace),
                                             "approval_mode": "auto"})["id"]
        req = client.send("session/prompt", {"session_id": sid, "text": "sleep"})
        started = []

        def on_event(frame):
            event = frame["params"]["event"]
            if event["type"] == "tool_call_start":
                started.append(event)
                client.send("$/cancelRequest", {"id": req}, notify=True)

        with pytest.raises(RequestCancelled):
            client.wait(req, on_event)
        assert started
        messages = client.call("session/get", {"session_id": sid})["messages"]
        assert messages[-1]["role"] == "tool" and "cancelled" in messages[-1]["content"]
        assert client.call("daemon/status")["runs_active"] == 0


def test_sigterm_exits_zero_in_order(home):
    home.script({"text": "x"})
    read_fd, write_fd = os.pipe()
    env = dict(home.env, CODETETHER_READY_FD=str(write_fd))
    proc = subprocess.Popen([sys.executable, "-m", "codetether.daemon"], env=env,
                            pass_fds=(write_fd,), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    os.close(write_fd)
    try:
        assert select.select([read_fd], [], [], 30)[0] and os.read(read_fd, 16) == b"ready\n"
    finally:
        os.close(read_fd)
    assert home.json("daemon", "status")["pid"] == proc.pid
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert not (home.root / "run" / "daemon.sock").exists()
    log = (home.root / "data" / "logs" / "daemon.log").read_text()
    assert log.index("shutting down") < log.index("stopped")


def test_pending_approval_survives_a_restart_then_resumes(home):
    home.script({"tool": "write_file", "arguments": {"path": "kept.txt", "content": "kept\n"}},
                {"text": "Finished after restart."})
    with _client(home) as client:
        sid = client.call("session/create", {"workspace": str(home.workspace)})["id"]
        req = client.send("session/prompt", {"session_id": sid, "text": "write kept.txt"})
        asked = []

        def on_event(frame):
            event = frame["params"]["event"]
            if event["type"] == "approval_request":
                asked.append(event)
                home.stop()  # SIGTERM while the approval is pending

        with pytest.raises(Exception):  # noqa: B017 - cancelled or connection closed
            client.wait(req, on_event)
    assert asked and not (home.workspace / "kept.txt").exists()

    pending = home.json("approvals", "list")
    assert [p["id"] for p in pending] == [asked[0]["approval_id"]]
    assert pending[0]["tool"] == "write_file" and pending[0]["subject"] == "kept.txt"
    decided = home.json("approvals", "allow", pending[0]["id"])
    assert decided["status"] == "allow" and decided["decided_by"].startswith("uid:")

    proc = home.cli("sessions", "resume", sid, "--json")
    assert proc.returncode == 0, proc.stderr
    assert (home.workspace / "kept.txt").read_text() == "kept\n"
    assert json.loads(proc.stdout.splitlines()[-1])["text"] == "Finished after restart."


def test_second_daemon_refuses_to_start(home):
    home.script({"text": "x"})
    first = home.json("daemon", "start")["pid"]
    proc = subprocess.run([sys.executable, "-m", "codetether.daemon"], env=home.env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3 and "another daemon" in proc.stdout
    assert home.json("daemon", "status")["pid"] == first


def test_a_command_the_agent_runs_cannot_approve_for_it(home):
    # An approved bash command tries to switch the session to auto-approve everything.
    home.script({"tool": "bash", "arguments": {"command": "codetether approvals list --json > pending.json; "
                                                          "codetether config --set permissions.mode=auto; echo rc=$?"}},
                {"text": "tried"})
    env_path = os.path.dirname(sys.executable)
    home.extra_env["PATH"] = f"{env_path}:{os.environ.get('PATH', '')}"
    proc = home.cli("run", "--yes", "--json", "escalate")
    assert proc.returncode == 0, proc.stderr
    end = next(json.loads(line) for line in proc.stdout.splitlines()
               if json.loads(line)["type"] == "tool_call_end")
    assert "may not change the configuration" in end["output"] and "rc=7" in end["output"]
    assert "mode = \"auto\"" not in home.config_file.read_text()
