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
and is sent what the run published until it ended, within the same bound.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator

from ..app import App
from ..core.agent import Agent, AgentSettings, expand_mentions
from ..core.config import misplaced_config
from ..core.providers import ResolvedModel
from ..core.sessions import SessionRuntime, Subscriber
from ..core.tools import ToolRegistry, Workspace
from ..errors import RequestCancelled
from ..wire import api
from ..wire.events import Notice, SessionEvent
from ._context import CallContext

__all__ = ["RunLimits", "run_stream"]

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


async def run_stream(app: App, rt: SessionRuntime, text: str | None, ctx: CallContext, *,
                     mode: str | None = None, env: dict[str, str] | None = None,
                     limits: RunLimits | None = None,
                     ) -> AsyncGenerator[api.SessionEventNote | api.PromptResult, None]:
    """Run the agent on ``text`` (None: resume what was left open). The caller checked
    that the session is not busy; nothing awaits between that check and the lock."""
    await rt.lock.acquire()
    sub = rt.hub.subscribe("block", maxsize=RUN_QUEUE)
    run = asyncio.create_task(_run(app, rt, text, mode, env, limits), name=f"run:{rt.id}")
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
        await _abandon(rt, run, sub, ctx)
        raise
    except GeneratorExit:  # the reader stopped reading: nobody to send the rest to
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


async def _run(app: App, rt: SessionRuntime, text: str | None, mode: str | None,
               env: dict[str, str] | None, limits: RunLimits | None) -> api.PromptResult:
    rt.run_started()
    notices = misplaced_config(app.paths)
    if text is not None:
        text, refused = expand_mentions(text, Workspace(rt.meta.workspace), rt.remember_file)
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
            tools = limits.tools or tools
        agent = Agent(rt, provider, tools, app.approvals, agent_settings, subagents=app.subagents)
        return await agent.run(text, preserve_on_cancel=lambda: app.stopping)


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
