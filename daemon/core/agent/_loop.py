"""The agent loop: stream a model turn, run its tool calls, feed results back.

One :class:`Agent` drives one run of one session. It is cancellable at any await;
on cancellation it closes open tool calls with a "cancelled" result so the
transcript stays well-formed, reports ``done: cancelled`` and re-raises.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from ...errors import ApprovalDenied, CodetetherError, InvalidParams, ToolFailure
from ...wire.api import PromptResult
from ...wire.events import (
    Done,
    ErrorEvent,
    Notice,
    Progress,
    TextChunk,
    Thinking,
    ToolCallEnd,
    ToolCallStart,
    UsageEvent,
    UserMessage,
)
from ...wire.messages import Message, ToolCall, Usage
from ..approvals import ApprovalBackend, Gate
from ..providers import (
    CompletionRequest,
    ProgressReport,
    Provider,
    StreamDone,
    TextDelta,
    ThinkingDelta,
    ToolCallReady,
    ToolSpec,
    UsageReport,
)
from ..sessions import SessionRuntime
from ..tools import Subagents, Tool, ToolContext, ToolRegistry, ToolResult, Workspace
from ._compaction import build_context, context_tokens, estimate_tokens, maybe_compact
from ._instructions import project_instructions
from ._settings import AgentSettings

__all__ = ["Agent", "system_prompt", "truncate_output"]

log = logging.getLogger("codetether.agent")

#: File-writing tools whose changes an editor session shows as proposals.
PROPOSING_TOOLS = frozenset({"write_file", "edit", "multiedit", "apply_patch"})

SYSTEM_PROMPT = """You are codetether, a coding agent working in the workspace {workspace}.
Use the tools to read, search and change files and to run commands; paths are relative to the
workspace. Read a file before editing it. When the task is done, answer briefly and stop."""


def system_prompt(workspace: str) -> str:
    """The system prompt of a run in ``workspace``: ours, then the project's instructions
    (AGENTS.md / CLAUDE.md up to the repository root, capped; see ``_instructions``)."""
    base = SYSTEM_PROMPT.format(workspace=workspace)
    section = project_instructions(workspace).render()
    return f"{base}\n\n{section}" if section else base


def truncate_output(text: str, budget: int) -> str:
    """``text`` cut to ``budget`` characters: its head and tail, with a note of the cut."""
    if len(text) <= budget:
        return text
    head = int(budget * 0.7)
    tail = budget - head
    cut = len(text) - head - tail
    return f"{text[:head]}\n[... {cut} characters truncated ...]\n{text[-tail:]}"


class Agent:
    """Drives one run of one session: model turns, tool calls through the :class:`Gate`,
    compaction when the context nears the window (see the module docstring)."""

    def __init__(self, runtime: SessionRuntime, provider: Provider, registry: ToolRegistry,
                 approvals: ApprovalBackend, settings: AgentSettings, *,
                 subagents: Subagents | None = None, env: dict[str, str] | None = None,
                 workspace: Workspace | None = None) -> None:
        self.rt = runtime
        self.subagents = subagents
        self.env = env
        self.provider = provider
        self.registry = registry
        self.settings = settings
        # The caller's, when it made one for this session already (resolving it is syscalls);
        # the gate judges paths against the same root the tools resolve them in.
        self.workspace = workspace if workspace is not None else Workspace(runtime.meta.workspace)
        self.gate = Gate(runtime, approvals, settings.mode, settings.rules, workspace=self.workspace)
        self.usage = Usage()
        self._tool_specs = [ToolSpec(t.name, t.description, t.schema()) for t in registry]
        self._system = system_prompt(runtime.meta.workspace)  # once per run, not per turn
        self._overhead = estimate_tokens([], self._system, self._tool_specs)
        self.truncated = False  # the last answer stopped at max_tokens

    async def run(self, prompt: str | None,
                  preserve_on_cancel: Callable[[], bool] = lambda: False) -> PromptResult:
        """Run until the model stops calling tools, the step cap, or cancellation.
        ``preserve_on_cancel()`` true (daemon shutdown) leaves unanswered tool calls
        open, so their durable approvals carry over to a resume after restart."""
        steps = 0
        text = ""
        try:
            if prompt is None:
                await self._finish_dangling_calls()  # resume: run what was left open
            else:
                # A new prompt supersedes calls an interrupted run left open; answer them
                # first, or every vendor rejects the transcript from here on.
                self._close_dangling("not run: the session was interrupted before this call "
                                     "ran, and the user moved on", by="superseded")
                self.rt.append(Message(role="user", content=prompt))
                await self.rt.emit(UserMessage(text=prompt))
            while steps < self.settings.max_steps:
                steps += 1
                note = self.rt.take_notes()
                if note:
                    self.rt.append(Message(role="user", content=note))
                text, calls = await self._model_turn()
                if not calls:
                    reason = "max_tokens" if self.truncated else "end_turn"
                    await self.rt.emit(Done(stop_reason=reason, steps=steps, text=text))
                    return self._result(reason, text, steps)
                await self._run_calls(calls)
                self.rt.save_meta()  # once per turn; the transcript itself is already on disk
            await self.rt.emit(Done(stop_reason="max_steps", steps=steps, text=text))
            return self._result("max_steps", text, steps)
        except asyncio.CancelledError:
            if not preserve_on_cancel():
                self._close_dangling("cancelled by the user", by="cancelled")
            # Never block here on a client that stopped reading: drop if its queue is full.
            self.rt.hub.publish_nowait(Done(stop_reason="cancelled", steps=steps, text=text))
            raise
        except Exception as exc:
            error = exc if isinstance(exc, CodetetherError) else CodetetherError(
                f"run failed: {exc!r}")
            if error is not exc:
                log.exception("run of session %s failed", self.rt.id)
            self._close_dangling(f"run stopped: {error.message}", by="error")
            self.rt.hub.publish_nowait(ErrorEvent(code=error.codes.jsonrpc, message=error.message))
            self.rt.hub.publish_nowait(Done(stop_reason="error", steps=steps, text=text))
            if error is exc:
                raise
            raise error from exc
        finally:
            self.rt.save_meta()

    def _result(self, reason: str, text: str, steps: int) -> PromptResult:
        return PromptResult(session_id=self.rt.id, stop_reason=reason, text=text, steps=steps,
                            usage=self.usage)

    # -- one model turn ---------------------------------------------------------------

    async def _model_turn(self) -> tuple[str, list[ToolCall]]:
        await maybe_compact(self.rt, self.provider, self.settings, self._overhead)
        request = CompletionRequest(
            model=self.settings.model, messages=build_context(self.rt.transcript),
            tools=self._tool_specs, system=self._system, max_tokens=self.settings.max_tokens)
        chunks: list[str] = []
        thinking: list[str] = []
        calls: list[ToolCall] = []
        stop_reason = "end_turn"
        await self.rt.emit(Progress(phase="prompt", detail=self.settings.model_label,
                                    tokens=self._overhead + context_tokens(self.rt)))
        async for event in self.provider.stream(request):
            if isinstance(event, TextDelta):
                chunks.append(event.text)
                await self.rt.emit(TextChunk(text=event.text))
            elif isinstance(event, ThinkingDelta):
                thinking.append(event.text)
                await self.rt.emit(Thinking(text=event.text))
            elif isinstance(event, ToolCallReady):
                calls.append(event.call)
            elif isinstance(event, UsageReport):
                self.usage = self.usage + event.usage
                await self.rt.emit(UsageEvent(input_tokens=event.usage.input_tokens,
                                              output_tokens=event.usage.output_tokens,
                                              model=self.settings.model_label))
            elif isinstance(event, ProgressReport):
                await self.rt.emit(Progress(phase=event.phase, detail=event.detail, tokens=event.tokens))
            elif isinstance(event, StreamDone):
                stop_reason = event.stop_reason
        text = "".join(chunks)
        self.truncated = stop_reason == "max_tokens" and not calls
        if self.truncated:
            # C16: say so; an answer cut off at the output limit is not a normal end.
            await self.rt.emit(Notice(text=f"the answer was cut off at the model's output limit "
                                           f"({self.settings.max_tokens} tokens)"))
        calls = _unique_ids(calls, self.rt.call_ids)
        self.rt.append(Message(role="assistant", content=text, tool_calls=calls,
                               thinking="".join(thinking) or None))
        return text, calls

    # -- tool calls -----------------------------------------------------------------------

    async def _finish_dangling_calls(self) -> None:
        """After a restart the last assistant turn may have calls with no results
        (e.g. waiting on a durable approval): run them now."""
        pending = self._dangling()
        if pending:
            await self._run_calls(pending)

    def _dangling(self) -> list[ToolCall]:
        msgs = self.rt.messages
        for i in range(len(msgs) - 1, -1, -1):
            if msgs[i].role == "assistant":
                answered = {m.tool_call_id for m in msgs[i + 1:] if m.role == "tool"}
                return [c for c in msgs[i].tool_calls if c.id not in answered]
            if msgs[i].role == "user":
                return []
        return []

    def _close_dangling(self, reason: str, *, by: str) -> None:
        """Answer open calls with ``reason`` and withdraw their pending approvals."""
        calls = self._dangling()
        if calls:
            self.rt.append(*(Message(role="tool", tool_call_id=c.id, name=c.name, content=reason,
                                     is_error=True) for c in calls))
            for call in calls:
                self.gate.withdraw(call, by=by)

    async def _run_calls(self, calls: list[ToolCall]) -> None:
        # Approvals are asked in order; then consecutive read-only calls run in
        # parallel and everything else runs one at a time, in order.
        prepared: list[tuple[ToolCall, Tool | None, Any, ToolResult | None]] = []
        for call in calls:
            prepared.append(await self._prepare(call))
        i = 0
        while i < len(prepared):
            j = i
            while j < len(prepared) and _parallel_safe(prepared[j]):
                j += 1
            group = prepared[i:j] if j > i else prepared[i:i + 1]
            results = await asyncio.gather(*(self._execute(*item) for item in group))
            self.rt.append(*results)
            i += len(group)

    async def _prepare(self, call: ToolCall) -> tuple[ToolCall, Tool | None, Any, ToolResult | None]:
        tool = self.registry.get(call.name)
        if tool is None:
            return call, None, None, ToolResult(
                f"Unknown tool {call.name!r}. Available tools: {', '.join(self.registry.names())}.",
                is_error=True)
        try:
            args = tool.parse(call.arguments)
        except InvalidParams as exc:
            return call, tool, None, ToolResult(
                f"Invalid arguments for {call.name}: {exc.message}. Send valid JSON matching the "
                f"tool's schema.", is_error=True)
        if self.rt.meta.state.get("plan_mode") and not tool.read_only:
            return call, tool, args, ToolResult(
                f"{call.name} is not available in plan mode (read-only). Call plan_exit first.",
                is_error=True)
        subject = self._subject(tool, args)
        allowed, why = await self.gate.check(call, tool, subject,
                                             proposes=self._proposes(tool))
        if not allowed:
            return call, tool, args, ToolResult(f"Permission denied for {call.name}: {why}",
                                                is_error=True)
        return call, tool, args, None

    def _authorizer(self, parent: ToolCall) -> Callable[[Tool, Any], Awaitable[Any]]:
        """The gate for sub-calls a tool makes (``batch``): same policy, same receipts,
        and the same re-check right before each runs."""
        counter = 0

        async def authorize(tool: Tool, args: Any) -> Callable[[], Awaitable[None]]:
            nonlocal counter
            counter += 1
            if self.rt.meta.state.get("plan_mode") and not tool.read_only:
                raise ApprovalDenied(f"{tool.name} is not available in plan mode")
            call = ToolCall(id=f"{parent.id}.{counter}", name=tool.name,
                            arguments=msgspec.json.encode(args).decode())
            allowed, why = await self.gate.check(call, tool, self._subject(tool, args))
            if not allowed:
                raise ApprovalDenied(f"Permission denied for {tool.name}: {why}")

            async def recheck() -> None:
                allowed, why = await self.gate.recheck(call, tool, self._subject(tool, args))
                if not allowed:
                    raise ApprovalDenied(f"Permission denied for {tool.name}: {why}")

            return recheck

        return authorize

    def _proposes(self, tool: Tool) -> bool:
        return self.rt.editor and tool.name in PROPOSING_TOOLS

    def _proposer(self, call: ToolCall, tool: Tool, args: Any) -> Callable[[list[dict[str, Any]]], Awaitable[bool]]:
        async def propose(files: list[dict[str, Any]]) -> bool:
            return await self.gate.propose(call, tool, self._subject(tool, args), files)

        return propose

    async def _report_subcall(self, call_id: str, name: str, arguments: str, result: ToolResult,
                              duration_ms: float) -> None:
        """A sub-call (inside ``batch``) as its own start/end events; ``call_id`` is
        ``<parent>.<n>``, which is how telemetry links it to its parent."""
        await self.rt.emit(ToolCallStart(call_id=call_id, name=name, arguments=arguments))
        await self.rt.emit(ToolCallEnd(
            call_id=call_id, name=name, output=truncate_output(result.output, 2000),
            is_error=result.is_error, duration_ms=duration_ms,
            changes=list(result.metadata.get("changes") or [])))

    def _subject(self, tool: Tool, args: Any) -> str:
        return tool.approval_subject(args)  # the gate resolves the paths a call touches (S3)

    async def _execute(self, call: ToolCall, tool: Tool | None, args: Any,
                       early: ToolResult | None) -> Message:
        started = time.monotonic()
        await self.rt.emit(ToolCallStart(call_id=call.id, name=call.name, arguments=call.arguments))
        await self.rt.emit(Progress(phase="tool", detail=tool.describe(args)
                                    if tool is not None and args is not None else call.name))
        result = early
        if result is None and tool is not None:
            # S3: a link made by an earlier call of this turn may have moved where the
            # paths lead since they were judged: judge them again.
            allowed, why = await self.gate.recheck(call, tool, self._subject(tool, args))
            if not allowed:
                result = ToolResult(f"Permission denied for {call.name}: {why}", is_error=True)
        if result is None and tool is not None and not tool.read_only:
            if call.id in self.rt.transcript.started:
                # It began before a crash and its result was lost: never run it twice.
                result = ToolResult(
                    f"{call.name} was interrupted by a daemon restart after it started; its "
                    "result is unknown. Check the current state before retrying.", is_error=True)
            else:
                self.rt.mark_started(call.id)
        if result is None:
            assert tool is not None
            ctx = ToolContext(workspace=self.workspace, session_id=self.rt.id, call_id=call.id,
                              ask_user=self.rt.ask, state=self.rt.meta.state,
                              on_file_read=self.rt.remember_file, registry=self.registry,
                              authorize=self._authorizer(call), report_subcall=self._report_subcall,
                              read_override=self.rt.read_buffer, emit=self.rt.emit,
                              propose=self._proposer(call, tool, args) if self._proposes(tool) else None,
                              approval_mode="plan" if self.rt.meta.state.get("plan_mode") else self.settings.mode,
                              subagents=self.subagents, env=self.env)
            ctx.settings.update(self.settings.tool_settings)
            try:
                result = await tool.run(args, ctx)
            except ToolFailure as exc:
                result = ToolResult(exc.message, is_error=True)
            except CodetetherError as exc:
                result = ToolResult(f"{call.name} failed: {exc.message}", is_error=True)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a broken tool must not end the run
                log.exception("tool %s crashed", call.name)
                result = ToolResult(f"{call.name} crashed: {exc!r}", is_error=True)
            for rel in result.metadata.get("files_affected", []) or []:
                path = self.workspace.root / rel
                if str(path) in self.rt.meta.read_files:
                    self.rt.remember_file(path)  # our own write is not an outside change
        output = truncate_output(result.output, self.settings.tool_output_budget)
        await self.rt.emit(ToolCallEnd(call_id=call.id, name=call.name, output=output,
                                       is_error=result.is_error,
                                       duration_ms=(time.monotonic() - started) * 1000,
                                       changes=list(result.metadata.get("changes") or [])))
        return Message(role="tool", tool_call_id=call.id, name=call.name, content=output,
                       is_error=result.is_error)


def _parallel_safe(item: tuple[ToolCall, Tool | None, Any, ToolResult | None]) -> bool:
    _call, tool, _args, early = item
    return early is not None or (tool is not None and tool.read_only)


def _unique_ids(calls: list[ToolCall], used: set[str]) -> list[ToolCall]:
    """Call ids unique within the session. Some providers reuse ids across turns;
    approvals and results are keyed by id, so a reused id must never match an old call."""
    out = []
    for call in calls:
        if not call.id or call.id in used:
            call = ToolCall(id=f"call_{uuid.uuid4().hex[:12]}", name=call.name,
                            arguments=call.arguments)
        used.add(call.id)
        out.append(call)
    return out
