"""The bus from outside the real daemon: `codetether bus tail` on the socket and the
authenticated SSE stream `GET /v1/bus/stream` on the HTTP listener."""

from __future__ import annotations

import json
import signal
import subprocess
from typing import Any

import httpx

from .conftest import CLI, Home, foreground


def _swarm_script(home: Home) -> None:
    home.script({"text": json.dumps({"subtasks": [{"name": "only", "instruction": "look"}]})},
                "looked", "Looked around.")


def test_bus_tail_replays_a_swarms_kept_events_then_follows_until_ctrl_c(home: Home) -> None:
    _swarm_script(home)
    swarm = home.cli("swarm", "look around", check=True)
    swarm_id = swarm.stderr.split("swarm ", 1)[1].split(":", 1)[0]
    tail = subprocess.Popen([CLI, "bus", "tail", "--replay", "--json", "--topic", "swarm.>"], env=home.env,
                            cwd=home.workspace, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert tail.stdout is not None
        seen: list[dict[str, Any]] = []
        while not seen or seen[-1]["message"].get("phase") != "completed":
            line = tail.stdout.readline()
            assert line, tail.stderr.read() if tail.stderr else ""
            seen.append(json.loads(line))
        assert {e["topic"] for e in seen} == {f"swarm.{swarm_id}"}
        assert [e["message"]["phase"] for e in seen][:2] == ["planning", "planned"]
        assert all(e["message"]["kind"] == "swarm_event" for e in seen)
        tail.send_signal(signal.SIGINT)  # Ctrl-C: the tail ends quietly
        assert tail.wait(timeout=30) == 130
    finally:
        if tail.poll() is None:
            tail.kill()
            tail.wait()
        for stream in (tail.stdout, tail.stderr):
            if stream is not None:
                stream.close()
    # the human form: one line per envelope
    text = subprocess.Popen([CLI, "bus", "tail", "--replay", "--topic", f"swarm.{swarm_id}"], env=home.env,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert text.stdout is not None
        first = text.stdout.readline()
        assert first.startswith("(kept) ") and f"swarm.{swarm_id} swarm:{swarm_id} swarm_event planning" in first
    finally:
        text.kill()
        text.wait()
        if text.stdout is not None:
            text.stdout.close()
    bad = home.cli("bus", "tail", "--topic", "a.>.b")
    assert bad.returncode != 0 and "topics" in bad.stderr


def test_the_http_bus_stream_needs_the_token_and_speaks_sse(home: Home) -> None:
    _swarm_script(home)
    with foreground(home, "serve", "--port", "0", "--grpc-port", "-1") as (_proc, bound):
        token = home.cli("auth", "token", check=True).stdout.strip()
        url = bound["http_url"] + "/v1/bus/stream"
        with httpx.Client(timeout=30) as http:
            refused = http.get(url, params={"topics": "swarm.>"})
            assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
            bad = http.get(url, params={"topics": "a.>.b"}, headers={"Authorization": f"Bearer {token}"})
            assert bad.status_code == 400 and "topics" in bad.text
            home.cli("swarm", "look around", check=True)
            headers = {"Authorization": f"Bearer {token}"}
            with http.stream("GET", url, params={"topics": "swarm.>", "replay": "true"}, headers=headers) as resp:
                assert resp.status_code == 200
                assert resp.headers["Content-Type"].startswith("text/event-stream")
                phases = []
                for line in resp.iter_lines():
                    if line.startswith("data: "):
                        note = json.loads(line[6:])
                        phases.append(note["envelope"]["message"]["phase"])
                        if phases[-1] == "completed":
                            break
                assert phases[0] == "planning" and "started" in phases
