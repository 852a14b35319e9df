"""``okr/*``: OKRs, their runs, the run state machine, measuring key results, reports.

The store is one SQLite file, ``<data dir>/okr/okr.db``, opened on first use: when it
is broken every ``okr/*`` call answers Unavailable saying why, and the rest of the
daemon goes on serving. Every run transition is an audit record (category ``okr``,
action ``from->to``, with ``okr_id`` and ``okr_run_id``); the acting principal is the
caller's.

``/go`` (and anything else driving a run) uses :func:`okr_store` (the app's one store)
and :func:`~codetether.daemon.core.okr.measure_run` in process; clients use these methods.
"""

from __future__ import annotations

import weakref

from ..app import App
from ..core.okr import OkrStore, export_okr, measure_run, render_report
from ..wire.api import Empty
from ..wire.okr import (
    Okr,
    OkrCreateParams,
    OkrDeleted,
    OkrExport,
    OkrIdParams,
    OkrListParams,
    OkrMeasureParams,
    OkrReport,
    OkrReportParams,
    OkrRun,
    OkrRunCreateParams,
    OkrRunIdParams,
    OkrRunsParams,
    OkrStats,
    OkrTransitionParams,
    OkrUpdateParams,
)
from ._context import CallContext
from ._table import Method

__all__ = ["OkrAPI", "okr_store"]

_STORES: weakref.WeakKeyDictionary[App, OkrStore] = weakref.WeakKeyDictionary()


def okr_store(app: App) -> OkrStore:
    """The app's one OKR store (made on first call; every domain that drives runs, such
    as ``/go``, shares it with ``okr/*``), auditing to the app's audit trail."""
    store = _STORES.get(app)
    if store is None:
        store = _STORES[app] = OkrStore(app.paths.data_dir / "okr" / "okr.db", audit=app.recorder.audit.record)
    return store


class OkrAPI:
    """The ``okr/*`` methods over one :class:`OkrStore` (see the module docstring)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.store = okr_store(app)

    def methods(self) -> list[Method]:
        """The ``okr/*`` methods this domain serves."""
        return [
            Method("okr/create", self.on_okr_create, OkrCreateParams, Okr),
            Method("okr/get", self.on_okr_get, OkrIdParams, Okr, when_broken=True),
            Method("okr/list", self.on_okr_list, OkrListParams, list[Okr], when_broken=True),
            Method("okr/update", self.on_okr_update, OkrUpdateParams, Okr),
            Method("okr/delete", self.on_okr_delete, OkrIdParams, OkrDeleted),
            Method("okr/runs", self.on_okr_runs, OkrRunsParams, list[OkrRun], when_broken=True),
            Method("okr/run_create", self.on_okr_run_create, OkrRunCreateParams, OkrRun),
            Method("okr/run_get", self.on_okr_run_get, OkrRunIdParams, OkrRun, when_broken=True),
            Method("okr/transition", self.on_okr_transition, OkrTransitionParams, OkrRun, when_broken=True),
            Method("okr/measure", self.on_okr_measure, OkrMeasureParams, OkrRun),
            Method("okr/stats", self.on_okr_stats, Empty, OkrStats, when_broken=True),
            Method("okr/export", self.on_okr_export, OkrIdParams, OkrExport, when_broken=True),
            Method("okr/report", self.on_okr_report, OkrReportParams, OkrReport, when_broken=True),
        ]

    async def on_okr_create(self, p: OkrCreateParams, _ctx: CallContext) -> Okr:
        """Store a new OKR; its key results get ids."""
        return await self.store.create_okr(p)

    async def on_okr_get(self, p: OkrIdParams, _ctx: CallContext) -> Okr:
        """One OKR."""
        return await self.store.get_okr(p.okr_id)

    async def on_okr_list(self, p: OkrListParams, _ctx: CallContext) -> list[Okr]:
        """OKRs, newest first, filtered by status, owner and tag."""
        return await self.store.list_okrs(status=p.status, owner=p.owner, tag=p.tag, limit=p.limit)

    async def on_okr_update(self, p: OkrUpdateParams, _ctx: CallContext) -> Okr:
        """Replace the fields given of one OKR."""
        return await self.store.update_okr(p)

    async def on_okr_delete(self, p: OkrIdParams, _ctx: CallContext) -> OkrDeleted:
        """Remove an OKR and its runs (refused while one of its runs is active)."""
        return OkrDeleted(deleted=await self.store.delete_okr(p.okr_id))

    async def on_okr_runs(self, p: OkrRunsParams, _ctx: CallContext) -> list[OkrRun]:
        """Runs of one OKR, or all runs, newest first."""
        return await self.store.list_runs(okr_id=p.okr_id, status=p.status, limit=p.limit)

    async def on_okr_run_create(self, p: OkrRunCreateParams, ctx: CallContext) -> OkrRun:
        """A new run of an OKR, in ``draft``."""
        return await self.store.create_run(p.okr_id, by=ctx.principal, session_id=p.session_id,
                                           relay_id=p.relay_id, swarm_id=p.swarm_id, prd_path=p.prd_path,
                                           workspace=p.workspace)

    async def on_okr_run_get(self, p: OkrRunIdParams, _ctx: CallContext) -> OkrRun:
        """One run."""
        return await self.store.get_run(p.run_id)

    async def on_okr_transition(self, p: OkrTransitionParams, ctx: CallContext) -> OkrRun:
        """Move a run through the state machine (an invalid move is a Conflict naming both
        states); approve/deny record the caller as the approver."""
        return await self.store.transition(p.run_id, p.to, by=ctx.principal, reason=p.reason, expect=p.expect)

    async def on_okr_measure(self, p: OkrMeasureParams, _ctx: CallContext) -> OkrRun:
        """Measure every key result of an approved run now, each from its own evidence;
        record the outcomes and progress."""
        return await measure_run(self.store, p.run_id, p.workspace)

    async def on_okr_stats(self, _p: Empty, _ctx: CallContext) -> OkrStats:
        """Counts of OKRs and runs by status, and the mean progress."""
        return await self.store.stats()

    async def on_okr_export(self, p: OkrIdParams, _ctx: CallContext) -> OkrExport:
        """One OKR with all its runs."""
        return await export_okr(self.store, p.okr_id)

    async def on_okr_report(self, p: OkrReportParams, _ctx: CallContext) -> OkrReport:
        """One OKR (or all) as text, JSON or a self-contained HTML page."""
        if p.okr_id is not None:
            exports = [await export_okr(self.store, p.okr_id)]
        else:
            exports = [await export_okr(self.store, okr.id) for okr in await self.store.list_okrs()]
        return OkrReport(format=p.format, content=render_report(exports, p.format))

    def close(self) -> None:
        """Close the store (later calls answer Unavailable)."""
        self.store.close()
