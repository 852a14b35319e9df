"""Agents together: memory of 100 concurrent sub-agents [goal: <= 40 MB added], and a
swarm's own overhead for 10 subtasks in 2 stages [goal: <= 50 ms].

* Sub-agents: the real daemon on the scripted model; one ``codetether run`` whose first
  turn calls ``task`` 100 times (read-only calls of one turn run together), each child
  running ``bash sleep`` so all 100 are alive at once (counted from the run's events:
  ``subagent_started`` before the first ``subagent_ended``). The daemon's VmRSS is read
  from /proc before the run and every 20 ms during it; the figure is peak minus before.
  For scale, the seed's README claims 330 MB in total at 100 sub-agents and puts
  opencode at 2,400 MB (their numbers, not measured here).
* Swarm overhead: ``swarm/start`` over the socket with a zero-latency scripted model, so
  the wall time is all ours: plan, 10 subtasks (5, then 5 depending on them) each a
  session run, synthesis, state saved after every change. Once in a plain directory and
  once in a git repository (worktree and branch per subtask of stage 1, merge-back).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from ._util import CLI, BenchResult, heading, print_rows, summarize, temp_daemon, temp_dir
from .a2a_throughput import memory_mb

NAME = "agents"
CHILDREN = 100
GOAL_SUBAGENT_MB = 40.0
GOAL_SWARM_MS = 50.0


def _config(home: Path, script: dict[str, Any]) -> None:
    (home / "config").mkdir(parents=True, exist_ok=True)
    path = home / "script.json"
    path.write_text(json.dumps(script))
    (home / "config" / "config.toml").write_text(
        f'[default]\nprovider = "scripted"\nmodel = "scripted"\n\n[providers.scripted]\nscript = "{path}"\n\n'
        '[permissions]\nmode = "auto"\n')


def run(quick: bool = False) -> BenchResult:
    result = BenchResult(NAME)
    _subagents(result, quick)
    _swarm(result, quick)
    return result


# -- 100 sub-agents -----------------------------------------------------------------------


def _subagents(result: BenchResult, quick: bool) -> None:
    if quick:
        return _subagents_run(result, 3)
    return _subagents_run(result, 5)


def _subagents_run(result: BenchResult, sleep: int) -> None:
    calls = [{"name": "task", "id": f"c{i}", "arguments": {"name": f"child{i}", "prompt": f"child {i}: wait"}}
             for i in range(CHILDREN)]
    turns: list[Any] = [{"tool_calls": calls}]
    turns += [{"tool": "bash", "arguments": {"command": f"sleep {sleep}"}}] * CHILDREN
    turns += ["done"] * CHILDREN + ["all children done"]
    with temp_dir() as ws, temp_daemon(prepare=lambda home: _config(home, {"turns": turns})) as daemon:
        before = memory_mb(daemon.pid)
        peak = [before]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.02):
                try:
                    peak[0] = max(peak[0], memory_mb(daemon.pid))
                except (OSError, KeyError):
                    return

        sampler = threading.Thread(target=sample, name="rss-sampler")
        sampler.start()
        t0 = time.perf_counter()
        proc = subprocess.run([CLI, "run", "--json", "go"], cwd=ws, env=daemon.env, capture_output=True,
                              text=True, timeout=300)
        wall = time.perf_counter() - t0
        stop.set()
        sampler.join()
        after = memory_mb(daemon.pid)
    if proc.returncode != 0:
        raise RuntimeError(f"codetether run exited {proc.returncode}: {proc.stderr[-800:]}")
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    kinds = [e.get("type") for e in events]
    first_end = kinds.index("subagent_ended") if "subagent_ended" in kinds else len(kinds)
    alive = kinds[:first_end].count("subagent_started")
    ended = [e for e in events if e.get("type") == "subagent_ended"]
    ok = sum(1 for e in ended if e["stop_reason"] == "end_turn")
    print_rows([[f"{CHILDREN} sub-agents (bash sleep {sleep} each)", f"{alive}", f"{ok}/{len(ended)}",
                 f"{before:.1f}", f"{peak[0]:.1f}", f"{peak[0] - before:.1f}", f"{after:.1f}", f"{wall:.1f}"]],
               ["run", "alive at once", "ended ok", "VmRSS before", "peak", "added MB", "after", "wall s"])
    result.figure(f"{CHILDREN} concurrent sub-agents: alive at once", alive, "")
    result.figure(f"{CHILDREN} concurrent sub-agents: RSS added (peak - before)", peak[0] - before, "MB",
                  GOAL_SUBAGENT_MB)
    result.figure(f"{CHILDREN} concurrent sub-agents: RSS after, minus before", after - before, "MB")
    result.note("for scale (their claims, not measured here): the seed 330 MB total at 100 sub-agents, "
                "opencode 2,400 MB")


# -- swarm overhead -----------------------------------------------------------------------


def _plan() -> dict[str, Any]:
    first = [{"name": f"a{i}", "instruction": f"part a{i}", "needs_worktree": True} for i in range(5)]
    second = [{"name": f"b{i}", "instruction": f"part b{i}", "dependencies": [f"a{j}" for j in range(5)]}
              for i in range(5)]
    return {"text": json.dumps({"subtasks": first + second})}


def _swarm(result: BenchResult, quick: bool) -> None:
    from codetether.daemon.client import Client

    rounds = 3 if quick else 10
    turns: list[Any] = []
    for _ in range(rounds * 2 + 1):  # + 1 warm-up
        turns += [_plan(), *(["ok"] * 10), "answer"]
    rows = []
    with temp_daemon(prepare=lambda home: _config(home, {"turns": turns})) as daemon:
        with Client(daemon.paths) as client:
            for label, git in (("plain directory", False), ("git repository (worktrees)", True)):
                times: list[float] = []
                with temp_dir() as ws:
                    if git:
                        _repo(ws)
                    for i in range(rounds + (0 if git else 1)):
                        t0 = time.perf_counter()
                        state = client.call("swarm/start", {"task": "ten parts", "workspace": str(ws),
                                                            "max_subagents": 10, "concurrency": 5})
                        elapsed = time.perf_counter() - t0
                        if state["status"] != "completed" or len(state["results"]) != 10:
                            raise RuntimeError(f"swarm ended {state['status']}: {state.get('error')}")
                        if git or i > 0:  # the first plain run warms the daemon up
                            times.append(elapsed)
                stats = summarize(times)
                rows.append([label, str(len(times)), stats.line("ms", 1e3)])
                key = "plain" if not git else "git"
                result.figure(f"swarm 10 subtasks / 2 stages, {key}: median", stats.p50 * 1e3, "ms",
                              GOAL_SWARM_MS if not git else None)
    print_rows(rows, ["swarm/start, zero-latency model", "runs", "wall time"])


def _repo(path: Path) -> None:
    for args in (("init", "-q", "-b", "main"), ("config", "user.email", "b@example.com"),
                 ("config", "user.name", "bench")):
        subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True)
    (path / "README").write_text("bench\n")
    subprocess.run(["git", "-C", str(path), "add", "-A"], check=True, capture_output=True)
    subprocess.run(["git", "-C", str(path), "commit", "-q", "-m", "base"], check=True, capture_output=True)


if __name__ == "__main__":
    heading(NAME)
    run()
