"""Child agents for the ``task`` tool: a child session run through the same agent loop.

A child is a session of its own: ``parent_id`` names its parent, its meta's state
says which call of the parent started it (``subagent``), and the parent's state maps
that call id to the child (``children``), saved before the child runs. So a parent
resumed after a restart re-runs the dangling ``task`` call and finds its child again:
a finished child gives back its answer, an interrupted one is resumed, never a second
child for the same call.

Policy never widens: the child's mode is the narrower of the parent run's mode and the
one asked for (``plan`` < ``ask`` < ``auto``), its tools a subset of the parent's
without ``question`` (it cannot reach the user) and without ``task`` past
:data:`MAX_DEPTH`, its step cap at most the configured one. The child's approval
requests are forwarded to the parent's stream so the client attached to the parent
(an editor, the CLI) sees and answers them; approvals are decided by id.

Cancelling the parent's call cancels the child's run; a child over its time limit is
cancelled and reported as ``timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from ..app import App
from ..core.approvals import MODE_RANK
from ..core.bus import agent_events_topic, agent_topic
from ..core.sessions import SessionRuntime
from ..core.tools import SubagentOutcome, SubagentSpec, ToolContext, ToolRegistry
from ..errors import CodetetherError, NotFound, ToolFailure
from ..wire import api
from ..wire.a2a import Part, TaskState
from ..wire.bus import AgentMessage, AgentReady, AgentShutdown, TaskUpdate
from ..wire.events import (
    ApprovalRequested,
    ApprovalResolved,
    Done,
    Progress,
    SubagentEnded,
    SubagentStarted,
    ToolCallStart,
    UsageEvent,
)
from ._context import CallContext
from ._runs import RunLimits, run_stream

__all__ = ["MAX_DEPTH", "SubagentRunner", "narrower_mode"]

log = logging.getLogger("codetether.subagents")

#: How deep children may nest: a child of a child of a child has no ``task`` tool.
MAX_DEPTH = 3
#: Tools a child never gets.
CHILD_EXCLUDED = frozenset({"question"})
#: Child events shown on the parent's stream as they happen (the client answers them there).
FORWARDED = (ApprovalRequested, ApprovalResolved)


def narrower_mode(parent: str, asked: str) -> str:
    """The child's approval mode: what it asked for, but never wider than its parent's."""
    if asked == "inherit" or asked not in MODE_RANK:
        return parent
    return asked if MODE_RANK[asked] <= MODE_RANK.get(parent, 0) else parent


class SubagentRunner:
    """Runs the ``task`` tool's children in ``app`` (see the module docstring)."""

    def __init__(self, app: App) -> None:
        self.app = app

    @classmethod
    def install(cls, app: App) -> None:
        """Give ``app`` its runner (once): what the ``task`` tool's calls reach."""
        if app.subagents is None:
            app.subagents = cls(app)

    async def run(self, ctx: ToolContext, spec: SubagentSpec) -> SubagentOutcome:
        """Run (or find again) the child of the tool call ``ctx`` and wait for its end."""
        app = self.app
        parent = app.runtime(ctx.session_id)
        depth = int((parent.meta.state.get("subagent") or {}).get("depth", 0)) + 1
        if depth > MAX_DEPTH:
            raise ToolFailure(f"task: sub-agents nest at most {MAX_DEPTH} deep")
        mode = narrower_mode(ctx.approval_mode, spec.mode)
        tools = self._tools(ctx, spec, depth)
        child, resumed = self._child(parent, ctx, spec, mode, depth)
        if resumed and _finished(child):
            return self._outcome(child, spec, mode, "end_turn", _last_answer(child), 0, (0, 0), resumed=True)
        emit = ctx.emit
        if emit is not None:
            await emit(SubagentStarted(session_id=child.id, name=spec.name, call_id=ctx.call_id, mode=mode,
                                       model=child.meta.model, resumed=resumed))
        if child.busy:
            raise ToolFailure(f"task: the sub-agent {spec.name} ({child.id}) is already running")
        await app.publish(agent_events_topic(child.id), AgentReady(
            agent_id=child.id, name=spec.name, capabilities=tools.names(), role="subagent",
            url=f"bus://local/{spec.name}", parent_id=parent.id), sender_id=child.id)
        call = CallContext(transport="inproc", method="session/prompt", principal=f"agent:{parent.id}")
        limits = RunLimits(max_steps=spec.max_steps, tools=tools)
        # A child found again whose prompt never reached it (a stop right after it was made)
        # gets its prompt; one that has it resumes.
        text = None if resumed and child.messages else spec.prompt
        tokens = [0, 0]
        result: api.PromptResult | None = None
        stop = "error"
        try:
            async with asyncio.timeout(spec.timeout):
                items = run_stream(app, child, text, call, mode=mode, limits=limits, env=ctx.env)
                async with contextlib.aclosing(items) as run:
                    async for item in run:
                        if isinstance(item, api.PromptResult):
                            result = item
                            continue
                        await self._relay(item.event, spec, tokens, emit)
        except TimeoutError:
            stop = "timeout"
        except CodetetherError as exc:
            raise ToolFailure(f"task {spec.name}: {exc.message}") from exc
        if result is not None:
            stop = result.stop_reason
        text_out = result.text if result is not None else _last_answer(child)
        if stop == "timeout":
            text_out = f"stopped after {spec.timeout:g}s without finishing. {text_out}".strip()
        steps = result.steps if result is not None else 0
        outcome = self._outcome(child, spec, mode, stop, text_out, steps, (tokens[0], tokens[1]),
                                resumed=resumed)
        if emit is not None:
            await emit(SubagentEnded(session_id=child.id, name=spec.name, call_id=ctx.call_id,
                                     stop_reason=stop, steps=steps, input_tokens=tokens[0],
                                     output_tokens=tokens[1]))
        await self._report(parent.id, child.id, outcome)
        return outcome

    async def _report(self, parent_id: str, child_id: str, outcome: SubagentOutcome) -> None:
        """The child reports back on the bus: its answer to its parent (``agent.{parent}``),
        its end as a task update, and that it is gone (``agent.{child}.events``)."""
        app = self.app
        state: TaskState = "TASK_STATE_COMPLETED" if outcome.stop_reason in ("end_turn", "max_steps") else (
            "TASK_STATE_CANCELED" if outcome.stop_reason == "cancelled" else "TASK_STATE_FAILED")
        await app.publish(agent_topic(parent_id), AgentMessage(
            to=parent_id, parts=[Part(text=outcome.text or "(no answer)")], task_id=child_id),
            sender_id=child_id)
        await app.publish(agent_events_topic(child_id), TaskUpdate(
            task_id=child_id, state=state, parent_id=parent_id,
            message=f"{outcome.stop_reason} after {outcome.steps} steps",
            metadata={"input_tokens": outcome.input_tokens, "output_tokens": outcome.output_tokens}),
            sender_id=child_id)
        await app.publish(agent_events_topic(child_id), AgentShutdown(agent_id=child_id, reason=outcome.stop_reason),
                          sender_id=child_id)

    # -- parts ------------------------------------------------------------------------

    def _tools(self, ctx: ToolContext, spec: SubagentSpec, depth: int) -> ToolRegistry:
        """The child's tools: the parent's (or the asked subset of them), never ``question``,
        never ``task`` at the depth limit."""
        parent = ctx.registry if ctx.registry is not None else self.app.tools
        names = set(parent.names())
        if spec.tools is not None:
            unknown = sorted(set(spec.tools) - names)
            if unknown:
                raise ToolFailure(f"task: unknown or unavailable tools {unknown}; available: "
                                  f"{', '.join(sorted(names))}")
            names = set(spec.tools)
        names -= CHILD_EXCLUDED
        if depth >= MAX_DEPTH:
            names.discard("task")
        return ToolRegistry([tool for tool in parent if tool.name in names])

    def _child(self, parent: SessionRuntime, ctx: ToolContext, spec: SubagentSpec, mode: str,
               depth: int) -> tuple[SessionRuntime, bool]:
        """The call's child: found again (resumed) or created, and linked both ways on disk
        before it runs."""
        children: dict[str, Any] = parent.meta.state.setdefault("children", {})
        known = children.get(ctx.call_id)
        if isinstance(known, str):
            try:
                return self.app.runtime(known), True
            except NotFound:
                log.warning("sub-agent %s of %s is gone; starting a new one", known, parent.id)
        model = self.app.models.resolve(spec.model).label if spec.model else parent.meta.model
        meta = self.app.sessions.create(workspace=parent.meta.workspace, model=model, approval_mode=mode,
                                        title=f"{spec.name} (sub-agent of {parent.meta.title or parent.id})",
                                        parent_id=parent.id)
        meta.state["subagent"] = {"parent": parent.id, "call_id": ctx.call_id, "name": spec.name,
                                  "depth": depth}
        self.app.sessions.save_meta(meta)
        children[ctx.call_id] = meta.id
        parent.save_meta()
        return self.app.runtime(meta.id), False

    async def _relay(self, event: Any, spec: SubagentSpec, tokens: list[int], emit: Any) -> None:
        """One child event: counted, and shown on the parent's stream where it needs the user."""
        if isinstance(event, UsageEvent):
            tokens[0] += event.input_tokens
            tokens[1] += event.output_tokens
        if emit is None:
            return
        if isinstance(event, FORWARDED):
            await emit(event)
        elif isinstance(event, ToolCallStart):
            await emit(Progress(phase="subagent", detail=f"{spec.name}: {event.name}"))
        elif isinstance(event, Done):
            await emit(Progress(phase="subagent", detail=f"{spec.name}: {event.stop_reason}"))

    def _outcome(self, child: SessionRuntime, spec: SubagentSpec, mode: str, stop: str, text: str,
                 steps: int, tokens: tuple[int, int], *, resumed: bool) -> SubagentOutcome:
        return SubagentOutcome(session_id=child.id, name=spec.name, stop_reason=stop, text=text, steps=steps,
                               mode=mode, input_tokens=tokens[0], output_tokens=tokens[1], resumed=resumed)


def _finished(rt: SessionRuntime) -> bool:
    """The child's last word is an answer with no open tool calls: its run ended."""
    msgs = rt.messages
    return bool(msgs) and msgs[-1].role == "assistant" and not msgs[-1].tool_calls


def _last_answer(rt: SessionRuntime) -> str:
    for msg in reversed(rt.messages):
        if msg.role == "assistant" and isinstance(msg.content, str) and msg.content:
            return msg.content
    return ""
