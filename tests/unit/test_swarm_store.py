"""Swarm state on disk: a full state round-trips, survives a new store (a restart),
lists newest first, and bad ids or corrupt files are clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest
from codetether.daemon.core.agents import SwarmStore, new_swarm_id
from codetether.daemon.errors import Conflict, NotFound
from codetether.daemon.wire.swarm import (
    DiffSummary,
    FileDiff,
    MergeOutcome,
    MergeReport,
    Plan,
    Subtask,
    SubtaskResult,
    SwarmState,
)


def full_state(swarm_id: str, created: float = 1.0) -> SwarmState:
    plan = Plan(subtasks=(Subtask(name="api", instruction="add it", specialty="backend", priority=1,
                                  needs_worktree=True),
                          Subtask(name="docs", instruction="doc it", dependencies=("api",))))
    return SwarmState(
        id=swarm_id, task="add an endpoint", strategy="domain", max_subagents=4, status="completed",
        plan=plan, stages=(("api",), ("docs",)),
        results={
            "api": SubtaskResult(name="api", status="done", output="added", branch="codetether/swarm/x/api",
                                 diff=DiffSummary(files=(FileDiff(path="a.py", added=3, removed=1),),
                                                  added=3, removed=1),
                                 steps=4, tokens_in=100, tokens_out=20, started_at=2.0, finished_at=3.0),
            "docs": SubtaskResult(name="docs", status="skipped", error="dependency 'api' failed"),
        },
        merge=MergeReport(outcomes=(MergeOutcome(subtask="api", branch="b", status="conflict",
                                                 files=("a.py",), detail="aborted"),)),
        answer="done", base_commit="0" * 40, created_at=created, updated_at=created + 1,
    )


def test_a_state_round_trips_across_a_restart(tmp_path: Path) -> None:
    state = full_state("s1")
    SwarmStore(tmp_path / "swarms").save(state)
    again = SwarmStore(tmp_path / "swarms").get("s1")
    assert again == state
    assert again.results["api"].diff is not None and again.results["api"].diff.files_changed == 1
    assert (tmp_path / "swarms" / "s1.json").stat().st_mode & 0o777 == 0o600


def test_save_replaces_and_list_is_newest_first(tmp_path: Path) -> None:
    store = SwarmStore(tmp_path)
    store.save(SwarmState(id="old", task="t", created_at=1.0))
    store.save(SwarmState(id="new", task="t", created_at=5.0))
    store.save(msgspec.structs.replace(store.get("old"), status="running"))
    assert [(s.id, s.status) for s in store.list()] == [("new", "planning"), ("old", "running")]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".ct-tmp")]


def test_missing_bad_and_corrupt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = SwarmStore(tmp_path / "none-yet")
    assert store.list() == []
    with pytest.raises(NotFound, match="no swarm 'nope'"):
        store.get("nope")
    for bad in ("../etc/passwd", ".hidden", "", "a/b"):
        with pytest.raises(NotFound):
            store.get(bad)
    store.save(SwarmState(id="good", task="t"))
    (tmp_path / "none-yet" / "broken.json").write_text("{not json")
    with pytest.raises(Conflict, match="corrupt"):
        store.get("broken")
    assert [s.id for s in store.list()] == ["good"]
    assert "corrupt swarm state" in caplog.text
    store.delete("good")
    with pytest.raises(NotFound):
        store.delete("good")


def test_new_ids_are_unique_and_safe() -> None:
    ids = {new_swarm_id() for _ in range(20)}
    assert len(ids) == 20
    assert all(re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", i) for i in ids)
