"""``/go`` through the daemon's API on the scripted model: draft, the OKR gate (approve,
deny with a re-draft, cancel, a daemon restart while it waits), the PRD loop with key
results measured from their own evidence, and the records carrying the OKR ids."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
from codetether.daemon.api import API, CallContext, SessionsAPI, build_api
from codetether.daemon.api.go import parse_draft, reattach_gates, template_draft
from codetether.daemon.api.okr import okr_store
from codetether.daemon.app import App
from codetether.daemon.errors import InvalidParams, RequestCancelled
from codetether.daemon.wire import api
from codetether.daemon.wire.events import ApprovalRequested

AUTO = '[permissions]\nmode = "auto"\n'


def _ctx() -> CallContext:
    return CallContext(transport="inproc", peer={"uid": os.getuid()}, principal=f"uid:{os.getuid()}")


def _draft(title: str = "Ship done.txt") -> dict[str, Any]:
    return {"text": "Here:\n```json\n" + json.dumps({
        "title": title, "description": "a file that says it is done",
        "key_results": [
            {"title": "done.txt exists", "metric_type": "binary", "evidence": {"kind": "file", "path": "done.txt"}},
            {"title": "it says done", "metric_type": "binary",
             "evidence": {"kind": "command", "command": "grep -q done done.txt"}}]}) + "\n```"}


async def _go(table: API, sid: str, text: str | None, decide: Any = None) -> tuple[list[Any], api.PromptResult]:
    method, params = ("session/prompt", {"session_id": sid, "text": text}) if text is not None else (
        "session/resume", {"session_id": sid})
    events: list[Any] = []
    result = None
    async for item in table.stream(method, params, _ctx()):
        if isinstance(item, api.PromptResult):
            result = item
            continue
        events.append(item.event)
        if decide is not None and isinstance(item.event, ApprovalRequested):
            await decide(item.event)
    assert result is not None
    return events, result


def _decider(table: API, *decisions: tuple[str, str]) -> Any:
    queue = list(decisions)

    async def decide(event: ApprovalRequested) -> None:
        decision, reason = queue.pop(0)
        await table.call("approval/decide", {"approval_id": event.approval_id, "decision": decision,
                                             "reason": reason}, _ctx())

    return decide


async def test_approve_runs_the_prd_and_measures_each_key_result(tmp_path: Path, scripted_app: Any) -> None:
    app: App = scripted_app(tmp_path / "home", [
        _draft(),
        {"tool": "write_file", "arguments": {"path": "done.txt", "content": "done\n"}}, "wrote done.txt",
        "KR-2 holds already"], config=AUTO)
    try:
        table = build_api(app)
        sid = (await table.call("session/create", {"workspace": str(tmp_path)}, _ctx())).id
        events, result = await _go(table, sid, "/go ship a done file", _decider(table, ("allow", "")))
        gate = next(e for e in events if isinstance(e, ApprovalRequested))
        assert gate.tool == "okr" and gate.subject == "Ship done.txt"
        body = json.loads(gate.arguments)
        assert [kr["title"] for kr in body["key_results"]] == ["done.txt exists", "it says done"]
        assert result.text.startswith("/go completed: Ship done.txt")
        assert "✓ done.txt exists (100%)" in result.text and "✓ it says done (100%)" in result.text
        store = okr_store(app)
        run = await store.get_run(body["run_id"])
        assert run.status == "completed" and run.approval is not None and run.approval.decision == "approve"
        assert set(run.kr_progress.values()) == {1.0} and len(run.kr_progress) == 2
        assert (tmp_path / "done.txt").read_text() == "done\n"
        prd = json.loads(Path(run.prd_path or "").read_text())
        assert [s["id"] for s in prd["user_stories"]] == ["KR-1", "KR-2"]
        assert all(s["passes"] for s in prd["user_stories"])
        # the flow's records carry the OKR ids: transitions, the gate's decision, the run's end
        records = await table.call("audit/query", {"limit": 1000}, _ctx())
        moves = [r.action for r in records if r.category == "okr" and r.okr_run_id == run.id]
        assert {"draft->pending_approval", "pending_approval->approved", "approved->running",
                "running->completed"} <= set(moves)
        decided = next(r for r in records if r.category == "approval" and r.session_id == sid)
        assert (decided.okr_id, decided.okr_run_id) == (run.okr_id, run.id)
    finally:
        await app.aclose()


async def test_deny_records_the_reason_and_drafts_again(tmp_path: Path, scripted_app: Any) -> None:
    app: App = scripted_app(tmp_path / "home", [
        _draft("Too vague"), _draft("Ship done.txt"),
        {"tool": "write_file", "arguments": {"path": "done.txt", "content": "done\n"}}, "ok", "ok"], config=AUTO)
    try:
        table = build_api(app)
        sid = (await table.call("session/create", {"workspace": str(tmp_path)}, _ctx())).id
        events, result = await _go(table, sid, "/go ship it",
                                   _decider(table, ("deny", "say which file"), ("allow", "")))
        gates = [e for e in events if isinstance(e, ApprovalRequested)]
        assert [g.subject for g in gates] == ["Too vague", "Ship done.txt"]
        assert json.loads(gates[1].arguments)["attempt"] == 2
        run = await okr_store(app).get_run(json.loads(gates[1].arguments)["run_id"])
        assert run.status == "completed"
        records = await table.call("audit/query", {"category": "okr", "limit": 1000}, _ctx())
        denied = next(r for r in records if r.action == "pending_approval->denied")
        assert denied.detail["reason"] == "say which file" and denied.okr_run_id == run.id
        text = [m.content for m in (await table.call("session/get", {"session_id": sid}, _ctx())).messages]
        assert any("Denied by" in t and "say which file" in t for t in text)
        assert result.text.startswith("/go completed")
    finally:
        await app.aclose()


async def test_the_gate_survives_a_daemon_restart(tmp_path: Path, scripted_app: Any) -> None:
    home = tmp_path / "home"
    app: App = scripted_app(home, [_draft()], config=AUTO)
    table = build_api(app)
    sid = (await table.call("session/create", {"workspace": str(tmp_path)}, _ctx())).id
    waiting = asyncio.Event()
    gate: list[ApprovalRequested] = []

    async def at_gate(event: ApprovalRequested) -> None:
        gate.append(event)
        waiting.set()

    run = asyncio.create_task(_go(table, sid, "/go ship a done file", at_gate))
    await waiting.wait()
    app.stop_runs()  # the daemon stops while the gate waits
    with pytest.raises(RequestCancelled):
        await run
    await app.aclose()

    again: App = scripted_app(home, [{"tool": "write_file", "arguments": {"path": "done.txt", "content": "done\n"}},
                                     "wrote it", "fine"], config=AUTO)
    await again.start()
    try:
        table = build_api(again)
        pending = await table.call("approval/list", {}, _ctx())
        assert [p.id for p in pending] == [gate[0].approval_id]  # still there, still pending
        assert await reattach_gates(again, SessionsAPI(again)) == 1
        await table.call("approval/decide", {"approval_id": gate[0].approval_id, "decision": "allow"}, _ctx())
        async with asyncio.timeout(30):
            await asyncio.gather(*list(again.jobs))
        body = json.loads(gate[0].arguments)
        assert (await okr_store(again).get_run(body["run_id"])).status == "completed"
        assert (tmp_path / "done.txt").exists()
    finally:
        await again.aclose()


async def test_cancel_at_the_gate_cancels_the_run(tmp_path: Path, scripted_app: Any) -> None:
    app: App = scripted_app(tmp_path / "home", [_draft()], config=AUTO)
    try:
        table = build_api(app)
        sid = (await table.call("session/create", {"workspace": str(tmp_path)}, _ctx())).id
        waiting = asyncio.Event()
        gate: list[ApprovalRequested] = []

        async def at_gate(event: ApprovalRequested) -> None:
            gate.append(event)
            waiting.set()

        run = asyncio.create_task(_go(table, sid, "/go ship", at_gate))
        await waiting.wait()
        await table.call("session/cancel", {"session_id": sid}, _ctx())
        with pytest.raises(RequestCancelled):
            await run
        body = json.loads(gate[0].arguments)
        assert (await okr_store(app).get_run(body["run_id"])).status == "cancelled"
        record = (await table.call("approval/list", {"include_decided": True}, _ctx()))[0]
        assert (record.status, record.decided_by) == ("deny", "cancelled")
        # nothing left to resume
        _, done = await _go(table, sid, None)
        assert done.stop_reason == "nothing_to_resume"
    finally:
        await app.aclose()


async def test_an_unusable_draft_is_repaired_once_then_templated(tmp_path: Path, scripted_app: Any) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    app: App = scripted_app(tmp_path / "home", ["no JSON here", '{"title": "x", "key_results": []}'], config=AUTO)
    try:
        table = build_api(app)
        sid = (await table.call("session/create", {"workspace": str(tmp_path)}, _ctx())).id
        waiting = asyncio.Event()
        gate: list[ApprovalRequested] = []

        async def at_gate(event: ApprovalRequested) -> None:
            gate.append(event)
            waiting.set()

        run = asyncio.create_task(_go(table, sid, "/go make it better", at_gate))
        await waiting.wait()
        body = json.loads(gate[0].arguments)
        assert body["title"] == "make it better"
        assert [kr["evidence"]["kind"] for kr in body["key_results"]] == ["tests", "question"]
        await table.call("session/cancel", {"session_id": sid}, _ctx())
        with pytest.raises(RequestCancelled):
            await run
    finally:
        await app.aclose()


def test_drafts_are_parsed_strictly() -> None:
    with pytest.raises(InvalidParams, match="key results"):
        parse_draft(json.dumps({"title": "t", "key_results": [
            {"title": "only one", "evidence": {"kind": "file", "path": "x"}}]}))
    with pytest.raises(InvalidParams):
        parse_draft(json.dumps({"title": "t", "key_results": [
            {"title": "a", "evidence": {"kind": "nope"}}, {"title": "b", "evidence": {"kind": "file", "path": "x"}}]}))
    with pytest.raises(InvalidParams, match="no JSON"):
        parse_draft("just words")
    plain = template_draft("x", Path("/nonexistent"))
    assert [type(kr.evidence).__name__ for kr in plain.key_results] == ["CommandEvidence", "QuestionEvidence"]


async def test_go_needs_an_intent(tmp_path: Path, scripted_app: Any) -> None:
    app: App = scripted_app(tmp_path / "home", [])
    try:
        table = build_api(app)
        sid = (await table.call("session/create", {"workspace": str(tmp_path)}, _ctx())).id
        with pytest.raises(InvalidParams, match="/go needs an intent"):
            await _go(table, sid, "/go   ")
    finally:
        await app.aclose()


async def test_a_question_key_result_is_the_users_answer(tmp_path: Path, scripted_app: Any) -> None:
    from codetether.daemon.wire.events import QuestionAsked

    draft = {"text": json.dumps({"title": "Greet", "key_results": [
        {"title": "hello.txt exists", "evidence": {"kind": "file", "path": "hello.txt"}},
        {"title": "the greeting reads well", "evidence": {"kind": "question", "question": "Does it read well?"}}]})}
    app: App = scripted_app(tmp_path / "home", [
        draft, {"tool": "write_file", "arguments": {"path": "hello.txt", "content": "hi\n"}}, "wrote it",
        "a person decides this one"], config=AUTO)
    try:
        table = build_api(app)
        sid = (await table.call("session/create", {"workspace": str(tmp_path)}, _ctx())).id
        asked: list[str] = []

        async def decide(event: Any) -> None:
            if isinstance(event, ApprovalRequested):
                await table.call("approval/decide", {"approval_id": event.approval_id, "decision": "allow"}, _ctx())

        stream = table.stream("session/prompt", {"session_id": sid, "text": "/go greet"}, _ctx())
        result = None
        async for item in stream:
            if isinstance(item, api.PromptResult):
                result = item
                continue
            await decide(item.event)
            if isinstance(item.event, QuestionAsked):
                asked.append(item.event.question)
                await table.call("question/answer", {"question_id": item.event.question_id, "answer": "yes"},
                                 _ctx())
        assert asked == ["Does it read well?"]
        assert result is not None and result.text.startswith("/go completed: Greet")
        run = (await okr_store(app).list_runs())[0]
        question = next(o for o in reversed(run.outcomes) if o.type == "question")
        assert question.passed and question.evidence == "the user answered 'yes'"
        assert set(run.kr_progress.values()) == {1.0}
    finally:
        await app.aclose()


async def test_cancel_while_executing_ends_the_run_and_nothing_runs_again(tmp_path: Path, scripted_app: Any) -> None:
    app: App = scripted_app(tmp_path / "home", [
        _draft(), {"tool": "bash", "arguments": {"command": "echo run >> runs.txt; sleep 30"}},
        {"tool": "bash", "arguments": {"command": "echo again >> runs.txt"}}, "ok", "ok", "ok"], config=AUTO)
    try:
        table = build_api(app)
        sid = (await table.call("session/create", {"workspace": str(tmp_path)}, _ctx())).id
        story_running = asyncio.Event()

        async def watch(event: Any) -> None:
            if isinstance(event, ApprovalRequested):
                await table.call("approval/decide", {"approval_id": event.approval_id, "decision": "allow"},
                                 _ctx())

        async def go() -> None:
            async for item in table.stream("session/prompt", {"session_id": sid, "text": "/go ship"}, _ctx()):
                if isinstance(item, api.PromptResult):
                    continue
                await watch(item.event)
                if type(item.event).__name__ == "Progress" and "story" in item.event.detail:
                    story_running.set()

        run = asyncio.create_task(go())
        await story_running.wait()
        async with asyncio.timeout(30):  # the story's bash has started (its line is written first)
            while not (tmp_path / "runs.txt").exists():
                await asyncio.sleep(0.01)
        await table.call("session/cancel", {"session_id": sid}, _ctx())
        with pytest.raises(RequestCancelled):  # the user's cancel, not an internal error
            await run
        runs = await okr_store(app).list_runs()
        assert [r.status for r in runs] == ["cancelled"]
        assert app.runtime(sid).meta.state["go"]["phase"] == "done"
        _, again = await _go(table, sid, None)
        assert again.stop_reason == "nothing_to_resume"
        assert (tmp_path / "runs.txt").read_text().split() == ["run"]  # the story never ran twice
    finally:
        await app.aclose()


async def test_the_mode_a_go_started_with_holds_after_a_restart(tmp_path: Path, scripted_app: Any) -> None:
    """An auto-mode session whose /go asked for "ask": after a restart at the gate its
    stories still ask (the prompt's mode is kept with the flow, not the session's)."""
    home = tmp_path / "home"
    app: App = scripted_app(home, [_draft()], config=AUTO)
    table = build_api(app)
    sid = (await table.call("session/create", {"workspace": str(tmp_path)}, _ctx())).id
    gate: list[ApprovalRequested] = []
    waiting = asyncio.Event()

    async def at_gate(event: ApprovalRequested) -> None:
        gate.append(event)
        waiting.set()

    async def go() -> None:
        async for item in table.stream("session/prompt", {"session_id": sid, "text": "/go ship",
                                                          "approval_mode": "ask"}, _ctx()):
            if not isinstance(item, api.PromptResult) and isinstance(item.event, ApprovalRequested):
                await at_gate(item.event)

    run = asyncio.create_task(go())
    await waiting.wait()
    app.stop_runs()
    with pytest.raises(RequestCancelled):
        await run
    await app.aclose()

    again: App = scripted_app(home, [{"tool": "write_file", "arguments": {"path": "done.txt", "content": "done\n"}},
                                     "tried", "ok", "ok"], config=AUTO)
    await again.start()
    try:
        table = build_api(again)
        assert await reattach_gates(again, SessionsAPI(again)) == 1
        await table.call("approval/decide", {"approval_id": gate[0].approval_id, "decision": "allow"}, _ctx())
        async with asyncio.timeout(30):  # the story's write asks (mode "ask"): it waits, not writes
            while not [a for a in await table.call("approval/list", {}, _ctx()) if a.tool == "write_file"]:
                await asyncio.sleep(0.01)
        assert not (tmp_path / "done.txt").exists()
        for job in list(again.jobs):
            job.cancel()
    finally:
        await again.aclose()


def test_the_prd_makes_no_shell_from_a_models_path_or_url(tmp_path: Path) -> None:
    """File and URL evidence stay prose in prd.json (the key result's own confined measurement
    judges them); only the command the user approved is run as a command."""
    from codetether.daemon.api.go import write_prd
    from codetether.daemon.core.ralph import step_command
    from codetether.daemon.wire.okr import KeyResult

    krs = [msgspec_convert({"title": "f", "evidence": {"kind": "file", "path": "x$(touch pwned)"}}),
           msgspec_convert({"title": "u", "evidence": {"kind": "url", "url": "http://h/$(touch pwned)"}}),
           msgspec_convert({"title": "c", "evidence": {"kind": "command", "command": "make check"}})]
    assert all(isinstance(kr, KeyResult) for kr in krs)
    path = tmp_path / "prd.json"
    write_prd(path, "t", "", krs)
    steps = [s["verification_steps"][0] for s in json.loads(path.read_text())["user_stories"]]
    assert [step_command(s) for s in steps] == [None, None, "make check"]


def msgspec_convert(raw: dict[str, Any]) -> Any:
    import msgspec
    from codetether.daemon.wire.okr import KeyResult

    return msgspec.convert(raw, KeyResult)


def test_a_sessions_records_carry_the_ids_it_works_for() -> None:
    """The relay's and /go's sessions tag their events and audit records (DESIGN: every
    record carries okr_id, okr_run_id, relay_id, session_id)."""
    from types import SimpleNamespace

    from codetether.daemon.app import _tags

    def rt(state: dict[str, Any]) -> Any:
        return SimpleNamespace(meta=SimpleNamespace(state=state))

    assert _tags(rt({"relay": {"id": "relay_abc", "profile": "implementer", "okr_run_id": "okrrun_1"}})) == {
        "relay_id": "relay_abc", "okr_run_id": "okrrun_1"}
    assert _tags(rt({"go": {"okr_id": "okr_1", "run_id": "okrrun_1", "phase": "gate"}})) == {
        "okr_id": "okr_1", "okr_run_id": "okrrun_1"}
    assert _tags(rt({"go_story": {"okr_id": "okr_1", "run_id": "okrrun_1"}})) == {
        "okr_id": "okr_1", "okr_run_id": "okrrun_1"}
    assert _tags(rt({"todos": []})) is None
