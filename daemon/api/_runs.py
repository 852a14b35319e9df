"""A run of the agent in one session, as a stream: its events as they happen, then its result.

The agent runs in its own task (``run:<session>``), which ``session/cancel`` and the
daemon's shutdown cancel through the session runtime. The stream reads the run's own
lossless subscription to the session's hub (policy ``block``: a slow reader slows
the agent, it never misses a text chunk) and ends with the events the run published,
its error or cancellation included, before the result.

The session is busy (``rt.lock``) from the moment the prompt is accepted until the
run task ends, whatever its reader does: the task's done callback frees it. Events
still queued when the run has ended are sent within :data:`FLUSH_SECONDS`; a reader
slower than that loses the rest, as a stalled client cannot hold the session. A
caller that goes away (its request cancelled, its connection closed) cancels the run,
and is sent what the run published until it ended, within the same bound; unless it
asked to ``detach``: then the run goes on (its events still reach the session's
subscribers and its stream), and the caller's queue no longer holds it back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from pathlib import Path
from typing import Any

from ..app import App
from ..core.agent import Agent, AgentSettings, expand_mentions
from ..core.agents import AgentOutcome
from ..core.config import misplaced_config
from ..core.providers import CompletionRequest, ResolvedModel, TextDelta
from ..core.sessions import SessionRuntime, Subscriber
from ..core.tools import ToolRegistry, Workspace
from ..errors import CodetetherError, Conflict, NotFound, RequestCancelled
from ..wire import api
from ..wire.events import Notice, SessionEvent, UsageEvent
from ..wire.messages import Message
from ._context import CallContext

__all__ = ["OnEvent", "RunLimits", "Runner", "chat_model", "run_session", "run_stream"]

#: Events buffered between the agent and a slow reader before the agent waits.
RUN_QUEUE = 256
#: Seconds a run's last events may take to reach its caller once the run has ended.
FLUSH_SECONDS = 2.0


class RunLimits:
    """What one run may use beyond the session's own settings (a child agent's):
    fewer steps, fewer tools."""

    __slots__ = ("max_steps", "tools")

    def __init__(self, *, max_steps: int | None = None, tools: ToolRegistry | None = None) -> None:
        self.max_steps = max_steps
        self.tools = tools


#: A run's body other than the agent (``/go``): runner(app, rt, text, mode, env) -> result.
Runner = Callable[[App, SessionRuntime, "str | None", str, "dict[str, str] | None"], Awaitable[api.PromptResult]]


async def run_stream(app: App, rt: SessionRuntime, text: str | None, ctx: CallContext, *,
                     mode: str | None = None, env: dict[str, str] | None = None,
                     limits: RunLimits | None = None, runner: Runner | None = None,
                     detach: bool = False,
                     ) -> AsyncGenerator[api.SessionEventNote | api.PromptResult, None]:
    """Run the agent on ``text`` (None: resume what was left open). The caller checked
    that the session is not busy; nothing awaits between that check and the lock."""
    await rt.lock.acquire()
    sub = rt.hub.subscribe("block", maxsize=RUN_QUEUE)
    body = _run(app, rt, text, mode, env, limits) if runner is None else \
        _custom(app, rt, text, mode or rt.meta.approval_mode, env, runner)
    run = asyncio.create_task(body, name=f"run:{rt.id}")
    rt.begin_run(run)  # at once: session/cancel must reach it
    rt.run_connection = ctx.channel
    run.add_done_callback(lambda _: _ended(app, rt, sub))
    loop = asyncio.get_running_loop()
    flush_by: float | None = None
    try:
        while (item := await _next(sub, run)) is not None:
            if run.done():
                flush_by = flush_by or loop.time() + FLUSH_SECONDS
                if loop.time() > flush_by:
                    break  # a reader this slow loses the rest (the run is over)
            yield api.SessionEventNote(session_id=rt.id, seq=item[0], event=item[1])
        if run.cancelled():
            raise RequestCancelled("request cancelled")
        yield run.result()  # the run's own error, if it failed
    except asyncio.CancelledError:
        if detach:  # the caller left: the run goes on; its own queue no longer holds it back
            rt.hub.unsubscribe(sub)
            raise
        await _abandon(rt, run, sub, ctx)
        raise
    except GeneratorExit:  # the reader stopped reading: nobody to send the rest to
        if detach:
            rt.hub.unsubscribe(sub)
            raise
        if not run.done():
            rt.cancel_run()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(asyncio.wait([run]))  # its done callback frees the session
        raise


async def _abandon(rt: SessionRuntime, run: asyncio.Task[api.PromptResult], sub: Subscriber,
                   ctx: CallContext) -> None:
    """The caller's request was cancelled: cancel the run, and send the caller what it
    published until it ended (its Done(cancelled) last), within FLUSH_SECONDS."""
    rt.cancel_run()

    async def flush() -> None:
        await asyncio.wait([run])
        while not sub.queue.empty():
            seq, event = sub.queue.get_nowait()
            await ctx.emit(api.SessionEventNote(session_id=rt.id, seq=seq, event=event))

    # Shielded: a second cancellation (a disconnect after $/cancelRequest) stops only this
    # wait; the run still ends and its done callback still frees the session.
    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
        await asyncio.shield(asyncio.wait_for(flush(), FLUSH_SECONDS))


def _ended(app: App, rt: SessionRuntime, sub: Subscriber) -> None:
    """The run task's done callback: free the session, whoever is still reading."""
    rt.hub.unsubscribe(sub)  # its queued events stay readable by the stream
    rt.end_run()
    rt.lock.release()
    if rt.meta.read_files:
        app.watcher.track(rt)


