"""okr/* through the daemon's API table on a real App: an OKR's life from create to a
measured, completed run, each key result's progress from its own evidence, the audit
trail, export and reports (the HTML escaped), and a broken store that fails only
okr/* while the rest of the daemon goes on."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from codetether.daemon.api import CallContext, build_api
from codetether.daemon.api.okr import okr_store
from codetether.daemon.app import App
from codetether.daemon.errors import Conflict, InvalidParams, NotFound, Unavailable
from codetether.daemon.wire.okr import Okr, OkrExport, OkrReport, OkrRun, OkrStats


def _ctx() -> CallContext:
    return CallContext(transport="inproc", peer={"uid": os.getuid()}, principal=f"uid:{os.getuid()}")


OKR = {
    "title": "Docs <script>alert(1)</script>",
    "description": "make the project documented",
    "owner": "ana",
    "tags": ["docs"],
    "key_results": [
        {"title": "guides", "metric_type": "count", "target_value": 4, "unit": "files",
         "evidence": {"kind": "file", "path": "docs/*.md"}},
        {"title": "lint clean", "evidence": {"kind": "command", "command": "test -f docs/index.md"}},
        {"title": "readers happy", "evidence": {"kind": "question", "question": "Do readers like it?"}},
    ],
}


async def test_an_okr_from_create_to_a_measured_completed_run(tmp_path: Path, scripted_app: Any) -> None:
    app: App = scripted_app(tmp_path / "home", [])
    ws = tmp_path / "ws"
    (ws / "docs").mkdir(parents=True)
    (ws / "docs" / "index.md").write_text("# hi\n")
    try:
        table = build_api(app)
        okr: Okr = await table.call("okr/create", OKR, _ctx())
        assert okr.status == "draft" and len(okr.key_results) == 3
        assert await table.call("okr/get", {"okr_id": okr.id}, _ctx()) == okr
        assert [o.id for o in await table.call("okr/list", {"tag": "docs"}, _ctx())] == [okr.id]
        assert await table.call("okr/list", {"owner": "bo"}, _ctx()) == []
        run: OkrRun = await table.call("okr/run_create", {"okr_id": okr.id, "workspace": str(ws),
                                                          "session_id": "ses_1"}, _ctx())
        # the evidence runs commands: not before a human approved
        with pytest.raises(Conflict, match="only once it is approved"):
            await table.call("okr/measure", {"run_id": run.id}, _ctx())
        for to in ("pending_approval", "approved", "running"):
            run = await table.call("okr/transition", {"run_id": run.id, "to": to, "reason": "ok"}, _ctx())
        assert run.approval is not None and run.approval.approver == f"uid:{os.getuid()}"
        with pytest.raises(Conflict, match="from running to approved"):
            await table.call("okr/transition", {"run_id": run.id, "to": "approved"}, _ctx())
        with pytest.raises(InvalidParams):
            await table.call("okr/transition", {"run_id": run.id, "to": "flying"}, _ctx())

        measured: OkrRun = await table.call("okr/measure", {"run_id": run.id}, _ctx())
        kr = {k.title: k.id for k in okr.key_results}
        # each key result's own number, not one for all
        assert measured.kr_progress == {kr["guides"]: 0.25, kr["lint clean"]: 1.0, kr["readers happy"]: 0.0}
        (ws / "docs" / "usage.md").write_text("use it\n")
        measured = await table.call("okr/measure", {"run_id": run.id}, _ctx())
        assert measured.kr_progress[kr["guides"]] == 0.5 and len(measured.outcomes) == 6
        stored: Okr = await table.call("okr/get", {"okr_id": okr.id}, _ctx())
        assert stored.key_results[0].current_value == 2 and len(stored.key_results[0].outcomes) == 2
        assert stored.key_results[2].outcomes[-1].evidence == "needs answer: Do readers like it?"

        done: OkrRun = await table.call("okr/transition", {"run_id": run.id, "to": "completed"}, _ctx())
        assert done.status == "completed"
        runs = await table.call("okr/runs", {"okr_id": okr.id}, _ctx())
        assert [r.id for r in runs] == [run.id] == [r.id for r in await table.call("okr/runs", {}, _ctx())]
        assert (await table.call("okr/run_get", {"run_id": run.id}, _ctx())).status == "completed"
        stats: OkrStats = await table.call("okr/stats", {}, _ctx())
        assert stats.okrs == 1 and stats.runs_by_status == {"completed": 1} and stats.key_results == 3
        assert stats.mean_progress == 0.5

        export: OkrExport = await table.call("okr/export", {"okr_id": okr.id}, _ctx())
        assert export.okr.id == okr.id and [r.id for r in export.runs] == [run.id]
        page: OkrReport = await table.call("okr/report", {"okr_id": okr.id, "format": "html"}, _ctx())
        assert page.content.startswith("<!DOCTYPE html>") and "<script>" not in page.content
        assert "Docs &lt;script&gt;alert(1)&lt;/script&gt;" in page.content
        assert "<link" not in page.content and "src=" not in page.content
        text = (await table.call("okr/report", {}, _ctx())).content
        assert okr.id in text and "progress 50%" in text and "needs answer" in text
        data = json.loads((await table.call("okr/report", {"format": "json"}, _ctx())).content)
        assert data[0]["okr"]["id"] == okr.id and data[0]["runs"][0]["status"] == "completed"

        # every transition is in the audit trail with the run's ids
        entries = app.recorder.audit.query(category="okr", okr_run_id=run.id, limit=50)
        actions = [(e.action, e.outcome) for e in reversed(entries)]
        assert actions == [("create", "success"), ("draft->pending_approval", "success"),
                           ("pending_approval->approved", "success"), ("approved->running", "success"),
                           ("running->approved", "failure"), ("running->completed", "success")]
        assert all(e.okr_id == okr.id and e.session_id == "ses_1" for e in entries)

        assert (await table.call("okr/update", {"okr_id": okr.id, "status": "completed"}, _ctx())).status == \
            "completed"
        assert (await table.call("okr/delete", {"okr_id": okr.id}, _ctx())).deleted
        with pytest.raises(NotFound):
            await table.call("okr/export", {"okr_id": okr.id}, _ctx())
        assert okr_store(app) is okr_store(app)
    finally:
        await app.aclose()


@pytest.mark.parametrize("params, message", [
    ({"title": "x", "key_results": [{"title": "k", "evidence": {"kind": "magic"}}]}, "kind"),
    ({"title": "x", "key_results": [{"title": "k", "evidence": {"kind": "url", "url": "ftp://x"}}]}, "http"),
    ({"title": "x", "status": "dancing"}, "status"),
    ({"title": "x", "surprise": 1}, "surprise"),
    ({}, "title"),
])
async def test_bad_params_are_invalid(tmp_path: Path, scripted_app: Any, params: dict[str, Any],
                                      message: str) -> None:
    app: App = scripted_app(tmp_path / "home", [])
    try:
        with pytest.raises(InvalidParams, match=message):
            await build_api(app).call("okr/create", params, _ctx())
    finally:
        await app.aclose()


async def test_a_broken_store_fails_okr_calls_and_nothing_else(tmp_path: Path, scripted_app: Any) -> None:
    app: App = scripted_app(tmp_path / "home", [])
    db = app.paths.data_dir / "okr" / "okr.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    db.write_bytes(b"garbage, not SQLite" * 200)
    try:
        table = build_api(app)
        for method, params in (("okr/list", {}), ("okr/create", OKR), ("okr/stats", {}), ("okr/report", {})):
            with pytest.raises(Unavailable, match=f"OKR store {db}"):
                await table.call(method, params, _ctx())
        status = await table.call("daemon/status", {}, _ctx())
        assert status is not None
        assert await table.call("swarm/list", {}, _ctx()) == []
    finally:
        await app.aclose()
