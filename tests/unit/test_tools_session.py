"""todo_read/todo_write, question, plan_enter/plan_exit and batch."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from codetether.daemon.core.tools import Tool, ToolContext, ToolRegistry, ToolResult, default_registry
from codetether.daemon.errors import ApprovalDenied, InvalidParams, ToolFailure

CallTool = Callable[..., Awaitable[ToolResult]]

TODOS = [
    {"id": "1", "content": "Read the code", "status": "completed"},
    {"id": "2", "content": "Write the fix", "status": "in_progress", "priority": "high"},
    {"id": "3", "content": "Run the tests"},
]


async def test_todo_write_then_read(tool_ctx: ToolContext, call_tool: CallTool) -> None:
    empty = await call_tool("todo_read")
    assert empty.output == "The todo list is empty."
    written = await call_tool("todo_write", todos=TODOS)
    expected = (
        "Todo list (1/3 completed):\n"
        "[x] 1: Read the code\n"
        "[~] 2: Write the fix (high)\n"
        "[ ] 3: Run the tests"
    )
    assert written.output == expected
    assert written.metadata["counts"] == {"pending": 1, "in_progress": 1, "completed": 1}
    stored = tool_ctx.state["todos"]
    assert stored[2] == {"id": "3", "content": "Run the tests", "status": "pending", "priority": "medium"}
    msgspec.json.encode(tool_ctx.state)  # the session persists it as JSON
    assert (await call_tool("todo_read")).output == expected


async def test_todo_write_validation(call_tool: CallTool) -> None:
    with pytest.raises(InvalidParams, match="duplicate ids: 1"):
        await call_tool("todo_write", todos=[{"id": "1", "content": "a"}, {"id": "1", "content": "b"}])
    tool = default_registry().get("todo_write")
    assert tool is not None
    with pytest.raises(InvalidParams, match="Expected `'pending' | 'in_progress' | 'completed'`|status"):
        tool.parse({"todos": [{"id": "1", "content": "a", "status": "done"}]})
    two = await call_tool(
        "todo_write",
        todos=[{"id": "a", "content": "x", "status": "in_progress"}, {"id": "b", "content": "y", "status": "in_progress"}],
    )
    assert "2 items are in_progress" in two.output


async def test_question_asks_the_attached_client(tool_ctx: ToolContext, call_tool: CallTool) -> None:
    asked: list[tuple[str, list[str]]] = []

    async def ask(question: str, options: list[str]) -> str:
        asked.append((question, options))
        return " Postgres \n"

    tool_ctx.ask_user = ask
    result = await call_tool("question", question="Which database?", options=["Postgres", "SQLite"])
    assert asked == [("Which database?", ["Postgres", "SQLite"])]
    assert result.output == "The user answered: Postgres"
    assert result.metadata["answer"] == "Postgres"


async def test_question_without_a_client_fails(call_tool: CallTool) -> None:
    with pytest.raises(ToolFailure, match="no interactive client attached"):
        await call_tool("question", question="Anyone there?")


async def test_plan_mode_round_trip(tool_root: Path, tool_ctx: ToolContext, call_tool: CallTool) -> None:
    entered = await call_tool("plan_enter", reason="large refactor")
    assert tool_ctx.plan_mode is True and "Plan mode is on" in entered.output
    assert (await call_tool("plan_enter")).output == "Already in plan mode."
    with pytest.raises(ToolFailure, match="plan mode is active"):
        await call_tool("apply_patch", patch="--- /dev/null\n+++ b/x\n@@ -0,0 +1 @@\n+x\n")
    plan = "1. Split module\n2. Add tests"
    exited = await call_tool("plan_exit", plan=plan)
    assert exited.output == plan
    assert tool_ctx.state["plan_mode"] is False and tool_ctx.state["plan"] == plan
    await call_tool("write_file", path="x", content="allowed now\n")
    assert (tool_root / "x").read_text() == "allowed now\n"
    with pytest.raises(InvalidParams):
        await call_tool("plan_exit", plan="")
    again = await call_tool("plan_exit", plan="p")
    assert again.output.startswith("(plan mode was not on)")


async def test_batch_runs_read_only_calls_concurrently(tool_root: Path, call_tool: CallTool) -> None:
    (tool_root / "a.txt").write_text("alpha\n")
    (tool_root / "b.txt").write_text("beta\n")
    result = await call_tool(
        "batch",
        calls=[
            {"tool": "read_file", "arguments": {"path": "a.txt"}},
            {"tool": "read_file", "arguments": '{"path": "b.txt"}'},
            {"tool": "grep", "arguments": {"pattern": "beta"}},
            {"tool": "read_file", "arguments": {"path": "missing.txt"}},
            {"tool": "read_file", "arguments": {"offset": 1}},
            {"tool": "nope"},
            {"tool": "batch", "arguments": {"calls": []}},
        ],
    )
    sections = result.output.split("\n\n### ")
    assert sections[0] == "### [1] read_file (ok)\n     1\talpha"
    assert sections[1] == "[2] read_file (ok)\n     1\tbeta"
    assert sections[2].startswith("[3] grep (ok)\nb.txt:\n  1: beta")
    assert sections[3] == "[4] read_file (error)\nno such file: missing.txt"
    assert sections[4].startswith("[5] read_file (error)\nread_file: invalid arguments: Object missing required field `path`")
    assert sections[5].startswith("[6] nope (error)\nunknown tool 'nope'; available: a2a_delegate, apply_patch, bash,")
    assert sections[6] == "[7] batch (error)\nbatch cannot be nested; list the calls directly"
    assert result.is_error is False
    assert result.metadata["failed"] == 4
    assert [r["is_error"] for r in result.metadata["results"]] == [False, False, False, True, True, True, True]


class _Probe(Tool):
    """Records how many calls overlap; waits on an event instead of sleeping."""

    name = "probe"
    description = "test probe"
    read_only = True

    class params(msgspec.Struct):  # noqa: N801 - the Tool contract's attribute name
        n: int = 0

    def __init__(self, expected: int) -> None:
        self.active = 0
        self.peak = 0
        self.expected = expected
        self.all_in = asyncio.Event()

    async def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        self.active += 1
        self.peak = max(self.peak, self.active)
        if self.peak == self.expected:
            self.all_in.set()
        await asyncio.wait_for(self.all_in.wait(), timeout=5)
        self.active -= 1
        return ToolResult(f"probe {args.n} in {ctx.call_id}")


async def test_batch_really_runs_in_parallel(tool_ctx: ToolContext) -> None:
    probe = _Probe(expected=3)
    registry = default_registry()
    registry.register(probe)
    tool_ctx.registry = registry
    batch = registry.get("batch")
    assert batch is not None
    args = batch.parse({"calls": [{"tool": "probe", "arguments": {"n": i}} for i in range(3)]})
    result = await batch.run(args, tool_ctx)
    assert probe.peak == 3
    assert "probe 2 in call-1.3" in result.output


async def test_batch_write_tools_need_an_authorizer(tool_root: Path, tool_ctx: ToolContext, call_tool: CallTool) -> None:
    calls = [{"tool": "write_file", "arguments": {"path": "w.txt", "content": "x"}}]
    refused = await call_tool("batch", calls=calls)
    assert "batch may only run read-only tools" in refused.output and refused.is_error is True
    assert not (tool_root / "w.txt").exists()

    seen: list[str] = []

    async def authorize(tool: Tool, args: Any) -> None:
        seen.append(tool.name)
        if getattr(args, "path", "") == "denied.txt":
            raise ApprovalDenied("denied by user")

    tool_ctx.authorize = authorize
    calls.append({"tool": "write_file", "arguments": {"path": "denied.txt", "content": "x"}})
    result = await call_tool("batch", calls=calls)
    assert seen == ["write_file", "write_file"]
    assert (tool_root / "w.txt").read_text() == "x" and not (tool_root / "denied.txt").exists()
    assert "[2] write_file (error)\ndenied by user" in result.output
    assert result.metadata["files_affected"] == ["w.txt"]


async def test_batch_without_registry_and_limits(tool_ctx: ToolContext) -> None:
    batch = default_registry().get("batch")
    assert batch is not None
    with pytest.raises(InvalidParams, match="length <= 10"):
        batch.parse({"calls": [{"tool": "todo_read"}] * 11})
    with pytest.raises(InvalidParams, match="length >= 1"):
        batch.parse({"calls": []})
    tool_ctx.registry = None
    with pytest.raises(ToolFailure, match="no tool registry"):
        await batch.run(batch.parse({"calls": [{"tool": "todo_read"}]}), tool_ctx)
    assert batch.approval_subject(batch.parse({"calls": [{"tool": "a"}, {"tool": "b"}]})) == "a b"
    assert isinstance(ToolRegistry(), ToolRegistry)
