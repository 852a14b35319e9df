"""``codetether tui`` once as a person would use it: in tmux, keys sent, the screen
captured (``tmux capture-pane -p``) until the answer shows, then Ctrl+Q.

The tmux server is our own (``-L`` a private socket name), so nobody's sessions are touched."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import CLI

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install -y tmux)")
DEADLINE = 30.0


class Pane:
    """One tmux session running one command, on a private tmux server."""

    def __init__(self, command: list[str], cwd: str, env: dict[str, str]) -> None:
        assert TMUX is not None
        self.server = f"ct-tui-{uuid.uuid4().hex[:8]}"
        self.tmux = [TMUX, "-L", self.server, "-f", "/dev/null"]
        env_args = [f"{k}={v}" for k, v in env.items()]
        self.started = time.monotonic()
        subprocess.run([*self.tmux, "new-session", "-d", "-s", "tui", "-x", "110", "-y", "35", "-c", cwd,
                        "env", "-i", *env_args, *command], check=True)

    def capture(self) -> str:
        out = subprocess.run([*self.tmux, "capture-pane", "-p", "-t", "tui"], capture_output=True, text=True)
        return out.stdout

    def send(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", "tui", *keys], check=True)

    def wait_for(self, text: str) -> float:
        """Poll the screen until ``text`` shows (a deadline, not a fixed wait): the seconds it took."""
        end = time.monotonic() + DEADLINE
        screen = ""
        while time.monotonic() < end:
            screen = self.capture()
            if text in screen:
                return time.monotonic() - self.started
            time.sleep(0.02)
        raise AssertionError(f"{text!r} never showed; the screen:\n{screen}")

    def alive(self) -> bool:
        return subprocess.run([*self.tmux, "has-session", "-t", "tui"], capture_output=True).returncode == 0

    def kill(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)


@pytest.fixture
def pane_env(home: Any) -> Iterator[dict[str, str]]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root"),
           "TERM": "xterm-256color", "LANG": "C.UTF-8", "CODETETHER_HOME": str(home.root)}
    yield env


def test_tui_in_tmux_prompt_answer_quit(home: Any, pane_env: dict[str, str]) -> None:
    home.script({"text": "The answer is **forty-two**."})
    home.cli("daemon", "start", check=True)  # warm: the start time measured is the TUI's own
    pane = Pane([CLI, "tui"], str(home.workspace), pane_env)
    try:
        first_frame = pane.wait_for("Ask, or /help")
        print(f"\ncodetether tui: first frame after {first_frame * 1000:.0f} ms on a warm daemon")
        pane.send("what is the answer?", "Enter")
        pane.wait_for("forty-two")
        screen = pane.capture()
        assert "› what is the answer?" in screen
        assert "scripted" in screen  # the status bar names the model
        pane.send("C-q")
        end = time.monotonic() + DEADLINE
        while pane.alive():
            assert time.monotonic() < end, f"the TUI did not quit on Ctrl+Q:\n{pane.capture()}"
            time.sleep(0.02)
    finally:
        pane.kill()
    sessions = home.json("sessions", "list")
    assert any(s.get("message_count") for s in sessions)
