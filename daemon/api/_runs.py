"""A run of the agent in one session, as a stream: its events as they happen, then its result.

The agent runs in its own task (``run:<session>``), which ``session/cancel`` and the
daemon's shutdown cancel through ``rt.run_task``. The stream reads the run's own
lossless subscription to the session's hub (policy ``block``: a slow reader slows
the agent, it never misses a text chunk) and ends with every event the run
published, its error or cancellation included, before the result. A caller that
stops reading (a cancelled request, a closed connection) cancels the run.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from ..app import App
from ..core.agent import Agent, AgentSettings, expand_mentions
from ..core.config import misplaced_config
from ..core.providers import ResolvedModel
from ..core.sessions import SessionRuntime, Subscriber
from ..core.tools import Workspace
from ..errors import RequestCancelled
from ..wire import api
from ..wire.events import Notice, SessionEvent
from ._context import CallContext

__all__ = ["run_stream"]

#: Events buffered between the agent and a slow reader before the agent waits.
RUN_QUEUE = 256


async def run_stream(app: App, rt: SessionRuntime, text: str | None, ctx: CallContext, *,
                     mode: str | None = None, env: dict[str, str] | None = None,
                     ) -> AsyncGenerator[api.SessionEventNote | api.PromptResult, None]:
    """Run the agent on ``text`` (None: resume what was left open)."""
    async with rt.lock:
        sub = rt.hub.subscribe("block", maxsize=RUN_QUEUE)
        run = asyncio.create_task(_run(app, rt, text, mode, env), name=f"run:{rt.id}")
        rt.run_task = run  # at once: session/cancel must reach it
        rt.run_connection = ctx.channel
        try:
            while (item := await _next(sub, run)) is not None:
                yield api.SessionEventNote(session_id=rt.id, seq=item[0], event=item[1])
            if run.cancelled():
                raise RequestCancelled("request cancelled")
            yield run.result()  # the run's own error, if it failed
        finally:
            if not run.done():  # the caller went away: so does its run
                run.cancel()
            await asyncio.gather(run, return_exceptions=True)
            rt.run_task = None
            rt.hub.unsubscribe(sub)
            rt.run_connection = None
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
               env: dict[str, str] | None) -> api.PromptResult:
    notices = misplaced_config(app.paths)
    if text is not None:
        text, refused = expand_mentions(text, Workspace(rt.meta.workspace), rt.remember_file)
        notices += refused
    for notice in notices:
        await rt.emit(Notice(text=notice))
    resolved = app.models.resolve(rt.meta.model)
    async with app.models.lease(resolved, env) as provider:
        agent = Agent(rt, provider, app.tools, app.approvals,
                      settings(app, resolved, mode or rt.meta.approval_mode))
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
