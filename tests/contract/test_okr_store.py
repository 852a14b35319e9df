"""The OKR store's contract on a real SQLite file: round trips, filters, persistence
across a new instance, the run state machine (every legal move, every illegal one
refused naming both states), compare-and-set races between tasks and between two
stores on one file, the audit trail, and a broken file failing clearly."""

from __future__ import annotations

import asyncio
import itertools
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
from codetether.daemon.core.okr import OkrStore
from codetether.daemon.errors import Conflict, InvalidParams, NotFound, Unavailable
from codetether.daemon.wire.okr import (
    RUN_STATUSES,
    RUN_TRANSITIONS,
    CommandEvidence,
    FileEvidence,
    KeyResult,
    KrOutcome,
    OkrCreateParams,
    OkrUpdateParams,
    QuestionEvidence,
)


class Audit:
    """Collects what the store audits (the signature of ``app.recorder.audit.record``)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def __call__(self, category: str, action: str, **kw: Any) -> None:
        self.records.append({"category": category, "action": action, **kw})


@pytest.fixture
def audit() -> Audit:
    return Audit()


@pytest.fixture
def store(tmp_path: Path, audit: Audit) -> OkrStore:
    return OkrStore(tmp_path / "okr" / "okr.db", audit=audit)


def _params(title: str = "Ship it", **kw: Any) -> OkrCreateParams:
    krs = [KeyResult(title="checks pass", evidence=CommandEvidence(command="true")),
           KeyResult(title="docs", evidence=FileEvidence(path="docs/*.md"), metric_type="count", target_value=3)]
    return OkrCreateParams(title=title, key_results=krs, **kw)


# every path from draft that reaches each status, to put a run there
PATH_TO: dict[str, list[str]] = {
    "draft": [],
    "pending_approval": ["pending_approval"],
    "approved": ["pending_approval", "approved"],
    "denied": ["pending_approval", "denied"],
    "running": ["pending_approval", "approved", "running"],
    "paused": ["pending_approval", "approved", "running", "paused"],
    "waiting_approval": ["pending_approval", "approved", "running", "waiting_approval"],
    "completed": ["pending_approval", "approved", "running", "completed"],
    "failed": ["pending_approval", "approved", "running", "failed"],
    "cancelled": ["cancelled"],
}


async def _run_in(store: OkrStore, status: str) -> str:
    okr = await store.create_okr(_params())
    run = await store.create_run(okr.id, by="t")
    for step in PATH_TO[status]:
        await store.transition(run.id, step, by="t")
    return str(run.id)


async def test_okr_round_trip_and_persistence(tmp_path: Path, store: OkrStore) -> None:
    okr = await store.create_okr(_params(owner="ana", tags=["q3", "infra"], target_date="2026-12-31",
                                         description="why"))
    assert okr.id.startswith("okr_") and all(kr.id for kr in okr.key_results)
    assert len({kr.id for kr in okr.key_results}) == 2
    assert await store.get_okr(okr.id) == okr
    store.close()
    again = OkrStore(tmp_path / "okr" / "okr.db")
    assert await again.get_okr(okr.id) == okr
    mode = stat.S_IMODE(os.stat(tmp_path / "okr" / "okr.db").st_mode)
    assert mode == 0o600 and stat.S_IMODE(os.stat(tmp_path / "okr").st_mode) == 0o700
    with pytest.raises(Unavailable, match="closed"):
        await store.get_okr(okr.id)
    again.close()


async def test_list_filters_update_delete(store: OkrStore) -> None:
    a = await store.create_okr(_params("A", owner="ana", tags=["q3"]))
    b = await store.create_okr(_params("B", owner="bo", tags=["q3", "infra"], status="active"))
    c = await store.create_okr(_params("C", owner="ana"))
    assert [o.id for o in await store.list_okrs()] == [c.id, b.id, a.id]
    assert [o.id for o in await store.list_okrs(owner="ana")] == [c.id, a.id]
    assert [o.id for o in await store.list_okrs(tag="q3")] == [b.id, a.id]
    assert [o.id for o in await store.list_okrs(tag="infra", owner="bo", status="active")] == [b.id]
    assert await store.list_okrs(tag="q") == []
    assert len(await store.list_okrs(limit=1)) == 1
    updated = await store.update_okr(OkrUpdateParams(okr_id=a.id, title="A2", status="active"))
    assert updated.title == "A2" and updated.key_results == a.key_results and updated.owner == "ana"
    assert (await store.get_okr(a.id)).status == "active"
    run = await store.create_run(c.id, by="t")
    assert await store.delete_okr(c.id) is True and await store.delete_okr(c.id) is False
    with pytest.raises(NotFound):
        await store.get_run(run.id)
    with pytest.raises(NotFound, match="no OKR okr_nope"):
        await store.get_okr("okr_nope")
    with pytest.raises(NotFound):
        await store.create_run("okr_nope", by="t")


async def test_an_okr_with_an_active_run_is_not_deleted(store: OkrStore) -> None:
    run_id = await _run_in(store, "running")
    okr_id = (await store.get_run(run_id)).okr_id
    with pytest.raises(Conflict, match="cancel it first"):
        await store.delete_okr(okr_id)
    await store.transition(run_id, "cancelled", by="t")
    assert await store.delete_okr(okr_id)


@pytest.mark.parametrize("bad, message", [
    ({"title": " "}, "needs a title"),
    ({"target_date": "next tuesday"}, "YYYY-MM-DD"),
    ({"key_results": [KeyResult(title="x", evidence=FileEvidence(path="../etc/passwd"))]}, "inside the workspace"),
    ({"key_results": [KeyResult(title="x", evidence=FileEvidence(path="/etc/passwd"))]}, "inside the workspace"),
    ({"key_results": [KeyResult(title="x", evidence=CommandEvidence(command="true", value_regex="("))]},
     "does not compile"),
    ({"key_results": [KeyResult(title="x", evidence=QuestionEvidence(question="ok?"), target_value=float("nan"))]},
     "finite"),
    ({"key_results": [KeyResult(title="x", id="k", evidence=QuestionEvidence(question="a")),
                      KeyResult(title="y", id="k", evidence=QuestionEvidence(question="b"))]}, "unique"),
])
async def test_bad_okrs_are_refused(store: OkrStore, bad: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {"title": "t", **bad}
    with pytest.raises(InvalidParams, match=message):
        await store.create_okr(OkrCreateParams(**fields))


LEGAL = [(a, b) for a, nexts in RUN_TRANSITIONS.items() for b in sorted(nexts)]
ILLEGAL = [(a, b) for a, b in itertools.product(RUN_STATUSES, RUN_STATUSES) if b not in RUN_TRANSITIONS[a]]


def test_the_table_covers_every_status_and_the_brief() -> None:
    assert set(RUN_TRANSITIONS) == set(RUN_STATUSES)
    for a, b in [("draft", "pending_approval"), ("pending_approval", "approved"), ("pending_approval", "denied"),
                 ("approved", "running"), ("running", "completed"), ("running", "failed"),
                 ("running", "cancelled"), ("running", "paused"), ("paused", "running"),
                 ("running", "waiting_approval"), ("waiting_approval", "running"),
                 ("waiting_approval", "denied"), ("denied", "draft")]:
        assert b in RUN_TRANSITIONS[a], (a, b)
    assert len(LEGAL) + len(ILLEGAL) == len(RUN_STATUSES) ** 2


@pytest.mark.parametrize("src, dst", LEGAL)
async def test_every_legal_transition_works_and_is_audited(store: OkrStore, audit: Audit, src: str, dst: str) -> None:
    run_id = await _run_in(store, src)
    audit.records.clear()
    moved = await store.transition(run_id, dst, by="uid:1", reason="because")
    assert moved.status == dst and (await store.get_run(run_id)).status == dst
    [rec] = audit.records
    assert rec["category"] == "okr" and rec["action"] == f"{src}->{dst}" and rec["outcome"] == "success"
    assert rec["okr_run_id"] == run_id and rec["okr_id"] == moved.okr_id and rec["principal"] == "uid:1"
    assert rec["detail"] == {"from": src, "to": dst, "reason": "because"}
    if dst in ("approved", "denied"):
        assert moved.approval is not None and moved.approval.approver == "uid:1"
        assert moved.approval.reason == "because"
        assert moved.approval.decision == ("approve" if dst == "approved" else "deny")
    if dst == "failed":
        assert moved.error == "because"


@pytest.mark.parametrize("src, dst", ILLEGAL)
async def test_every_illegal_transition_is_refused_naming_both(store: OkrStore, audit: Audit, src: str,
                                                              dst: str) -> None:
    run_id = await _run_in(store, src)
    audit.records.clear()
    with pytest.raises(Conflict) as err:
        await store.transition(run_id, dst, by="t")
    assert f"from {src} to {dst}" in err.value.message
    assert err.value.data == {"run_id": run_id, "from": src, "to": dst}
    assert (await store.get_run(run_id)).status == src
    assert [(r["action"], r["outcome"]) for r in audit.records] == [(f"{src}->{dst}", "failure")]


async def test_unknown_status_and_unknown_run(store: OkrStore) -> None:
    run_id = await _run_in(store, "draft")
    with pytest.raises(InvalidParams, match="unknown run status 'flying'"):
        await store.transition(run_id, "flying", by="t")
    with pytest.raises(NotFound):
        await store.transition("okrrun_nope", "cancelled", by="t")


async def test_expect_is_a_compare_and_set(store: OkrStore) -> None:
    run_id = await _run_in(store, "running")
    with pytest.raises(Conflict, match="it is running now"):
        await store.transition(run_id, "running", by="t", expect="paused")
    assert (await store.transition(run_id, "paused", by="t", expect="running")).status == "paused"


async def test_two_racing_transitions_exactly_one_wins(store: OkrStore) -> None:
    for _ in range(5):
        run_id = await _run_in(store, "running")
        results = await asyncio.gather(store.transition(run_id, "completed", by="a"),
                                       store.transition(run_id, "cancelled", by="b"), return_exceptions=True)
        won = [r for r in results if not isinstance(r, BaseException)]
        lost = [r for r in results if isinstance(r, BaseException)]
        assert len(won) == 1 and len(lost) == 1 and isinstance(lost[0], Conflict)
        assert (await store.get_run(run_id)).status == won[0].status


def test_two_stores_on_one_file_race_and_one_wins(tmp_path: Path) -> None:
    path = tmp_path / "okr.db"
    first, second = OkrStore(path), OkrStore(path)
    run_id = asyncio.run(_run_in(first, "pending_approval"))
    barrier = threading.Barrier(2)
    results: list[str] = []

    def decide(store: OkrStore, to: str) -> None:
        barrier.wait()
        try:
            asyncio.run(store.transition(run_id, to, by=to))
            results.append(to)
        except Conflict as exc:
            results.append(f"refused: {exc.message}")

    threads = [threading.Thread(target=decide, args=(s, to)) for s, to in ((first, "approved"), (second, "denied"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if not r.startswith("refused")]
    assert len(winners) == 1, results
    assert asyncio.run(second.get_run(run_id)).status == winners[0]
    first.close()
    second.close()


async def test_runs_update_measure_and_stats(store: OkrStore) -> None:
    okr = await store.create_okr(_params())
    other = await store.create_okr(_params("other"))
    run = await store.create_run(okr.id, by="t", session_id="s1", relay_id="r1", workspace="/tmp")
    await store.create_run(other.id, by="t")
    assert [r.id for r in await store.list_runs(okr_id=okr.id)] == [run.id]
    assert len(await store.list_runs()) == 2 and await store.list_runs(status="running") == []
    updated = await store.update_run(run.id, iterations=3, checkpoint={"story": "US-1"}, prd_path="prd.json")
    assert updated.iterations == 3 and updated.checkpoint == {"story": "US-1"} and updated.session_id == "s1"
    with pytest.raises(InvalidParams, match="status"):
        await store.update_run(run.id, status="completed")
    kr1, kr2 = okr.key_results
    outcomes = [KrOutcome(kr_id=kr1.id, type="command", evidence="exit 0", passed=True, at=1.0, progress=1.0),
                KrOutcome(kr_id=kr2.id, type="file", evidence="1 match", passed=True, at=1.0, value=1.0,
                          progress=1 / 3)]
    measured = await store.record_measurement(run.id, outcomes)
    assert measured.kr_progress == {kr1.id: 1.0, kr2.id: 1 / 3} and measured.outcomes == outcomes
    stored = await store.get_okr(okr.id)
    assert stored.key_results[1].current_value == 1.0 and stored.key_results[1].outcomes == [outcomes[1]]
    assert stored.key_results[0].current_value == 0.0
    stats = await store.stats()
    assert stats.okrs == 2 and stats.key_results == 4 and stats.runs == 2
    assert stats.runs_by_status == {"draft": 2} and stats.okrs_by_status == {"draft": 2}
    assert stats.mean_progress == pytest.approx((1 + 1 / 3) / 2, abs=1e-4)


async def test_a_corrupt_file_fails_clearly_every_time(tmp_path: Path) -> None:
    path = tmp_path / "okr.db"
    path.write_bytes(b"this is not a database at all" * 100)
    store = OkrStore(path)
    for _ in range(2):
        with pytest.raises(Unavailable, match=f"OKR store {path}"):
            await store.list_okrs()
    assert store.health()[0] is False


async def test_a_data_dir_that_is_a_file_fails_clearly(tmp_path: Path) -> None:
    (tmp_path / "okr").write_text("a file where the directory should be")
    store = OkrStore(tmp_path / "okr" / "okr.db")
    with pytest.raises(Unavailable, match="OKR store .*okr.db"):
        await store.create_okr(_params())


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
async def test_an_unwritable_directory_fails_clearly(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        store = OkrStore(locked / "okr" / "okr.db")
        with pytest.raises(Unavailable, match="OKR store"):
            await store.create_okr(_params())
    finally:
        locked.chmod(0o700)
