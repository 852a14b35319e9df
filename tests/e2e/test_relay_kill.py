"""The relay killed with SIGKILL in a loop: the real daemon (``codetether daemon start``
under its own CODETETHER_HOME, auto mode) runs ``/autochat 4`` for two rounds (8 turns, each
with a ``bash`` call appending a line to side.txt) on a scripted model server that answers
from the conversation it is sent, so its answers survive the daemon's restarts.

The server holds every request until the test has decided, so the daemon only ever dies
at a known point: at the planner's call; at each turn's first model call (the prompt just
sent: the turn boundary); mid-tool (the line appended, the tool blocked on a lock the test
holds); at the model call after the tool's result; and just after the turn's last reply
(racing the checkpoint write: anywhere between that reply and the next turn's first call).
After each kill: ``codetether daemon start``, ``codetether relay resume ID``. At the end the
transcript (every turn's profile, round, index, text) equals an uninterrupted run's, and
every line of side.txt is there exactly once."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import re
import signal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from codetether.daemon.core.providers.scripted import Turn
from codetether.daemon.testing.vendor_servers import RecordedRequest, ScriptedVendorServer

PROFILES = ("scout", "builder", "tester", "judge")
ROUNDS = 2
_HEADER = re.compile(r"\[relay \S+ · round (\d+) of at most \d+ · you are ([a-z]+),")


def _key(body: dict[str, Any]) -> tuple[str, int, int] | None:
    """(profile, round, step) of an agent's model call; None for the planner's."""
    messages = body["messages"]
    if any("You pick a relay of" in str(m.get("content")) for m in messages if m["role"] == "system"):
        return None
    last = max(i for i, m in enumerate(messages)
               if m["role"] == "user" and _HEADER.search(str(m.get("content") or "")))
    found = _HEADER.search(str(messages[last]["content"]))
    assert found is not None
    step = sum(1 for m in messages[last + 1:] if m["role"] == "tool")
    return found[2], int(found[1]), step


class RelayModel(ScriptedVendorServer):  # type: ignore[misc]  # seen as Any: the installed package is untyped to mypy here
    """Answers by the conversation: the planner gets the four profiles; an agent's turn
    first calls bash (the side effect), then, given the tool's result, hands on. Before
    answering, ``decide`` (the test) may kill the daemon instead."""

    def __init__(self, fifo: Path, gate: Path) -> None:
        super().__init__(pieces=2)
        self.fifo, self.gate = fifo, gate
        self.decide: Any = None

    def answer(self, key: tuple[str, int, int] | None) -> Turn:
        if key is None:
            return Turn.text(json.dumps({"profiles": [{"name": n, "instructions": f"you are the {n}"}
                                                      for n in PROFILES]}))
        name, rnd, step = key
        line = f"{name}-{rnd}"
        if step == 0:
            return Turn.tool("bash", {"command": f"echo {line} >> side.txt; echo {line} > {self.fifo}; "
                                                 f"flock {self.gate} true"}, id=f"call_{line}")
        done = "\nAPPROVED" if (name, rnd) == (PROFILES[-1], ROUNDS) else ""
        return Turn.text(f"{name} finished round {rnd}: appended {line}.{done}")

    async def _turn(self, request: web.Request, vendor: str) -> tuple[RecordedRequest, Turn, web.Response | None]:
        recorded = await self._record(request, vendor)
        key = _key(recorded.body)
        if self.decide is not None and await self.decide("request", key):
            return recorded, Turn.text(""), web.Response(status=503)  # nobody is listening any more
        turn = self.answer(key)
        if self.decide is not None and key is not None and key[2] == 0 and await self.decide("tool", key):
            return recorded, Turn.text(""), web.Response(status=503)
        return recorded, turn, None

    async def _openai(self, request: web.Request) -> web.StreamResponse:
        response: web.StreamResponse = await super()._openai(request)
        if self.decide is not None and response.status == 200:
            await self.decide("replied", _key(self.requests[-1].body) if self.requests else None)
        return response


class KillLoop:
    """The test's side of the server: which points to kill at (each once), the kills."""

    def __init__(self, home: Any, server: RelayModel) -> None:
        self.home, self.server = home, server
        points: list[tuple[str, Any]] = [("request", None)]
        for rnd in range(1, ROUNDS + 1):
            for name in PROFILES:
                points += [("request", (name, rnd, 0)), ("tool", (name, rnd, 0)),
                           ("request", (name, rnd, 1)), ("replied", (name, rnd, 1))]
        self.todo = set(points)
        self.kills: list[tuple[str, Any]] = []
        self.killed: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.armed = False
        self.lines: asyncio.Queue[str] = asyncio.Queue()
        self.gate_fd: int | None = None
        self.dead: set[int] = set()
        self.lock = asyncio.Lock()

    async def decide(self, point: str, key: Any) -> bool:
        """True: the daemon asking is dead (or now killed): do not answer it."""
        async with self.lock:
            if self.home.daemon_pid() in self.dead:
                return True  # a call the dying daemon made before its kill landed
            if not self.armed or (point, key) not in self.todo:
                return False
            return await self._act(point, key)

    async def _act(self, point: str, key: Any) -> bool:
        self.todo.discard((point, key))
        if point == "tool":  # hold the gate: the tool appends its line, then blocks
            while not self.lines.empty():  # earlier tools' lines (the uninterrupted run's)
                self.lines.get_nowait()
            self.gate_fd = os.open(self.server.gate, os.O_RDWR)
            fcntl.flock(self.gate_fd, fcntl.LOCK_EX)
            asyncio.get_running_loop().create_task(self._kill_after_line(f"{key[0]}-{key[1]}"))
            return False
        await self.kill(point, key)
        return True

    async def _kill_after_line(self, line: str) -> None:
        while await self.lines.get() != line:
            pass
        async with self.lock:
            await self.kill("tool", line)
        assert self.gate_fd is not None
        os.close(self.gate_fd)  # the orphaned tool ends; its line was written once
        self.gate_fd = None

    async def kill(self, point: str, key: Any) -> None:
        pid = self.home.daemon_pid()
        assert pid is not None and pid not in self.dead
        self.dead.add(pid)
        pidfd = os.pidfd_open(pid)
        try:
            os.kill(pid, signal.SIGKILL)
            gone = asyncio.Event()
            loop = asyncio.get_running_loop()
            loop.add_reader(pidfd, gone.set)
            try:
                await asyncio.wait_for(gone.wait(), 10)
            finally:
                loop.remove_reader(pidfd)
        finally:
            os.close(pidfd)
        self.kills.append((point, key))
        self.killed.put_nowait((point, key))


