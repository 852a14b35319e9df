"""Stages and the stage scheduler: levels, dependencies, a failure's dependants skipped,
fail-fast, cancel leaving nothing running, resume, and the concurrency cap."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest
from codetether.daemon.core.agents import PlanError, run_stages, stages
from codetether.daemon.wire.swarm import Plan, Subtask, SubtaskResult, SwarmProgress


def plan(*specs: tuple[str, tuple[str, ...]] | tuple[str, tuple[str, ...], int]) -> Plan:
    subs = []
    for spec in specs:
        name, deps = spec[0], spec[1]
        priority = spec[2] if len(spec) == 3 else 0
        subs.append(Subtask(name=name, instruction=f"do {name}", dependencies=deps, priority=priority))
    return Plan(subtasks=tuple(subs))


def test_stages_are_kahn_levels_ordered_by_priority_then_name() -> None:
    p = plan(("e", ("c", "d")), ("d", ("a",)), ("c", ("a", "b")), ("b", (), 5), ("a", ()), ("z", ()))
    assert stages(p) == [["b", "a", "z"], ["c", "d"], ["e"]]


def test_stages_refuse_a_cycle() -> None:
    with pytest.raises(ValueError, match="cycle"):
        stages(plan(("a", ("b",)), ("b", ("a",))))


class Runner:
    """A run_subtask whose subtasks finish when the test says so (or at once when
    ``auto``), recording what ran and with which dependency results."""

    def __init__(self, *, auto: bool = True, fail: frozenset[str] = frozenset()) -> None:
        self.auto = auto
        self.fail = fail
        self.ran: list[str] = []
        self.deps_seen: dict[str, list[str]] = {}
        self.entered: asyncio.Queue[str] = asyncio.Queue()
        self.gates: dict[str, asyncio.Event] = {}
        self.active = 0
        self.max_active = 0
        self.cancelled: list[str] = []

    def gate(self, name: str) -> asyncio.Event:
        return self.gates.setdefault(name, asyncio.Event())

    async def __call__(self, sub: Subtask, deps: Mapping[str, SubtaskResult]) -> SubtaskResult:
        self.ran.append(sub.name)
        self.deps_seen[sub.name] = sorted(deps)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            self.entered.put_nowait(sub.name)
            if not self.auto:
                await self.gate(sub.name).wait()
            if sub.name in self.fail:
                raise RuntimeError(f"{sub.name} broke")
            return SubtaskResult(name=sub.name, status="done", output=f"{sub.name} ok", steps=1)
        except asyncio.CancelledError:
            self.cancelled.append(sub.name)
            raise
        finally:
            self.active -= 1


async def test_dependencies_run_in_stage_order_with_their_results() -> None:
    runner = Runner()
    events: list[SwarmProgress] = []
    p = plan(("a", ()), ("b", ()), ("c", ("a", "b")))
    results = await run_stages(p, runner, max_concurrency=4, progress=events.append, swarm_id="s1")
    assert set(runner.ran[:2]) == {"a", "b"} and runner.ran[2] == "c"
    assert runner.deps_seen["c"] == ["a", "b"]
    assert {n: r.status for n, r in results.items()} == {"a": "done", "b": "done", "c": "done"}
    assert all(r.started_at is not None and r.finished_at is not None for r in results.values())
    assert all(e.swarm_id == "s1" for e in events)
    phases = [(e.phase, e.subtask) for e in events]
    assert phases[0] == ("stage", None) and phases[-1] == ("done", "c")
    assert phases.index(("done", "a")) < phases.index(("started", "c"))


async def test_a_failure_skips_its_dependants_and_spares_independent_ones() -> None:
    runner = Runner(fail=frozenset({"a"}))
    p = plan(("a", ()), ("b", ("a",)), ("c", ("b",)), ("x", ()), ("y", ("x",)))
    results = await run_stages(p, runner, max_concurrency=2)
    assert results["a"].status == "failed" and results["a"].error == "RuntimeError: a broke"
    assert results["b"].status == "skipped" and results["b"].error == "dependency 'a' failed"
    assert results["c"].status == "skipped" and results["c"].error == "dependency 'a' failed"
    assert results["x"].status == "done" and results["y"].status == "done"
    assert "b" not in runner.ran and "c" not in runner.ran


async def test_a_returned_failure_counts_like_a_raised_one() -> None:
    async def run(sub: Subtask, deps: Mapping[str, SubtaskResult]) -> SubtaskResult:
        status = "failed" if sub.name == "a" else "done"
        return SubtaskResult(name="whatever", status=status, error="no" if status == "failed" else None)

    results = await run_stages(plan(("a", ()), ("b", ("a",))), run, max_concurrency=1)
    assert results["a"].name == "a" and results["a"].status == "failed"
    assert results["b"].status == "skipped"


async def test_fail_fast_cancels_the_running_and_skips_the_rest() -> None:
    runner = Runner(auto=False, fail=frozenset({"b"}))
    p = plan(("a", ()), ("b", ()), ("c", ("a",)))
    run = asyncio.create_task(run_stages(p, runner, max_concurrency=2, fail_fast=True))
    assert {await runner.entered.get(), await runner.entered.get()} == {"a", "b"}
    runner.gate("b").set()
    results = await run
    assert results["b"].status == "failed"
    assert results["a"] == SubtaskResult(name="a", status="cancelled", error="fail-fast: subtask 'b' failed",
                                         finished_at=results["a"].finished_at)
    assert results["c"].status == "skipped" and results["c"].error == "fail-fast: subtask 'b' did not finish"
    assert runner.cancelled == ["a"] and runner.active == 0


async def test_cancel_stops_every_running_subtask_and_marks_it() -> None:
    runner = Runner(auto=False)
    events: list[SwarmProgress] = []
    live: dict[str, SubtaskResult] = {}
    p = plan(("a", ()), ("b", ()), ("c", ()), ("d", ("a",)))
    run = asyncio.create_task(run_stages(p, runner, max_concurrency=2, progress=events.append, results=live))
    first = {await runner.entered.get(), await runner.entered.get()}
    assert first == {"a", "b"}  # priority ties break by name; c waits for a slot
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert runner.active == 0 and sorted(runner.cancelled) == ["a", "b"]
    assert {n: r.status for n, r in live.items()} == {n: "cancelled" for n in "abcd"}
    assert live["c"].error == "the swarm was cancelled before it started"
    assert {e.subtask for e in events if e.phase == "cancelled"} == set("abcd")
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("swarm:")]


async def test_resume_keeps_done_results_and_reruns_the_others() -> None:
    runner = Runner()
    prior = {
        "a": SubtaskResult(name="a", status="done", output="from before"),
        "b": SubtaskResult(name="b", status="cancelled", error="the swarm was cancelled"),
        "gone": SubtaskResult(name="gone", status="done"),
    }
    p = plan(("a", ()), ("b", ()), ("c", ("a", "b")))
    results = await run_stages(p, runner, max_concurrency=2, results=prior)
    assert runner.ran == ["b", "c"]
    assert results["a"].output == "from before" and results["b"].status == "done"
    assert set(results) == {"a", "b", "c"} and prior == results


async def test_the_concurrency_cap_holds() -> None:
    runner = Runner(auto=False)
    p = plan(*[(f"t{i}", ()) for i in range(6)])
    run = asyncio.create_task(run_stages(p, runner, max_concurrency=2))
    released = 0
    while released < 6:
        name = await runner.entered.get()
        assert runner.active <= 2
        runner.gate(name).set()
        released += 1
    results = await run
    assert runner.max_active == 2
    assert all(r.status == "done" for r in results.values()) and len(results) == 6


async def test_an_async_progress_callback_is_awaited_and_its_errors_do_not_break_the_swarm(
        caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    async def progress(event: SwarmProgress) -> None:
        seen.append(event.phase)
        if event.phase == "started":
            raise RuntimeError("listener broke")

    results = await run_stages(plan(("a", ())), Runner(), max_concurrency=1, progress=progress)
    assert results["a"].status == "done" and seen == ["stage", "started", "done"]
    assert "progress callback failed" in caplog.text


async def test_an_invalid_plan_is_refused_before_anything_runs() -> None:
    runner = Runner()
    with pytest.raises(PlanError, match="unknown subtask 'ghost'"):
        await run_stages(plan(("a", ()), ("b", ("ghost",))), runner, max_concurrency=1)
    assert runner.ran == []
