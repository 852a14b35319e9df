"""Two "hosts": one daemon and two `codetether worker` processes, each with its own
CODETETHER_HOME and its own clone of one origin repository, sharing one real
nats-server (port 0). A swarm's subtasks run on the workers (one each, held together
by a barrier in their scripts); then a worker is SIGKILLed mid-subtask, the subtask is
redelivered to the other worker and finishes, and the changes merge in the daemon's repo."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from codetether.daemon.testing.nats import NatsServer

CLI = str(Path(os.environ.get("VIRTUAL_ENV", "")) / "bin" / "codetether")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def _origin(path: Path) -> None:
    path.mkdir()
    _git(path, "init", "-q", "-b", "main")
    _git(path, "config", "user.email", "t@example.com")
    _git(path, "config", "user.name", "t")
    (path / "README").write_text("base\n")
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "base")


def _clone(origin: Path, to: Path) -> None:
    subprocess.run(["git", "clone", "-q", str(origin), str(to)], check=True, capture_output=True)
    _git(to, "config", "user.email", "t@example.com")
    _git(to, "config", "user.name", "t")


def _plan(*subtasks: dict[str, Any]) -> dict[str, Any]:
    return {"text": json.dumps({"subtasks": list(subtasks)})}


def _bash(command: str) -> dict[str, Any]:
    return {"tool": "bash", "arguments": {"command": command}}


def _write(path: str, content: str) -> dict[str, Any]:
    return {"tool": "write_file", "arguments": {"path": path, "content": content}}


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "CODETETHER_"))}
    env["CODETETHER_HOME"] = str(root)
    return env


def _configure(root: Path, turns: list[Any], extra: str = "") -> None:
    (root / "config").mkdir(parents=True, exist_ok=True)
    script = root / "script.json"
    script.write_text(json.dumps({"turns": turns, "fallback": "(script exhausted)"}))
    (root / "config" / "config.toml").write_text(
        f'[default]\nprovider = "scripted"\nmodel = "scripted"\n\n[providers.scripted]\nscript = "{script}"\n\n'
        f'[permissions]\nmode = "auto"\n\n{extra}')


@contextmanager
def _worker(root: Path, workspace: Path, url: str, name: str) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    from shutil import which

    cli = which("codetether", path=str(Path(os.sys.executable).parent)) or CLI
    proc = subprocess.Popen([cli, "worker", "--bus", url, "--name", name, "--workspace", str(workspace),
                             "--port", "0", "--json", "--ack-wait", "2", "--heartbeat", "0.5"],
                            env=_env(root), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the handshake: registered and pulling
        assert line, proc.stderr.read() if proc.stderr else ""
        yield proc, json.loads(line)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


async def test_swarm_subtasks_run_on_two_workers_and_survive_a_sigkill(home: Any, short_dir: Path) -> None:
    import urllib.request
    from shutil import which

    cli = which("codetether", path=str(Path(os.sys.executable).parent))
    assert cli is not None
    origin = short_dir / "origin"
    _origin(origin)
    home.workspace.rmdir()
    _clone(origin, home.workspace)
    barrier, flag, pidfile = short_dir / "barrier", short_dir / "slow-started", short_dir / "sleep.pid"
    barrier.mkdir()

    def worker_turns(me: str, other: str) -> list[Any]:
        return [
            # swarm 1: each worker waits until the other one runs a subtask too
            _bash(f"touch {barrier}/{me}; for i in $(seq 600); do [ -e {barrier}/{other} ] && exit 0; "
                  "sleep 0.05; done; exit 1"),
            _write(f"{me}.txt", f"from {me}\n"), f"done by {me}",
            # swarm 2: the first attempt blocks (and is killed), the redelivered one goes on
            _bash(f"if [ -e {flag} ]; then echo again; else touch {flag}; echo $$ > {pidfile}; exec sleep 60; fi"),
            _write("slow.txt", f"slow from {me}\n"), f"slow done by {me}",
        ]

    async with NatsServer(short_dir / "nats") as nats:
        _configure(home.root, [
            _plan({"name": "left", "instruction": "write left", "needs_worktree": True},
                  {"name": "right", "instruction": "write right", "needs_worktree": True}),
            "Both sides written.",
            _plan({"name": "slow", "instruction": "a slow change", "needs_worktree": True}),
            "The slow change is in.",
        ], f'[bus]\nurl = "{nats.url}"\n\n[swarm]\nexecution = "cluster"\n')
        roots = {}
        for name in ("a", "b"):
            roots[name] = short_dir / f"w{name}"
            _clone(origin, short_dir / f"ws-{name}")
            _configure(roots[name], worker_turns(name, "b" if name == "a" else "a"))
        with _worker(roots["a"], short_dir / "ws-a", nats.url, "a") as (wa, card_a), \
                _worker(roots["b"], short_dir / "ws-b", nats.url, "b") as (wb, card_b):
            with urllib.request.urlopen(f"{card_a['http_url']}/ready", timeout=5) as response:
                assert json.loads(response.read()) == {"ready": True}
            with urllib.request.urlopen(f"{card_b['http_url']}/worker/status", timeout=5) as response:
                status = json.loads(response.read())
            assert status["card"]["name"] == "b" and status["state"] == "running"

            # -- swarm 1: one subtask on each worker --------------------------------
            proc = await asyncio.to_thread(home.cli, "swarm", "--json", "write both sides", timeout=120)
            assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
            lines = [json.loads(line) for line in proc.stdout.splitlines()]
            final = lines[-1]
            assert final["status"] == "completed", final
            ran = {r["name"]: r["output"] for r in final["results"].values()}
            assert sorted(ran.values()) == ["done by a", "done by b"]
            claims = {e["subtask"]: e["detail"] for e in lines[:-1]
                      if e["phase"] == "agent" and e["detail"].startswith("worker ")}
            assert sorted(claims.values()) == ["worker a", "worker b"]
            for subtask, who in claims.items():  # the worker named in the claim wrote the output
                assert ran[subtask] == f"done by {who.split()[1]}"
            assert (home.workspace / "a.txt").read_text() == "from a\n"
            assert (home.workspace / "b.txt").read_text() == "from b\n"
            assert _git(home.workspace, "status", "--porcelain") == ""
            workers = json.loads((await asyncio.to_thread(home.cli, "workers", "--json", check=True)).stdout)
            assert sorted(w["name"] for w in workers) == ["a", "b"]
            # the daemon's registry (on the NATS bus) has their cards too
            agents = json.loads((await asyncio.to_thread(home.cli, "agents", "--role", "worker", "--json",
                                                         check=True)).stdout)
            assert sorted(a["name"] for a in agents if a["status"] == "ready") == ["a", "b"]

            # -- swarm 2: the worker running the subtask is SIGKILLed mid-run -------
            # The swarm's base is now the merge above: published where the workers fetch from.
            _git(home.workspace, "push", "-q", "origin", "HEAD:refs/heads/daemon")
            swarm = subprocess.Popen([cli, "swarm", "--json", "make the slow change"], cwd=home.workspace,
                                     env=home.env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL)
            try:
                assert swarm.stdout is not None
                events: list[dict[str, Any]] = []
                first = ""
                while True:  # wait for the event that says the blocking tool started
                    line = await asyncio.to_thread(swarm.stdout.readline)
                    assert line, json.dumps(events)
                    events.append(json.loads(line))
                    event = events[-1]
                    if event.get("phase") == "agent" and event.get("detail", "").startswith("worker "):
                        first = event["detail"].split()[1]
                    if event.get("phase") == "agent" and event.get("detail") == "bash":
                        break
                victim, survivor = (wa, "b") if first == "a" else (wb, "a")
                victim.send_signal(signal.SIGKILL)
                killed = time.monotonic()
                victim.wait(timeout=10)
                out, err = await asyncio.to_thread(swarm.communicate, timeout=120)
            finally:
                if swarm.poll() is None:
                    swarm.kill()
                    swarm.communicate()
                if pidfile.exists():
                    try:
                        os.kill(int(pidfile.read_text()), signal.SIGKILL)  # the orphaned sleep
                    except (ProcessLookupError, ValueError):
                        pass
            assert swarm.returncode == 0, err
            rest = [json.loads(line) for line in out.splitlines()]
            final = rest[-1]
            took = time.monotonic() - killed
            claims2 = [e["detail"] for e in events + rest[:-1]
                       if e.get("phase") == "agent" and e.get("detail", "").startswith("worker ")]
            assert claims2 == [f"worker {first}", f"worker {survivor}"]
            assert final["status"] == "completed", final
            assert final["results"]["slow"]["output"] == f"slow done by {survivor}"
            assert (home.workspace / "slow.txt").read_text() == f"slow from {survivor}\n"
            assert _git(home.workspace, "status", "--porcelain") == ""
            print(f"SIGKILL -> swarm done: {took:.2f} s (ack wait 2 s)")
            # the killed worker's card expires; the live one stays
            assert victim.returncode == -signal.SIGKILL
