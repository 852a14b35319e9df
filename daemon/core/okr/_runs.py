"""Measuring every key result of a run, and gathering an OKR with its runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ...errors import Conflict, InvalidParams
from ...wire.okr import OkrExport, OkrRun
from ._measure import measure
from ._store import OkrStore

__all__ = ["export_okr", "measure_run"]


async def measure_run(store: OkrStore, run_id: str, workspace: str | Path | None = None) -> OkrRun:
    """Measure each key result of the run's OKR from its own evidence, one after another
    (checks may share the workspace), in ``workspace`` or the run's own; record the
    outcomes and per-key-result progress; return the run as stored. Conflict for a run
    that has not been approved (draft, pending or denied): its evidence runs commands."""
    run = await store.get_run(run_id)
    if run.approval is None or run.approval.decision != "approve" or run.status in ("draft", "denied"):
        # the evidence is shell commands and URLs a model may have drafted: a human approves first
        raise Conflict(f"run {run_id} is {run.status}: its key results are measured only once it is approved",
                       data={"run_id": run_id, "from": run.status})
    where = workspace if workspace is not None else run.workspace
    if not where:
        raise InvalidParams(f"run {run_id} has no workspace: give one to measure in",
                            data={"field": "workspace"})
    root = Path(where)
    if not root.is_absolute() or not await asyncio.to_thread(root.is_dir):
        raise InvalidParams(f"workspace {str(where)!r} is not an existing absolute directory",
                            data={"field": "workspace"})
    okr = await store.get_okr(run.okr_id)
    outcomes = [await measure(kr, root) for kr in okr.key_results]
    return await store.record_measurement(run_id, outcomes)


async def export_okr(store: OkrStore, okr_id: str) -> OkrExport:
    """One OKR with all its runs, newest first."""
    okr = await store.get_okr(okr_id)
    return OkrExport(okr=okr, runs=await store.list_runs(okr_id=okr_id))