async def _next(sub: Subscriber, run: asyncio.Task[api.PromptResult],
                ) -> tuple[int, SessionEvent] | None:
    """The run's next event; None once it has ended and every event it published is out."""
    while sub.queue.empty():
        if run.done():
            return None
        get = asyncio.ensure_future(sub.queue.get())
        try:
            await asyncio.wait([get, run], return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not get.done():
                get.cancel()
            await asyncio.gather(get, return_exceptions=True)
        if not get.cancelled():
            return get.result()
    return sub.queue.get_nowait()


async def _custom(app: App, rt: SessionRuntime, text: str | None, mode: str, env: dict[str, str] | None,
                  runner: Runner) -> api.PromptResult:
    rt.run_started()
    return await runner(app, rt, text, mode, env)


async def _run(app: App, rt: SessionRuntime, text: str | None, mode: str | None,
               env: dict[str, str] | None, limits: RunLimits | None) -> api.PromptResult:
    rt.run_started()
    notices = misplaced_config(app.paths)
    workspace = pinned_workspace(rt)  # one for the mentions, the agent and its gate
    if text is not None:
        text, refused = expand_mentions(text, workspace, rt.remember_file)
        notices += refused
    for notice in notices:
        await rt.emit(Notice(text=notice))
    resolved = app.models.resolve(rt.meta.model)
    async with app.models.lease(resolved, env) as provider:
        agent_settings = settings(app, resolved, mode or rt.meta.approval_mode)
        tools = app.tools
        if limits is not None:
            if limits.max_steps is not None:
                agent_settings.max_steps = min(agent_settings.max_steps, limits.max_steps)
            tools = limits.tools if limits.tools is not None else tools  # an empty set is a set
        agent = Agent(rt, provider, tools, app.approvals, agent_settings, subagents=app.subagents, env=env,
                      workspace=workspace)
        return await agent.run(text, preserve_on_cancel=lambda: app.stopping)


#: Where a session's workspace led when it first ran (the meta's state).
WORKSPACE_ROOT = "workspace_root"


def pinned_workspace(rt: SessionRuntime) -> Workspace:
    """The session's workspace, resolved, and the directory it resolved to when the
    session first ran (kept in its meta): a run refuses to start when the two differ.

    The root is resolved afresh for each run (a symlinked project stays usable), so a
    workspace replaced by a link between two runs (``proj -> /``) would otherwise move
    where the agent may write without anyone asking. Fail closed: :class:`Conflict`,
    naming both directories; a new session in the directory meant is the way on.
    """
    meta = rt.meta
    try:
        workspace = Workspace(meta.workspace)
    except (OSError, RuntimeError) as exc:  # gone, unreadable, a symlink loop
        raise NotFound(f"session {meta.id}: its workspace {meta.workspace} cannot be used: "
                       f"{getattr(exc, 'strerror', None) or exc}", data={"workspace": meta.workspace}) from exc
    root = str(workspace.root)
    pinned = meta.state.get(WORKSPACE_ROOT)
    if pinned is None:
        meta.state[WORKSPACE_ROOT] = root
        rt.save_meta()
    elif pinned != root:
        raise Conflict(f"session {meta.id}: its workspace {meta.workspace} now leads to {root}, not to "
                       f"{pinned} where the session ran; refusing to run there (start a new session in "
                       "the directory you mean)",
                       data={"workspace": meta.workspace, "was": pinned, "now": root})
    return workspace


def settings(app: App, resolved: ResolvedModel, mode: str) -> AgentSettings:
    """The agent's settings for one run: the session's model, the configured limits."""
    s, t = app.config.session, app.config.tools
    rules: dict[str, dict[str, str]] = {tool: dict(r) for tool, r in app.config.permissions.rules.items()}
    return AgentSettings(
        model=resolved.model, model_label=resolved.label,
        context_window=resolved.context_window, max_steps=s.max_steps,
        tool_output_budget=s.tool_output_budget, compact_threshold=s.compact_threshold,
        mode=mode, rules=rules,
        tool_settings={k: v for k, v in (("websearch_url", t.websearch_url),
                                         ("bash_timeout", t.bash_timeout),
                                         ("bash_max_output", t.bash_max_output)) if v})


#: Called with each event of a one-shot run (``run_session``), as it happens.
OnEvent = Callable[[SessionEvent], Awaitable[None]]


async def run_session(app: App, *, where: Path, prompt: str, mode: str, title: str, model: str | None = None,
                      env: dict[str, str] | None = None, on_event: OnEvent | None = None,
                      principal: str = "agent", state: dict[str, object] | None = None,
                      limits: RunLimits | None = None) -> AgentOutcome:
    """Run ``prompt`` as a new session of ``app`` in ``where`` to its end (a swarm's
    subtask, a worker's item, a Ralph iteration). ``state`` goes into the session's
    meta (who started it); every event goes to ``on_event``. An error of the run is its
    outcome; cancelling the caller cancels the run."""
    label = app.models.resolve(model or None).label
    meta = app.sessions.create(workspace=str(where), model=label, approval_mode=mode, title=title)
    if state:
        meta.state.update(state)
        app.sessions.save_meta(meta)
    rt = app.runtime(meta.id)
    call = CallContext(transport="inproc", method="session/prompt", principal=principal)
    tokens = [0, 0]
    result: api.PromptResult | None = None
    try:
        async with contextlib.aclosing(run_stream(app, rt, prompt, call, mode=mode, env=env or {},
                                                  limits=limits)) as run:
            async for item in run:
                if isinstance(item, api.PromptResult):
                    result = item
                    continue
                if isinstance(item.event, UsageEvent):
                    tokens[0] += item.event.input_tokens
                    tokens[1] += item.event.output_tokens
                if on_event is not None:
                    await on_event(item.event)
    except CodetetherError as exc:
        return AgentOutcome(text=exc.message, stop_reason="error", tokens_in=tokens[0], tokens_out=tokens[1],
                              session_id=rt.id)
    assert result is not None
    return AgentOutcome(text=result.text, stop_reason=result.stop_reason, steps=result.steps,
                          tokens_in=tokens[0], tokens_out=tokens[1], session_id=rt.id)


def chat_model(app: App, model: str | None, env: dict[str, str] | None = None, *,
               schema: dict[str, Any] | None = None) -> Callable[[list[dict[str, str]]], Awaitable[str]]:
    """One model call as a function: chat messages (``role``, ``content``) in, the reply's
    text out, on ``model`` (default: the configured one). What a swarm plans and sums up
    with, and ``/go`` drafts with. ``schema``: the reply's JSON Schema (structured output
    where the provider can enforce it)."""

    async def chat(messages: list[dict[str, str]]) -> str:
        resolved = app.models.resolve(model)
        system = "\n".join(m["content"] for m in messages if m["role"] == "system")
        turns = [Message(role="assistant" if m["role"] == "assistant" else "user", content=m["content"])
                 for m in messages if m["role"] != "system"]
        chunks: list[str] = []
        async with app.models.lease(resolved, env) as provider:
            async for event in provider.stream(CompletionRequest(
                    model=resolved.model, messages=turns, system=system, max_tokens=4096,
                    response_schema=schema)):
                if isinstance(event, TextDelta):
                    chunks.append(event.text)
        return "".join(chunks)

    return chat