async def _cli(home: Any, cwd: Path, *args: str) -> asyncio.subprocess.Process:
    cli = home.cli.__globals__["CLI"]
    return await asyncio.create_subprocess_exec(
        str(cli), *args, cwd=cwd, env=home.env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


def _transcript(home: Any, relay_id: str) -> list[tuple[str, int, int, str]]:
    cp = home.json("relay", "status", relay_id)
    assert cp["status"] == "completed" and cp["stop_reason"] == "converged", cp
    return [(t["profile"], t["round"], t["index"], t["text"]) for t in cp["turns"]]


def _relay_in(home: Any, workspace: Path) -> str:
    for path in (home.root / "data" / "relays").glob("r*.json"):
        if json.loads(path.read_bytes())["workspace"] == str(workspace.resolve()):
            return str(path.stem)
    raise AssertionError(f"no relay in {workspace}")


@pytest.mark.timeout(300)
async def test_relay_survives_sigkill_at_every_turn_boundary_and_mid_tool(home: Any) -> None:
    fifo, gate = home.root.parent / "lines.fifo", home.root.parent / "gate.lock"
    os.mkfifo(fifo)
    gate.touch()
    # The test is the fifo's reader for good (O_RDWR never blocks): each tool says its line.
    fifo_fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    server = RelayModel(fifo, gate)
    loop_ = KillLoop(home, server)
    server.decide = loop_.decide
    buffer = bytearray()

    def on_fifo() -> None:
        buffer.extend(os.read(fifo_fd, 4096))
        while b"\n" in buffer:
            line, _, rest = bytes(buffer).partition(b"\n")
            buffer[:] = rest
            loop_.lines.put_nowait(line.decode())

    loop = asyncio.get_running_loop()
    loop.add_reader(fifo_fd, on_fifo)
    base, victim = home.workspace / "base", home.workspace / "victim"
    base.mkdir()
    victim.mkdir()
    try:
        async with server:
            home.extra_env["OPENAI_API_KEY"] = "sk-test"
            home.write_config(f'[default]\nprovider = "openai"\nmodel = "m"\n\n'
                              f'[providers.openai]\nbase_url = "{server.openai_base_url}"\n\n'
                              '[secrets]\nallow_env = true\n\n[permissions]\nmode = "auto"\n')
            task = "append your line, then hand on"
            # -- the uninterrupted run -----------------------------------------------------
            proc = await _cli(home, base, "run", f"/autochat {len(PROFILES)} {task}")
            out, err = await proc.communicate()
            assert proc.returncode == 0, err.decode()
            expected = _transcript(home, _relay_in(home, base))
            assert len(expected) == len(PROFILES) * ROUNDS
            lines = [f"{n}-{r}" for r in range(1, ROUNDS + 1) for n in PROFILES]
            assert (base / "side.txt").read_text().split() == lines
            # -- the same relay, killed at every point -------------------------------------
            loop_.armed = True
            proc = await _cli(home, victim, "run", f"/autochat {len(PROFILES)} {task}")
            relay_id = ""
            while True:
                ended = asyncio.ensure_future(proc.wait())
                killed = asyncio.ensure_future(loop_.killed.get())
                await asyncio.wait([ended, killed], return_when=asyncio.FIRST_COMPLETED)
                if killed.done():
                    await ended  # its daemon is gone: the client says so and exits
                    out, err = await proc.communicate()
                    assert proc.returncode != 0
                    relay_id = relay_id or _relay_in(home, victim)
                    start = await _cli(home, victim, "daemon", "start")
                    _, start_err = await start.communicate()
                    assert start.returncode == 0, start_err.decode()
                    proc = await _cli(home, victim, "relay", "resume", relay_id)
                    continue
                killed.cancel()
                out, err = await proc.communicate()
                assert proc.returncode == 0, err.decode()
                break
            assert not loop_.todo, f"kill points never reached: {sorted(map(str, loop_.todo))}"
            assert len(loop_.kills) >= 20
            assert _transcript(home, relay_id) == expected
            written = (victim / "side.txt").read_text().split()
            assert written == lines  # every side effect exactly once, in order
            cp = home.json("relay", "status", relay_id)
            assert sum(t["resumed"] for t in cp["turns"] if "resumed" in t) >= len(PROFILES)
            assert len(set(cp["sessions"].values())) == len(PROFILES)  # one session per profile
            # each mid-tool kill left its call started and unanswered: resumed, it was never run again
            interrupted = sum((home.root / "data" / "sessions" / sid / "transcript.jsonl").read_text()
                              .count("interrupted by a daemon restart") for sid in cp["sessions"].values())
            assert interrupted == len(PROFILES) * ROUNDS
            assert out.decode().strip() == expected[-1][3]
    finally:
        loop.remove_reader(fifo_fd)
        os.close(fifo_fd)
