"""task: hand a self-contained piece of work to a child agent and bring back its answer.

The child is a session of its own (its own context, titled after it, linked to its
parent by ``parent_id``) that the daemon runs through the same agent loop, with:

* an approval mode never wider than the parent run's (``plan`` < ``ask`` < ``auto``;
  a parent in plan mode gets a read-only child), and the parent's rules;
* at most the tools it is given (never ``question``: a child cannot reach the user,
  it reports back; never ``task`` past the depth limit);
* a step cap (never above the configured one) and a time limit;
* optionally another model.

The call is read-only for the gate (the child's own calls are each judged by its own
gate), so several ``task`` calls in one turn run their children in parallel. A call
that is run again (its parent resumed after a restart) finds its child again instead
of starting another one.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from ...errors import ToolFailure
from .base import SubagentSpec, Tool, ToolContext, ToolResult

__all__ = ["TaskTool"]

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class TaskParams(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=40, description=(
        "A short name for the child agent (lowercase letters, digits, '-' or '_'), e.g. 'tests'."))]
    prompt: Annotated[str, Meta(min_length=1, description=(
        "The child's task, self-contained: it does not see this conversation. Say what to "
        "do, where, and what to report back."))]
    mode: Annotated[Literal["inherit", "plan", "ask", "auto"], Meta(description=(
        "The child's approval mode; never wider than yours ('plan' makes it read-only)."))] = "inherit"
    model: Annotated[str | None, Meta(description="Another model for the child (default: yours).")] = None
    max_steps: Annotated[int, Meta(ge=0, le=500, description=(
        "The most model turns the child may take (0, the default: the configured limit, "
        "which is also the ceiling)."))] = 0
    timeout: Annotated[int, Meta(ge=10, le=3600, description=(
        "Seconds the child may run before it is stopped (default 600)."))] = 600
    tools: Annotated[list[str] | None, Meta(description=(
        "The only tools the child may use (default: yours, without 'question')."))] = None


class TaskTool(Tool):
    name = "task"
    description = (
        "Start a child agent on a self-contained task and wait for its final answer. Use it "
        "for work that can be done apart from this conversation (a search across the code, a "
        "focused change, running and fixing tests); several task calls in one turn run in "
        "parallel. The child has its own context, at most your permissions, and reports back "
        "its answer, steps and tokens."
    )
    params = TaskParams
    read_only = True  # the child's calls are gated one by one by its own gate

    def approval_subject(self, args: TaskParams) -> str:
        return args.name

    def describe(self, args: TaskParams) -> str:
        return f"task {args.name}"

    async def run(self, args: TaskParams, ctx: ToolContext) -> ToolResult:
        if ctx.subagents is None:
            raise ToolFailure("task: child agents need the daemon; this run has none")
        if not NAME_RE.match(args.name):
            raise ToolFailure(f"task: invalid name {args.name!r}: use lowercase letters, digits, '-' "
                              f"or '_', starting with a letter or digit")
        spec = SubagentSpec(name=args.name, prompt=args.prompt, mode=args.mode, model=args.model,
                            max_steps=args.max_steps or None, timeout=float(args.timeout),
                            tools=tuple(args.tools) if args.tools is not None else None)
        out = await ctx.subagents.run(ctx, spec)
        header = (f"[sub-agent {out.name} ({out.session_id}) {out.stop_reason} after {out.steps} "
                  f"step{'s' if out.steps != 1 else ''}, {out.input_tokens} tokens in / "
                  f"{out.output_tokens} out, mode {out.mode}{', resumed' if out.resumed else ''}]")
        failed = out.stop_reason not in ("end_turn", "max_steps")
        return ToolResult(f"{header}\n{out.text}" if out.text else header, is_error=failed, metadata={
            "subagent": {"session_id": out.session_id, "name": out.name, "stop_reason": out.stop_reason,
                         "steps": out.steps, "input_tokens": out.input_tokens,
                         "output_tokens": out.output_tokens, "mode": out.mode, "resumed": out.resumed}})
