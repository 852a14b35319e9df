"""Tools that work on the session rather than the workspace: the todo list, asking
the user, and plan mode. Their state lives in ``ToolContext.state``, which the
session persists after every call, so it holds plain JSON values only."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from ...errors import InvalidParams, ToolFailure
from .base import Tool, ToolContext, ToolResult

__all__ = ["PlanEnterTool", "PlanExitTool", "QuestionTool", "TodoReadTool", "TodoWriteTool"]

Status = Literal["pending", "in_progress", "completed"]
Priority = Literal["high", "medium", "low"]
_MARK = {"pending": "[ ]", "in_progress": "[~]", "completed": "[x]"}


class Todo(msgspec.Struct, forbid_unknown_fields=True):
    id: Annotated[str, Meta(min_length=1, description="Stable identifier, e.g. \"1\" or \"tests\".")]
    content: Annotated[str, Meta(min_length=1, description="What to do, as a short imperative.")]
    status: Annotated[Status, Meta(description="pending, in_progress or completed.")] = "pending"
    priority: Annotated[Priority, Meta(description="high, medium or low.")] = "medium"


class TodoWriteParams(msgspec.Struct, forbid_unknown_fields=True):
    todos: Annotated[
        list[Todo],
        Meta(max_length=200, description="The complete, updated list; it replaces the previous one."),
    ]


class TodoReadParams(msgspec.Struct, forbid_unknown_fields=True):
    pass


def _render(todos: list[dict[str, Any]]) -> str:
    if not todos:
        return "The todo list is empty."
    done = sum(1 for t in todos if t.get("status") == "completed")
    lines = [f"Todo list ({done}/{len(todos)} completed):"]
    for todo in todos:
        mark = _MARK.get(str(todo.get("status")), "[?]")
        prio = "" if todo.get("priority", "medium") == "medium" else f" ({todo['priority']})"
        lines.append(f"{mark} {todo.get('id')}: {todo.get('content')}{prio}")
    return "\n".join(lines)


class TodoWriteTool(Tool):
    name = "todo_write"
    description = (
        "Replace the session's todo list. Use it for work with three or more steps: write "
        "the steps up front, mark one in_progress when you start it and completed as soon as "
        "it is done, and add steps you discover. Send the whole list every time."
    )
    params = TodoWriteParams
    # It changes session state only, never files or the world: no approval needed,
    # allowed in plan mode (planning is where todo lists are written).
    read_only = True

    async def run(self, args: TodoWriteParams, ctx: ToolContext) -> ToolResult:
        ids = [t.id for t in args.todos]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise InvalidParams(f"todo_write: duplicate ids: {', '.join(duplicates)}")
        todos = [msgspec.to_builtins(t) for t in args.todos]
        ctx.state["todos"] = todos
        text = _render(todos)
        working = sum(1 for t in args.todos if t.status == "in_progress")
        if working > 1:
            text += f"\nNote: {working} items are in_progress; finish one before starting the next."
        counts = {s: sum(1 for t in args.todos if t.status == s) for s in _MARK}
        return ToolResult(text, metadata={"todos": todos, "counts": counts})


class TodoReadTool(Tool):
    name = "todo_read"
    description = "Show the session's current todo list with each item's id, status and priority."
    params = TodoReadParams
    read_only = True

    async def run(self, args: TodoReadParams, ctx: ToolContext) -> ToolResult:
        todos = list(ctx.state.get("todos") or [])
        return ToolResult(_render(todos), metadata={"todos": todos})


class QuestionParams(msgspec.Struct, forbid_unknown_fields=True):
    question: Annotated[str, Meta(min_length=1, description="The question, self-contained and specific.")]
    options: Annotated[
        list[str],
        Meta(
            max_length=10,
            description="Suggested answers the user can pick from (they may also answer freely).",
        ),
    ] = []


class QuestionTool(Tool):
    name = "question"
    description = (
        "Ask the user a question and wait for the answer. Use it when a decision is "
        "genuinely theirs (requirements, trade-offs, destructive choices) or you are "
        "blocked, not for things you can find out with the other tools. Offer options when "
        "the likely answers are known."
    )
    params = QuestionParams
    read_only = True

    def approval_subject(self, args: QuestionParams) -> str:
        return args.question

    async def run(self, args: QuestionParams, ctx: ToolContext) -> ToolResult:
        if ctx.ask_user is None:
            raise ToolFailure(
                "no interactive client attached: nobody can answer questions in this session; "
                "make a reasonable assumption, state it, and go on"
            )
        answer = await ctx.ask_user(args.question, list(args.options))
        answer = answer.strip()
        meta = {"question": args.question, "options": list(args.options), "answer": answer}
        if not answer:
            return ToolResult("The user gave no answer.", metadata=meta)
        return ToolResult(f"The user answered: {answer}", metadata=meta)


class PlanEnterParams(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, Meta(description="Why planning first is worthwhile here (optional).")] = ""


class PlanEnterTool(Tool):
    name = "plan_enter"
    description = (
        "Switch the session to plan mode: from now on only read-only tools run (read, "
        "search, list, ask), so you can study the code and work out a plan without changing "
        "anything. Call plan_exit with the finished plan to present it and leave plan mode."
    )
    params = PlanEnterParams
    read_only = True

    async def run(self, args: PlanEnterParams, ctx: ToolContext) -> ToolResult:
        already = ctx.plan_mode
        ctx.state["plan_mode"] = True
        text = (
            "Already in plan mode."
            if already
            else "Plan mode is on: files cannot be changed and commands cannot run. Investigate, "
            "then call plan_exit with your plan."
        )
        return ToolResult(text, metadata={"plan_mode": True, "reason": args.reason})


class PlanExitParams(msgspec.Struct, forbid_unknown_fields=True):
    plan: Annotated[
        str,
        Meta(
            min_length=1,
            description="The plan, in Markdown: the steps, the files each touches, and how to verify.",
        ),
    ]


class PlanExitTool(Tool):
    name = "plan_exit"
    description = (
        "Present the finished plan and leave plan mode, so the changes can be made. The "
        "plan should list concrete steps, the files involved and how the result will be "
        "checked."
    )
    params = PlanExitParams
    read_only = True

    async def run(self, args: PlanExitParams, ctx: ToolContext) -> ToolResult:
        if not args.plan.strip():
            raise InvalidParams("plan_exit: the plan is empty")
        was = ctx.plan_mode
        ctx.state["plan_mode"] = False
        ctx.state["plan"] = args.plan
        note = "" if was else "(plan mode was not on)\n"
        return ToolResult(f"{note}{args.plan}", metadata={"plan_mode": False, "plan": args.plan})
