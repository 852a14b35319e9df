"""The relay's checkpoint write (p50/p99) and its resume after kill -9.

* Checkpoint write: :class:`RelayStore.save` of a relay 8 turns in (each turn's reply
  ~1 KB): msgspec encode, temp file, fsync, rename (what every step of a relay pays),
  beside the same write without the fsync, on this machine's disk.
* Resume after kill -9: the real daemon on the scripted model runs ``/autochat 2``; the
  first turn's ``bash`` call blocks (on a lock this bench holds) after saying so through a
  fifo; the daemon is killed with SIGKILL there, the script is pointed at the turns still
  to come, then ``codetether daemon start`` and ``codetether relay resume ID --json``.
  Timed from the start command: the daemon ready (start returns), the relay's
  ``resumed`` event, and the first resumed turn finished (its ``baton`` event).
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from ._util import CLI, BenchResult, child_env, heading, print_rows, summarize, temp_dir

NAME = "relay"


def run(quick: bool = False) -> BenchResult:
    result = BenchResult(NAME)
    _checkpoint(result, 200 if quick else 2000)
    _resume(result, 3 if quick else 10)
    return result


# -- checkpoint writes ---------------------------------------------------------------------


def _checkpoint(result: BenchResult, n: int) -> None:
    import msgspec
    from codetether.daemon.core.relay import DEFAULT_PROFILES, RelayStore, new_relay_id
    from codetether.daemon.core.storage import atomic_write
    from codetether.daemon.wire.relay import RelayCheckpoint, RelayTurn

    heading(f"relay checkpoint write ({n} writes, 8 turns in)")
    turns = tuple(RelayTurn(round=1 + i // 3, index=i % 3, profile=DEFAULT_PROFILES[i % 3].name,
                            session_id=f"20261130-120000-{i:06x}", text="handoff " * 128, tool_calls=2)
                  for i in range(8))
    with temp_dir() as root:
        store = RelayStore(root / "relays")
        cp = RelayCheckpoint(relay_id=new_relay_id(), task="a task", workspace=str(root), order=("a", "b", "c"),
                             profiles=DEFAULT_PROFILES, turns=turns, baton=turns[-1].text, status="running")
        size = len(msgspec.json.encode(cp))
        rows = []
        for label, durable in (("atomic + fsync (RelayStore.save)", True), ("atomic, no fsync", False)):
            samples = []
            path = root / "plain.json"
            for i in range(n):
                cp = msgspec.structs.replace(cp, seq=i)
                t0 = time.perf_counter()
                if durable:
                    store.save(cp)
                else:
                    atomic_write(path, msgspec.json.encode(cp), 0o600, durable=False)
                samples.append(time.perf_counter() - t0)
            stats = summarize(samples)
            rows.append([label, f"{size / 1024:.1f}", f"{stats.p50 * 1e3:.2f}", f"{stats.p99 * 1e3:.2f}",
                         f"{stats.max * 1e3:.2f}"])
            if durable:
                result.figure("relay checkpoint write p50 (fsynced)", stats.p50 * 1e3, "ms")
                result.figure("relay checkpoint write p99 (fsynced)", stats.p99 * 1e3, "ms")
            else:
                result.figure("same write without fsync, p50", stats.p50 * 1e3, "ms")
    print_rows(rows, ["write", "KB", "p50 ms", "p99 ms", "max ms"])


# -- resume after kill -9 --------------------------------------------------------------------


def _profiles() -> dict[str, Any]:
    return {"text": json.dumps({"profiles": [{"name": n, "instructions": f"be {n}"} for n in ("doer", "checker")]})}


def _config(home: Path, turns: list[Any]) -> None:
    (home / "config").mkdir(parents=True, exist_ok=True)
    script = home / "script.json"
    script.write_text(json.dumps({"turns": turns}))
    (home / "config" / "config.toml").write_text(
        f'[default]\nprovider = "scripted"\nmodel = "scripted"\n\n[providers.scripted]\nscript = "{script}"\n\n'
        '[permissions]\nmode = "auto"\n')


def _resume(result: BenchResult, rounds: int) -> None:
    heading(f"relay resume after kill -9 ({rounds} kills)")
    ready_s: list[float] = []
    resumed_s: list[float] = []
    turn_s: list[float] = []
    for _ in range(rounds):
        ready, resumed, turn = _one_kill()
        ready_s.append(ready)
        resumed_s.append(resumed)
        turn_s.append(turn)
    rows = []
    for label, samples in (("daemon start (ready)", ready_s), ("relay `resumed` event", resumed_s),
                           ("first resumed turn done", turn_s)):
        stats = summarize(samples)
        rows.append([label, f"{stats.p50 * 1e3:.0f}", f"{stats.max * 1e3:.0f}"])
    print_rows(rows, ["from `daemon start` after kill -9 to", "p50 ms", "max ms"])
    result.figure("relay resume after kill -9: restart to first resumed turn, p50", summarize(turn_s).p50 * 1e3,
                  "ms")
    result.figure("  of which the daemon's start, p50", summarize(ready_s).p50 * 1e3, "ms")


def _one_kill() -> tuple[float, float, float]:
    with temp_dir() as ws, tempfile.TemporaryDirectory(prefix="ctr", dir="/tmp") as tmp:
        home = Path(tmp) / "h"
        home.mkdir()
        fifo, gate = Path(tmp) / "f", Path(tmp) / "g"
        os.mkfifo(fifo)
        held = os.open(gate, os.O_RDWR | os.O_CREAT)
        fcntl.flock(held, fcntl.LOCK_EX)
        reader = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
        block = {"tool": "bash", "arguments": {"command": f"echo x > {fifo}; flock {gate} true"}}
        _config(home, [_profiles(), block, "doer done", "checked\nAPPROVED"])
        env = child_env(CODETETHER_HOME=str(home))
        pid = 0
        try:
            subprocess.run([CLI, "daemon", "start"], env=env, check=True, capture_output=True, timeout=90)
            pid = int((home / "run" / "daemon.pid").read_text())
            run = subprocess.Popen([CLI, "run", "/autochat 2 bench"], cwd=ws, env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if not select.select([reader], [], [], 60)[0]:  # the tool is running, blocked on the lock
                raise RuntimeError("the relay's tool never ran")
            _kill(pid)
            run.wait(timeout=30)
            _config(home, ["doer done", "checked\nAPPROVED"])  # what the model has still to say
            relay_id = next((home / "data" / "relays").glob("r*.json")).stem
            t0 = time.perf_counter()
            subprocess.run([CLI, "daemon", "start"], env=env, check=True, capture_output=True, timeout=90)
            ready = time.perf_counter() - t0
            pid = int((home / "run" / "daemon.pid").read_text())
            proc = subprocess.Popen([CLI, "relay", "resume", relay_id, "--json"], env=env, text=True,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            resumed = turn = 0.0
            assert proc.stdout is not None
            for line in proc.stdout:
                event = json.loads(line)
                if event.get("phase") == "resumed" and not resumed:
                    resumed = time.perf_counter() - t0
                if event.get("phase") == "baton" and not turn:
                    turn = time.perf_counter() - t0
            proc.wait(timeout=60)
            if proc.returncode != 0 or not turn:
                raise RuntimeError(f"relay resume exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
            if proc.stderr is not None:
                proc.stderr.close()
            return ready, resumed, turn
        finally:
            os.close(held)
            os.close(reader)
            if pid:
                subprocess.run([CLI, "daemon", "stop"], env=env, capture_output=True, timeout=30)


def _kill(pid: int) -> None:
    pidfd = os.pidfd_open(pid)
    try:
        os.kill(pid, signal.SIGKILL)
        select.select([pidfd], [], [], 10)
    finally:
        os.close(pidfd)
