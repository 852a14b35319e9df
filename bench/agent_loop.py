"""Agent-loop overhead per model turn with a zero-latency model [goal: p50 <= 0.5 ms].

In process: a SessionStore in a temp dir, a SessionRuntime, an ApprovalStore, the
default tool registry and an Agent in ``auto`` mode, driven by the ScriptedProvider
(or a minimal in-bench stand-in before it exists). One sample is one
``agent.run()`` divided by its model turns, for runs of

* a text answer (1 turn),
* 4 turns each calling ``todo_read`` (no I/O) then an answer,
* 4 turns each calling ``read_file`` on a 20-line file then an answer,

next to the cost of iterating the same provider script without the agent. The
text and read_file runs go again with the session store's writes stubbed out
(what is left is loop logic) and with sessions on tmpfs (the writes' syscalls
without a disk), and a text turn streamed as 1000 deltas gives the cost of each
extra delta. The event hub has no subscribers here; in the daemon the calling client
adds one. cProfile then shows where a turn's time goes.
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import pstats
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ._util import BenchResult, Stats, heading, print_rows, summarize, temp_dir

NAME = "agent_loop"
GOAL_MS = 0.5
TOOL_TURNS = 4
ROUNDS = 4


def run(quick: bool = False) -> BenchResult:
    result = BenchResult(NAME)
    with temp_dir() as root, _tmpfs_dir() as shm:
        return asyncio.run(_main(result, root, shm, quick))


@contextmanager
def _tmpfs_dir() -> Iterator[Path | None]:
    """A temp dir on tmpfs (/dev/shm) when there is one: session writes without a disk."""
    if not os.path.isdir("/dev/shm"):
        yield None
        return
    path = Path(tempfile.mkdtemp(prefix="ct", dir="/dev/shm"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


async def _main(result: BenchResult, root: Path, shm: Path | None, quick: bool) -> BenchResult:
    from codetether.daemon.core.approvals import ApprovalStore
    from codetether.daemon.core.sessions import SessionStore

    workspace = root / "ws"
    workspace.mkdir()
    (workspace / "a.txt").write_text("".join(f"line {i}: some text\n" for i in range(1, 21)))
    store = SessionStore(root / "sessions")
    approvals = ApprovalStore(root / "approvals")
    registry, registry_desc = _registry()
    provider_cls, provider_desc = _provider_factory()
    print(f"provider: {provider_desc}; tools: {registry_desc}; sessions in {root} (fresh session per run)")

    bench = _Bench(store, approvals, registry, provider_cls, str(workspace))
    no_writes = _Bench(_no_write_store(store), approvals, registry, provider_cls, str(workspace))
    scale = 1 if quick else 4
    read_file = [_tool("read_file", {"path": "a.txt"}, k) for k in range(TOOL_TURNS)] + [_text("Done.")]
    deltas = 1000  # enough that the per-delta cost stands out of the run-to-run noise
    # (label, bench, script, runs, goal?): the goal applies to the loop as the daemon runs it.
    scenarios: list[tuple[str, _Bench, list[Any], int, bool]] = [
        ("text answer", bench, [_text("Done.")], 160 * scale, True),
        (f"{TOOL_TURNS}x todo_read + answer", bench,
         [_tool("todo_read", {}, k) for k in range(TOOL_TURNS)] + [_text("Done.")], 40 * scale, True),
        (f"{TOOL_TURNS}x read_file + answer", bench, read_file, 40 * scale, True),
        # Without the disk writes (which dominate and are noisy): loop logic, and the
        # per-delta cost, which would drown in the write noise.
        ("text answer, store writes stubbed", no_writes, [_text("Done.")], 80 * scale, False),
        (f"{TOOL_TURNS}x read_file + answer, store writes stubbed", no_writes, read_file, 40 * scale, False),
        *([(f"{TOOL_TURNS}x read_file + answer, sessions on tmpfs",
            _Bench(SessionStore(shm / "sessions"), approvals, registry, provider_cls, str(workspace)),
            read_file, 40 * scale, False)] if shm is not None else []),
        (f"text answer in {deltas} deltas, store writes stubbed", no_writes, [_stream(deltas)],
         40 * scale, False),
    ]
    missing = [n for n in ("todo_read", "read_file") if n not in registry]
    if missing:
        print(f"note: {', '.join(missing)} not in the registry; those calls measure the unknown-tool path")

    # Rounds rotate through the scenarios so disk and machine noise land on all alike.
    agent_s: dict[str, list[float]] = {sc[0]: [] for sc in scenarios}
    build_s: dict[str, list[float]] = {sc[0]: [] for sc in scenarios}
    for _round in range(ROUNDS):
        for label, runner, script, runs, _goal in scenarios:
            turns, builds = await runner.agent_runs(script, runs // ROUNDS)
            agent_s[label] += turns
            build_s[label] += builds
    rows = []
    per_turn: dict[str, Stats] = {}
    for label, runner, script, runs, goal in scenarios:
        st, build = summarize(agent_s[label]), summarize(build_s[label])
        raw = summarize(await runner.raw_runs(script, runs))
        per_turn[label] = st
        rows.append([label, str(len(script)), f"{st.p50 * 1e3:.3f}", f"{st.p90 * 1e3:.3f}",
                     f"{st.p99 * 1e3:.3f}", f"{raw.p50 * 1e6:.1f}", f"{build.p50 * 1e6:.0f}", str(st.n)])
        result.figure(f"per turn p50: {label}", st.p50 * 1e3, "ms", GOAL_MS if goal else None)
        if goal:
            result.figure(f"raw provider per turn p50: {label}", raw.p50 * 1e6, "us")
    print_rows(rows, ["run", "turns", "p50 ms/turn", "p90", "p99", "raw provider us/turn",
                      "Agent() us", "runs"])

    steady = summarize(await bench.steady_runs(200 * scale))
    print(f"\nsteady state, one session, successive prompts: p50 {steady.p50 * 1e3:.3f} ms/turn, "
          f"p99 {steady.p99 * 1e3:.3f} ms")
    result.figure("per turn p50: text answer, long-lived session", steady.p50 * 1e3, "ms", GOAL_MS)

    per_delta = (per_turn[scenarios[-1][0]].p50 - per_turn[scenarios[3][0]].p50) / (deltas - 1)
    print(f"\nstreaming: {per_delta * 1e6:.1f} us per extra text delta ({deltas}-delta vs 1-delta answer, "
          "store writes stubbed)")
    result.figure("per extra streamed text delta", per_delta * 1e6, "us")

    heading_line = f"where a turn goes ({TOOL_TURNS}x read_file + answer, cProfile, per model turn)"
    print(f"\n{heading_line}:")
    top = await bench.profile(read_file, runs=30 * scale)
    print_rows([[f"{tt:.1f}", f"{ct:.1f}", f"{calls:.1f}", where] for tt, ct, calls, where in top],
               ["self us", "cumul us", "calls", "function"])
    result.note(f"{heading_line}: " + "; ".join(f"{w} {tt:.0f}us" for tt, _ct, _n, w in top[:6]))
    for b in {id(sc[1].store): sc[1] for sc in scenarios}.values():
        getattr(b.store, "close", lambda: None)()
    return result


class _Bench:
    def __init__(self, store: Any, approvals: Any, registry: Any,
                 provider_cls: Callable[[list[Any]], Any], workspace: str) -> None:
        self.store, self.approvals, self.registry = store, approvals, registry
        self.provider_cls, self.workspace = provider_cls, workspace

    def _agent(self, script: Sequence[Any]) -> Any:
        from codetether.daemon.core.agent import Agent, AgentSettings
        from codetether.daemon.core.sessions import SessionRuntime

        meta = self.store.create(workspace=self.workspace, model="scripted/m", approval_mode="auto")
        runtime = SessionRuntime(meta, self.store)
        settings = AgentSettings(model="m", model_label="scripted/m", mode="auto")
        provider = self.provider_cls(list(script))
        return lambda: Agent(runtime, provider, self.registry, self.approvals, settings)

    async def agent_runs(self, script: Sequence[Any], runs: int) -> tuple[list[float], list[float]]:
        """Per-turn seconds of ``runs`` agent runs (after warm-up), and Agent() build times."""
        per_turn, builds = [], []
        for i in range(runs + max(5, runs // 10)):
            make = self._agent(script)
            t0 = time.perf_counter()
            agent = make()
            t1 = time.perf_counter()
            outcome = await agent.run("Please do the task.")
            t2 = time.perf_counter()
            if outcome.stop_reason != "end_turn" or outcome.steps != len(script):
                raise RuntimeError(f"unexpected run outcome: {outcome}")
            if i >= max(5, runs // 10):
                per_turn.append((t2 - t1) / len(script))
                builds.append(t1 - t0)
        return per_turn, builds

    async def steady_runs(self, runs: int) -> list[float]:
        """Per-turn seconds of prompts answered in one long-lived session (text turns):
        the loop's overhead once the session's files are open, as in daily use."""
        from codetether.daemon.core.agent import Agent, AgentSettings
        from codetether.daemon.core.sessions import SessionRuntime

        warm = max(5, runs // 10)
        meta = self.store.create(workspace=self.workspace, model="scripted/m", approval_mode="auto")
        runtime = SessionRuntime(meta, self.store)
        settings = AgentSettings(model="m", model_label="scripted/m", mode="auto")
        provider = self.provider_cls([_text("Done.") for _ in range(runs + warm)])
        agent = Agent(runtime, provider, self.registry, self.approvals, settings)
        samples = []
        for i in range(runs + warm):
            t0 = time.perf_counter()
            await agent.run("Next question.")
            if i >= warm:
                samples.append(time.perf_counter() - t0)
        return samples

    async def raw_runs(self, script: Sequence[Any], runs: int) -> list[float]:
        """Per-turn seconds of iterating the same script straight from the provider."""
        from codetether.daemon.core.providers.base import CompletionRequest
        from codetether.daemon.wire.messages import Message

        request = CompletionRequest(model="m", messages=[Message(role="user", content="Please do the task.")])
        samples = []
        for _ in range(runs):
            provider = self.provider_cls(list(script))
            t0 = time.perf_counter()
            for _turn in script:
                async for _event in provider.stream(request):
                    pass
            samples.append((time.perf_counter() - t0) / len(script))
        return samples

    async def profile(self, script: Sequence[Any], runs: int) -> list[tuple[float, float, float, str]]:
        """Top functions by self time, in microseconds and calls per model turn."""
        makers = [self._agent(script) for _ in range(runs)]
        prof = cProfile.Profile()
        prof.enable()
        for make in makers:
            await make().run("Please do the task.")
        prof.disable()
        turns = runs * len(script)
        stats: dict[Any, Any] = pstats.Stats(prof).stats  # type: ignore[attr-defined]
        rows = []
        for (path, line, func), (_cc, ncalls, tt, ct, _callers) in stats.items():
            where = f"{_short(path)}:{line}({func})" if line else func
            rows.append((tt / turns * 1e6, ct / turns * 1e6, ncalls / turns, where))
        return sorted(rows, reverse=True)[:12]


def _no_write_store(store: Any) -> Any:
    """The same store with its per-message writes turned into no-ops."""

    class _NoWrites(type(store)):  # type: ignore[misc]
        def append(self, session_id: str, records: list[Any]) -> None:
            pass

        def save_meta(self, meta: Any) -> None:
            pass

    return _NoWrites(store.root)


def _short(path: str) -> str:
    parts = Path(path).parts
    for anchor in ("daemon", "site-packages", "python3.11"):
        if anchor in parts:
            return "/".join(parts[parts.index(anchor) + (anchor != "daemon"):])
    return Path(path).name


# -- tools and provider: the real ones when they exist ----------------------------------


def _registry() -> tuple[Any, str]:
    try:
        from codetether.daemon.core.tools import default_registry  # type: ignore[attr-defined]
    except ImportError:
        default_registry = None
    if default_registry is not None:
        registry = default_registry()
        return registry, f"default_registry() ({len(registry)} tools)"
    from codetether.daemon.core.tools.base import ToolRegistry

    tools = []
    for module, cls in (("fs", "ReadFileTool"), ("session_tools", "TodoReadTool")):
        try:
            mod = __import__(f"codetether.daemon.core.tools.{module}", fromlist=[cls])
            tools.append(getattr(mod, cls)())
        except (ImportError, AttributeError):
            pass
    registry = ToolRegistry(tools)
    return registry, f"no default_registry yet: ToolRegistry({', '.join(registry.names()) or 'empty'})"


def _provider_factory() -> tuple[Callable[[list[Any]], Any], str]:
    try:
        from codetether.daemon.core.providers.scripted import ScriptedProvider
    except ImportError:
        return _ZeroProvider, "in-bench zero-latency provider (codetether.daemon.core.providers.scripted missing)"
    return ScriptedProvider, "codetether.daemon.core.providers.scripted.ScriptedProvider"


# Turns are built as event lists: both ScriptedProvider (via Turn.coerce) and the
# in-bench stand-in accept those.


def _text(text: str) -> list[Any]:
    from codetether.daemon.core.providers.base import StreamDone, TextDelta, UsageReport
    from codetether.daemon.wire.messages import Usage

    return [TextDelta(text), UsageReport(Usage(10, 2)), StreamDone("end_turn")]


def _stream(deltas: int) -> list[Any]:
    from codetether.daemon.core.providers.base import StreamDone, TextDelta, UsageReport
    from codetether.daemon.wire.messages import Usage

    return [*(TextDelta("tok ") for _ in range(deltas)), UsageReport(Usage(10, deltas)),
            StreamDone("end_turn")]


def _tool(name: str, args: dict[str, Any], k: int) -> list[Any]:
    import json

    from codetether.daemon.core.providers.base import (
        StreamDone,
        ToolCallReady,
        UsageReport,
    )
    from codetether.daemon.wire.messages import ToolCall, Usage

    call = ToolCall(id=f"call_{k}", name=name, arguments=json.dumps(args))
    return [ToolCallReady(call), UsageReport(Usage(10, 5)), StreamDone("tool_use")]


class _ZeroProvider:
    """Plays a list of turns (each a list of provider events), no latency."""

    name = "bench"

    def __init__(self, turns: list[list[Any]]) -> None:
        self._turns = list(turns)

    async def stream(self, request: Any) -> Any:
        for event in self._turns.pop(0) if self._turns else _text("(no more turns)"):
            yield event

    async def list_models(self) -> list[Any]:
        return []

    async def aclose(self) -> None:
        pass


if __name__ == "__main__":
    heading(NAME)
    run()
