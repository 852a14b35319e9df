"""The CLI on a real pseudo-terminal (util-linux `script`): approval prompts that watch
the daemon and other terminals (C8), progress, diffs, streamed output and Ctrl-C (C15)."""

from __future__ import annotations

import os
import select
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).parent / "codetether")
SCRIPT = shutil.which("script")
pytestmark = pytest.mark.skipif(SCRIPT is None, reason="needs util-linux `script` for a pty")


class Terminal:
    """The CLI under `script`: what it prints is read as it comes; keys are typed."""

    def __init__(self, home, *args: str) -> None:
        cmd = " ".join(shlex.quote(a) for a in (CLI, *args))
        self.proc = subprocess.Popen([SCRIPT, "-qec", cmd, "/dev/null"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=home.env,
                                     cwd=home.workspace)
        self.output = ""
        self._seen = 0  # where the next expect() starts looking

    def expect(self, text: str, timeout: float = 60) -> None:
        """Read until ``text`` has been printed since the last match (a condition, not a sleep)."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while text not in self.output[self._seen:]:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} not printed; got:\n{self.output}"
            if select.select([self.proc.stdout], [], [], left)[0]:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                assert chunk, f"exited before printing {text!r}:\n{self.output}"
                self.output += chunk.decode(errors="replace")
        self._seen = self.output.index(text, self._seen) + len(text)

    def type(self, keys: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(keys.encode())
        self.proc.stdin.flush()

    def finish(self, timeout: float = 60) -> int:
        assert self.proc.stdout is not None
        rest, _ = self.proc.communicate(timeout=timeout)
        self.output += rest.decode(errors="replace")
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def terminals():
    opened: list[Terminal] = []
    yield opened
    for term in opened:
        term.kill()


def _open(terminals, home, *args: str) -> Terminal:
    term = Terminal(home, *args)
    terminals.append(term)
    return term


def test_c8_daemon_stopped_at_the_prompt_says_how_to_resume(home, terminals):  # C8
    home.script({"tool": "write_file", "arguments": {"path": "out.txt", "content": "hi\n"}},
                {"text": "finished"})
    term = _open(terminals, home, "run", "write out.txt")
    term.expect("Allow write_file out.txt? [y/N]")
    sid = home.json("sessions", "list")[0]["id"]
    home.cli("daemon", "stop", check=True)
    assert term.finish() == 3, term.output
    assert "the daemon stopped" in term.output
    assert f"codetether sessions resume {sid}" in term.output
    assert "Traceback" not in term.output
    assert not (home.workspace / "out.txt").exists()


def test_c8_approval_decided_in_another_terminal_ends_the_prompt(home, terminals):  # C8
    home.script({"tool": "write_file", "arguments": {"path": "out.txt", "content": "hi\n"}},
                {"text": "finished"})
    term = _open(terminals, home, "run", "write out.txt")
    term.expect("Allow write_file out.txt? [y/N]")
    pending = home.json("approvals", "list")
    assert len(pending) == 1
    home.cli("approvals", "allow", pending[0]["id"], check=True)
    term.expect(f"approval {pending[0]['id']} was decided by uid:{os.getuid()}: allow")
    assert term.finish() == 0, term.output
    assert "finished" in term.output
    assert (home.workspace / "out.txt").read_text() == "hi\n"


def test_c15_the_approval_prompt_shows_the_diff_and_the_command(home, terminals):  # C15
    (home.workspace / "app.py").write_text("def greet():\n    return 'hi'\n")
    home.script({"tool": "edit", "arguments": {"path": "app.py", "old_string": "'hi'",
                                               "new_string": "'hello'"}},
                {"tool": "bash", "arguments": {"command": "python3 -c 'print(1)'"}},
                {"text": "done"})
    term = _open(terminals, home, "run", "change it")
    term.expect("Allow edit app.py? [y/N]")
    assert "-    return 'hi'" in term.output and "+    return 'hello'" in term.output
    assert term.output.index("+    return 'hello'") < term.output.index("Allow edit")
    term.type("y\n")
    term.expect("? [y/N]")
    assert "$ python3 -c 'print(1)'" in term.output
    term.type("n\n")
    assert term.finish() == 0, term.output
    assert "'hello'" in (home.workspace / "app.py").read_text()


def test_c15_progress_on_a_terminal_and_nothing_drawn_on_a_pipe(home, terminals):  # C15
    home.script({"text": "answer one"}, {"text": "answer two"})
    term = _open(terminals, home, "run", "hi")
    assert term.finish() == 0, term.output
    assert "prompt tokens…" in term.output  # the spinner said what the model was doing
    proc = home.cli("run", "-c", "again")
    assert proc.returncode == 0, proc.stderr
    assert "\x1b[" not in proc.stderr + proc.stdout and "…" not in proc.stderr


def test_c15_bash_output_streams_as_it_arrives(home):  # C15
    fifo = home.workspace / "gate"
    os.mkfifo(fifo)
    home.script({"tool": "bash", "arguments": {"command": "echo first; cat gate; echo second"}},
                {"text": "ran"})
    proc = subprocess.Popen([CLI, "run", "--yes", "run it"], cwd=home.workspace, env=home.env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stderr is not None
        seen = ""
        deadline = time.monotonic() + 60
        while "first\n" not in seen:  # printed while bash still waits on the fifo
            assert time.monotonic() < deadline and proc.poll() is None, seen
            seen += proc.stderr.readline()
        with open(fifo, "w") as gate:  # now let bash finish
            gate.write("")
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, seen + err
    assert "second" in seen + err and "ran" in out


def test_c15_ctrl_c_says_cancelling_and_returns_within_a_second(home, terminals):  # C15
    home.script({"tool": "bash", "arguments": {"command": "sleep 60"}}, {"text": "never"})
    term = _open(terminals, home, "run", "--yes", "wait")
    term.expect("⚙ bash")
    started = time.monotonic()
    term.type("\x03")
    code = term.finish()
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, (elapsed, term.output)  # a second, plus `script` and a busy machine
    assert code == 130 and "cancelling…" in term.output, term.output
    deadline = time.monotonic() + 20
    while home.json("sessions", "list")[0]["busy"]:  # the daemon cancelled the run (and bash)
        assert time.monotonic() < deadline, "the run was not cancelled"
