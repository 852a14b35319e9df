"""Sub-agents: the ``task`` tool runs a child session through the daemon's own API, with
a policy never wider than its parent's, limits, forwarded approvals, and a child that a
resumed parent finds again instead of starting another."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from codetether.daemon.api import API, CallContext, build_api
from codetether.daemon.api._subagents import narrower_mode
from codetether.daemon.app import App
from codetether.daemon.core.tools import SubagentSpec, ToolContext, Workspace
from codetether.daemon.errors import RequestCancelled
from codetether.daemon.wire import api
from codetether.daemon.wire.events import ApprovalRequested, SubagentEnded, SubagentStarted


def _ctx() -> CallContext:
    return CallContext(transport="inproc", peer={"uid": os.getuid()}, principal=f"uid:{os.getuid()}")


async def _prompt(table: API, session_id: str, text: str | None = None,
                  on_event: Any = None) -> tuple[list[Any], api.PromptResult]:
    method, params = ("session/resume", {"session_id": session_id}) if text is None else (
        "session/prompt", {"session_id": session_id, "text": text})
    events: list[Any] = []
    result: api.PromptResult | None = None
    async for item in table.stream(method, params, _ctx()):
        if isinstance(item, api.PromptResult):
            result = item
        else:
            events.append(item.event)
            if on_event is not None:
                await on_event(item.event)
    assert result is not None
    return events, result


def _task(name: str, prompt: str, **more: Any) -> dict[str, Any]:
    return {"tool": "task", "arguments": {"name": name, "prompt": prompt, **more}}


async def _session(table: API, workspace: Path, mode: str | None = None) -> str:
    params: dict[str, Any] = {"workspace": str(workspace)}
    if mode:
        params["approval_mode"] = mode
    info = await table.call("session/create", params, _ctx())
    return str(info.id)


@pytest.mark.parametrize(("parent", "asked", "child"), [
    ("ask", "inherit", "ask"), ("ask", "auto", "ask"), ("ask", "plan", "plan"), ("plan", "auto", "plan"),
    ("auto", "ask", "ask"), ("auto", "inherit", "auto"), ("plan", "inherit", "plan")])
def test_a_child_mode_is_never_wider_than_its_parents(parent: str, asked: str, child: str) -> None:
    assert narrower_mode(parent, asked) == child


async def test_a_child_runs_on_its_own_context_and_reports_back(tmp_path: Path, scripted_app: Any) -> None:
    app: App = scripted_app(tmp_path / "home", [
        _task("reader", "Read a.txt and say what it holds."),
        {"tool": "read_file", "arguments": {"path": "a.txt"}},  # the child's first turn
        {"text": "a.txt says hello", "usage": {"input_tokens": 7, "output_tokens": 3}},
        {"text": "the child says: hello"}], config='[permissions]\nmode = "auto"\n')
    (tmp_path / "a.txt").write_text("hello\n")
    try:
        table = build_api(app)
        parent = await _session(table, tmp_path)
        events, result = await _prompt(table, parent, "what does a.txt say?")
        assert result.text == "the child says: hello"
        started = next(e for e in events if isinstance(e, SubagentStarted))
        ended = next(e for e in events if isinstance(e, SubagentEnded))
        assert started.name == "reader" and started.mode == "auto" and not started.resumed
        assert (ended.session_id, ended.stop_reason, ended.steps) == (started.session_id, "end_turn", 2)
        # the child's tokens, as the recorder counted them for its session (both turns)
        assert [ended.input_tokens, ended.output_tokens] == app.recorder.session_usage[started.session_id]
        assert ended.input_tokens >= 7 and ended.output_tokens >= 3
        end = next(e for e in events if type(e).__name__ == "ToolCallEnd" and e.name == "task")
        assert not end.is_error and "a.txt says hello" in end.output and started.session_id in end.output
        # the child is a session of its own, linked to its parent both ways
        child = await table.call("session/get", {"session_id": started.session_id}, _ctx())
        assert child.info.parent_id == parent and child.info.title.startswith("reader (sub-agent")
        assert [m.role for m in child.messages][0] == "user"
        assert child.messages[0].content == "Read a.txt and say what it holds."
        assert app.runtime(parent).meta.state["children"] == {end.call_id: started.session_id}
        listed = await table.call("session/list", {}, _ctx())
        assert {s.id: s.parent_id for s in listed}[started.session_id] == parent
        assert {s.id: s.role for s in listed} == {parent: "main", started.session_id: "subagent"}
        # the child's audit records and tool telemetry name its parent
        records = await table.call("audit/query", {"session_id": started.session_id}, _ctx())
        tool = next(r for r in records if r.category == "tool" and r.action == "read_file")
        end = next(r for r in records if r.action == "run_end")
        assert tool.detail["parent_session_id"] == end.detail["parent_session_id"] == parent
        executions = [e for e in app.recorder.telemetry.tracker.recent(10) if e.session_id == started.session_id]
        assert executions and executions[0].metadata["parent_session_id"] == parent
    finally:
        await app.aclose()


async def test_a_plan_mode_child_cannot_write_even_if_it_asks_for_auto(tmp_path: Path,
                                                                      scripted_app: Any) -> None:
    app: App = scripted_app(tmp_path / "home", [
        _task("writer", "Write b.txt", mode="auto"),
        {"tool": "write_file", "arguments": {"path": "b.txt", "content": "x"}},
        {"text": "could not write"}, {"text": "ok"}])
    try:
        table = build_api(app)
        parent = await _session(table, tmp_path, mode="plan")
        events, _ = await _prompt(table, parent, "go")
        started = next(e for e in events if isinstance(e, SubagentStarted))
        assert started.mode == "plan"
        assert not (tmp_path / "b.txt").exists()
        child = await table.call("session/get", {"session_id": started.session_id}, _ctx())
        denied = [m for m in child.messages if m.role == "tool"]
        assert denied and denied[0].is_error and "write_file" in denied[0].content
    finally:
        await app.aclose()


async def test_a_childs_approvals_reach_the_parents_client(tmp_path: Path, scripted_app: Any) -> None:
    app: App = scripted_app(tmp_path / "home", [
        _task("writer", "Write b.txt"),
        {"tool": "write_file", "arguments": {"path": "b.txt", "content": "from the child"}},
        {"text": "written"}, {"text": "the child wrote it"}])
    try:
        table = build_api(app)
        parent = await _session(table, tmp_path, mode="ask")

        async def approve(event: Any) -> None:
            if isinstance(event, ApprovalRequested):
                await table.call("approval/decide", {"approval_id": event.approval_id, "decision": "allow"},
                                 _ctx())

        events, result = await _prompt(table, parent, "go", on_event=approve)
        assert any(isinstance(e, ApprovalRequested) and e.tool == "write_file" for e in events)
        assert (tmp_path / "b.txt").read_text() == "from the child"
        assert result.text == "the child wrote it"
    finally:
        await app.aclose()


async def test_limits_tools_steps_and_depth(tmp_path: Path, scripted_app: Any) -> None:
    app: App = scripted_app(tmp_path / "home", [
        _task("stepper", "loop", max_steps=1, tools=["read_file", "question"]),
        {"tool": "read_file", "arguments": {"path": "a.txt"}},  # its one step
        _task("nosuch", "x", tools=["rm_rf"]),
        {"text": "done"}], config='[permissions]\nmode = "auto"\n')
    (tmp_path / "a.txt").write_text("hello\n")
    try:
        table = build_api(app)
        parent = await _session(table, tmp_path)
        events, _ = await _prompt(table, parent, "go")
        ends = [e for e in events if type(e).__name__ == "ToolCallEnd" and e.name == "task"]
        assert "max_steps after 1 step" in ends[0].output and not ends[0].is_error
        assert ends[1].is_error and "unknown or unavailable tools ['rm_rf']" in ends[1].output
        # question is never a child's, even when asked for
        child_id = next(e for e in events if isinstance(e, SubagentStarted)).session_id
        runner = app.subagents
        assert runner is not None
        ctx = ToolContext(workspace=Workspace(tmp_path), session_id=parent, call_id="c9",
                          registry=app.tools, approval_mode="auto")
        tools = runner._tools(ctx, SubagentSpec(name="x", prompt="y", tools=("read_file", "question")), 1)  # type: ignore[attr-defined]
        assert tools.names() == ["read_file"]
        assert "task" not in runner._tools(ctx, SubagentSpec(name="x", prompt="y"), 3).names()  # type: ignore[attr-defined]
        # a grandchild of a grandchild is refused
        app.runtime(child_id).meta.state["subagent"]["depth"] = 3
        deep = ToolContext(workspace=Workspace(tmp_path), session_id=child_id, call_id="c10",
                           registry=app.tools, approval_mode="auto")
        with pytest.raises(Exception, match="nest at most 3 deep"):
            await runner.run(deep, SubagentSpec(name="deeper", prompt="y"))
    finally:
        await app.aclose()


async def test_a_child_over_its_time_limit_is_stopped(tmp_path: Path, scripted_app: Any) -> None:
    app: App = scripted_app(tmp_path / "home", [{"tool": "bash", "arguments": {"command": "sleep 60"}}],
                            config='[permissions]\nmode = "auto"\n')
    try:
        table = build_api(app)
        parent = await _session(table, tmp_path)
        runner = app.subagents
        assert runner is not None
        ctx = ToolContext(workspace=Workspace(tmp_path), session_id=parent, call_id="c1",
                          registry=app.tools, approval_mode="auto")
        out = await runner.run(ctx, SubagentSpec(name="sleeper", prompt="sleep", timeout=0.5))
        assert out.stop_reason == "timeout" and out.text.startswith("stopped after 0.5s")
        assert not app.runtime(out.session_id).busy  # its run was cancelled and freed
    finally:
        await app.aclose()


async def test_cancelling_the_parent_cancels_the_child(tmp_path: Path, scripted_app: Any) -> None:
    app: App = scripted_app(tmp_path / "home", [
        _task("sleeper", "sleep"), {"tool": "bash", "arguments": {"command": "sleep 60"}}],
        config='[permissions]\nmode = "auto"\n')
    try:
        table = build_api(app)
        parent = await _session(table, tmp_path)
        child_running = asyncio.Event()
        child: list[str] = []

        async def watch(event: Any) -> None:
            if isinstance(event, SubagentStarted):
                child.append(event.session_id)
            if type(event).__name__ == "Progress" and event.detail == "sleeper: bash":
                child_running.set()

        run = asyncio.create_task(_prompt(table, parent, "go", on_event=watch))
        await child_running.wait()
        await table.call("session/cancel", {"session_id": parent}, _ctx())
        with pytest.raises(RequestCancelled):
            await run
        rt = app.runtime(child[0])  # the child's run ended before its parent's did
        assert not rt.busy and rt.run_task is None
        assert rt.messages[-1].role == "tool" and rt.messages[-1].content == "cancelled by the user"
    finally:
        await app.aclose()


async def test_a_resumed_parent_finds_its_child_again(tmp_path: Path, scripted_app: Any) -> None:
    """A restart mid-child: the parent's dangling task call, re-run on resume, resumes the
    same child (no second one); a finished child just gives back its answer."""
    home = tmp_path / "home"
    app: App = scripted_app(home, [_task("worker", "work"), {"tool": "bash", "arguments": {"command": "sleep 60"}}],
                            config='[permissions]\nmode = "auto"\n')
    table = build_api(app)
    parent = await _session(table, tmp_path)
    child_running = asyncio.Event()

    async def watch(event: Any) -> None:
        if type(event).__name__ == "Progress" and event.detail == "worker: bash":
            child_running.set()

    run = asyncio.create_task(_prompt(table, parent, "go", on_event=watch))
    await child_running.wait()
    app.stop_runs()  # an ordered shutdown: open calls are kept for a resume
    with pytest.raises(RequestCancelled):
        await run
    await app.aclose()

    again: App = scripted_app(home, [{"text": "the child finished"}, {"text": "parent finished"}],
                              config='[permissions]\nmode = "auto"\n')
    try:
        table = build_api(again)
        before = {s.id for s in await table.call("session/list", {}, _ctx())}
        events, result = await _prompt(table, parent)
        assert result.text == "parent finished"
        started = next(e for e in events if isinstance(e, SubagentStarted))
        assert started.resumed and started.session_id in before
        assert {s.id for s in await table.call("session/list", {}, _ctx())} == before  # no new child
        child = await table.call("session/get", {"session_id": started.session_id}, _ctx())
        assert child.messages[-1].content == "the child finished"
    finally:
        await again.aclose()


async def test_a_child_given_no_tools_has_none(tmp_path: Path, scripted_app: Any) -> None:
    """tools=[] (or only "question", which a child never gets) is an empty set, not "all"."""
    app: App = scripted_app(tmp_path / "home", [
        _task("bare", "try to run something", tools=["question"]),
        {"tool": "bash", "arguments": {"command": "touch escaped.txt"}}, "could not", "ok"],
        config='[permissions]\nmode = "auto"\n')
    try:
        table = build_api(app)
        parent = await _session(table, tmp_path)
        events, _ = await _prompt(table, parent, "go")
        child_id = next(e for e in events if isinstance(e, SubagentStarted)).session_id
        assert not (tmp_path / "escaped.txt").exists()
        child = await table.call("session/get", {"session_id": child_id}, _ctx())
        refused = next(m for m in child.messages if m.role == "tool")
        assert refused.is_error and "Unknown tool 'bash'" in refused.content
    finally:
        await app.aclose()
