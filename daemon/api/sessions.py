"""``session/*`` and ``workspace/buffer``: sessions, their runs, and watching them."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import cast

from ..app import App
from ..core.agent import compact_now
from ..core.approvals import is_agent_process, refuse_wider_mode
from ..core.secrets import register
from ..core.sessions import SessionMeta, SessionRuntime, Subscriber, has_pending_work
from ..core.tools import Workspace
from ..errors import Conflict, InvalidParams, NotFound, Unavailable
from ..wire import api
from ..wire.api import forwarded_env
from ..wire.messages import Usage
from ._context import CallContext
from ._runs import run_stream, settings
from ._table import Method
from .go import go_active, is_go, run_go, run_go_detached

__all__ = ["SessionsAPI"]

#: What a session's passive watcher may fall behind by before events are dropped for it.
WATCH_QUEUE = 1024


def _workspace_dir(raw: str) -> str | None:
    """``raw`` (``~`` expanded) resolved, if it is an existing absolute directory. On
    strings, not pathlib: one A2A task is one session, and ``Path.resolve`` alone cost
    more than the few local syscalls it makes."""
    path = os.path.expanduser(raw)
    if not os.path.isabs(path) or not os.path.isdir(path):
        return None
    return os.path.realpath(path)


class SessionsAPI:
    """Create, list, inspect, fork and delete sessions; run prompts in them (streaming
    methods); cancel runs; watch a session's events; hand it an editor's buffers."""

    def __init__(self, app: App) -> None:
        self.app = app

    def methods(self) -> list[Method]:
        """This domain's rows of the method table."""
        P = api  # noqa: N806 - short for the table below
        return [
            Method("session/create", self.on_session_create, P.SessionCreateParams, P.SessionInfo),
            Method("session/list", self.on_session_list, P.SessionListParams, list[P.SessionInfo],
                   when_broken=True),
            Method("session/get", self.on_session_get, P.SessionIdParams, P.SessionDetail, when_broken=True),
            Method("session/delete", self.on_session_delete, P.SessionIdParams, P.Deleted),
            Method("session/fork", self.on_session_fork, P.SessionForkParams, P.SessionInfo),
            Method("session/prompt", self.on_session_prompt, P.PromptParams, P.PromptResult, streaming=True),
            Method("session/resume", self.on_session_resume, P.SessionIdParams, P.PromptResult,
                   streaming=True),
            Method("session/cancel", self.on_session_cancel, P.SessionIdParams, P.Cancelled,
                   when_broken=True),
            Method("session/compact", self.on_session_compact, P.SessionIdParams, P.Compacted),
            Method("session/subscribe", self.on_session_subscribe, P.SessionIdParams, P.Subscribed,
                   when_broken=True),
            Method("workspace/buffer", self.on_workspace_buffer, P.BufferParams, P.Ok),
        ]

    def _info(self, meta: SessionMeta) -> api.SessionInfo:
        rt = self.app.runtimes.get(meta.id)
        return api.SessionInfo(
            id=meta.id, title=meta.title, workspace=meta.workspace, model=meta.model,
            approval_mode=cast(api.ApprovalMode, meta.approval_mode), created_at=meta.created_at,
            updated_at=meta.updated_at, message_count=meta.message_count,
            parent_id=meta.parent_id, busy=bool(rt and rt.busy),
            role="subagent" if meta.state.get("subagent") else "swarm" if meta.state.get("swarm") else "main")

    async def on_session_create(self, p: api.SessionCreateParams, ctx: CallContext) -> api.SessionInfo:
        """A new session in an existing workspace directory, with its model and mode."""
        app = self.app
        workspace = _workspace_dir(p.workspace)
        if workspace is None:
            raise InvalidParams(f"workspace must be an existing absolute directory: {p.workspace!r}")
        refuse_wider_mode(ctx, p.approval_mode, app.config.permissions.mode)  # S5
        resolved = app.models.resolve(p.model)
        meta = app.sessions.create(workspace=workspace, model=resolved.label,
                                   approval_mode=p.approval_mode or app.config.permissions.mode,
                                   title=p.title or "")
        if p.editor:
            meta.state["editor"] = True
            app.sessions.save_meta(meta)
        return self._info(meta)

    async def on_session_list(self, p: api.SessionListParams, _ctx: CallContext) -> list[api.SessionInfo]:
        """Sessions, newest first, optionally of one workspace."""
        metas = self.app.sessions.list()
        if p.workspace:
            ws = str(Path(p.workspace).expanduser().resolve())  # noqa: ASYNC240 - a few local lstats
            metas = [m for m in metas if m.workspace == ws]
        live = self.app.runtimes
        return [self._info(live[m.id].meta if m.id in live else m) for m in metas[: max(0, p.limit)]]

    async def on_session_get(self, p: api.SessionIdParams, _ctx: CallContext) -> api.SessionDetail:
        """A session's metadata, transcript, todo list and plan mode."""
        rt = self.app.runtime(p.session_id)
        return api.SessionDetail(info=self._info(rt.meta), messages=rt.messages,
                                 summaries=len(rt.transcript.summaries),
                                 todos=list(rt.meta.state.get("todos", [])),
                                 plan_mode=bool(rt.meta.state.get("plan_mode")))

    async def on_session_delete(self, p: api.SessionIdParams, _ctx: CallContext) -> api.Deleted:
        """Delete an idle session and withdraw its pending approvals."""
        rt = self.app.runtimes.get(p.session_id)
        if rt is not None and rt.busy:
            raise Conflict(f"session {p.session_id} is running; cancel it first")
        self.app.sessions.delete(p.session_id)
        self.app.approvals.withdraw_session(p.session_id, by="session deleted")
        self.app.forget(p.session_id)
        return api.Deleted(deleted=True)

    async def on_session_fork(self, p: api.SessionForkParams, _ctx: CallContext) -> api.SessionInfo:
        """A new session with a copy of this one's transcript (up to ``at_message``)."""
        if p.session_id in self.app.runtimes:
            self.app.runtimes[p.session_id].save_meta()
        return self._info(self.app.sessions.fork(p.session_id, p.at_message))

    async def on_session_prompt(self, p: api.PromptParams, ctx: CallContext,
                                ) -> AsyncIterator[api.SessionEventNote | api.PromptResult]:
        """Run the agent on a prompt: the run's events, then its result."""
        if not p.text.strip():
            raise InvalidParams("session/prompt: text must not be empty")
        # C5: the asking user's keys, and only key and Vault variables. A process the agent
        # started gets none: it must not point the daemon's credentials at a server of its
        # choosing, nor have words of its choosing redacted everywhere.
        env = {} if is_agent_process(ctx) else forwarded_env(p.env)
        register(*(v for k, v in env.items() if k not in api.VAULT_SETTINGS))  # secrets from now on
        app = self.app
        rt = app.runtime(p.session_id)
        self._check_can_run(rt)
        refuse_wider_mode(ctx, p.approval_mode or rt.meta.approval_mode, app.config.permissions.mode)
        if p.model:
            rt.meta.model = app.models.resolve(p.model).label  # the session's model from now on
        # The approval mode of a prompt applies to that prompt only.
        runner = run_go if is_go(p.text) else None
        async with contextlib.aclosing(run_stream(app, rt, p.text, ctx, mode=p.approval_mode, env=env,
                                                  runner=runner, detach=p.detach)) as run:
            async for item in run:
                yield item

    async def on_session_resume(self, p: api.SessionIdParams, ctx: CallContext,
                                ) -> AsyncIterator[api.SessionEventNote | api.PromptResult]:
        """Run what an interrupted run left open (S7: nothing, for a finished one)."""
        rt = self.app.runtime(p.session_id)
        self._check_can_run(rt)
        refuse_wider_mode(ctx, rt.meta.approval_mode, self.app.config.permissions.mode)
        if go_active(rt):  # a /go at its gate or executing: it goes on where it is
            async with contextlib.aclosing(self.resume_go(rt, ctx)) as run:
                async for item in run:
                    yield item
            return
        if not has_pending_work(rt.messages):
            # S7: a finished session has nothing to resume; running the model again would
            # start new work (and in auto mode run tools) that nobody asked for.
            yield api.PromptResult(
                session_id=rt.id, stop_reason="nothing_to_resume", steps=0, usage=Usage(),
                text=f"session {rt.id} finished its last run; there is nothing to resume "
                     "(send a new prompt to continue it)")
            return
        async with contextlib.aclosing(run_stream(self.app, rt, None, ctx)) as run:
            async for item in run:
                yield item

    def resume_go(self, rt: SessionRuntime, ctx: CallContext | None = None, *, detached: bool = False,
                  ) -> AsyncGenerator[api.SessionEventNote | api.PromptResult, None]:
        """Continue the session's /go where it is (a resume, or, ``detached``, the daemon
        re-attaching a gate with nobody watching)."""
        ctx = ctx or CallContext(transport="inproc", method="session/resume", principal=f"session:{rt.id}")
        return run_stream(self.app, rt, None, ctx, runner=run_go_detached if detached else run_go)

    def _check_can_run(self, rt: SessionRuntime) -> None:
        if self.app.stopping:
            raise Unavailable("the daemon is shutting down")
        if rt.busy:
            raise Conflict(f"session {rt.id} is already running")
        if not Path(rt.meta.workspace).is_dir():
            raise NotFound(f"the workspace of session {rt.id} is gone: {rt.meta.workspace}")

    async def on_session_cancel(self, p: api.SessionIdParams, _ctx: CallContext) -> api.Cancelled:
        """Cancel the session's run, if it has one (its prompter is answered -32800)."""
        return api.Cancelled(cancelled=self.app.runtime(p.session_id).cancel_run())

    async def on_session_compact(self, p: api.SessionIdParams, _ctx: CallContext) -> api.Compacted:
        """Fold the conversation's older messages into its summary now (``/compact``),
        keeping the recent part; the session must not be running."""
        app = self.app
        rt = app.runtime(p.session_id)
        self._check_can_run(rt)
        async with rt.lock:
            resolved = app.models.resolve(rt.meta.model)
            agent_settings = settings(app, resolved, rt.meta.approval_mode)
            keep = int(agent_settings.context_window * agent_settings.compact_threshold) // 6
            async with app.models.lease(resolved) as provider:
                done = await compact_now(rt, provider, agent_settings, keep_tokens=keep)
            rt.save_meta()
        summary = rt.transcript.latest_summary
        return api.Compacted(compacted=done, summarized_messages=summary.covers if summary and done else 0,
                             summary_chars=len(summary.text) if summary and done else 0)

    async def on_session_subscribe(self, p: api.SessionIdParams, ctx: CallContext) -> api.Subscribed:
        """Watch a session's events on this channel until it closes (drop policy: a
        slow watcher loses events, counted, and never stalls the agent)."""
        rt = self.app.runtime(p.session_id)
        sub = rt.hub.subscribe("drop", maxsize=WATCH_QUEUE)
        pump = asyncio.create_task(_watch(rt, sub, ctx), name=f"watch:{rt.id}")

        def stop() -> None:
            rt.hub.unsubscribe(sub)
            pump.cancel()

        ctx.on_close.append(stop)
        return api.Subscribed(seq=rt.hub.seq)

    async def on_workspace_buffer(self, p: api.BufferParams, _ctx: CallContext) -> api.Ok:
        """An editor's unsaved text for a file (None: closed), read instead of the disk."""
        rt = self.app.runtime(p.session_id)
        path = str(Workspace(rt.meta.workspace).resolve(p.path))  # confined like the tools
        if p.text is None:
            rt.buffers.pop(path, None)
        else:
            rt.buffers[path] = p.text
        return api.Ok()


async def _watch(rt: SessionRuntime, sub: Subscriber, ctx: CallContext) -> None:
    while True:
        seq, event = await sub.queue.get()
        # A channel that watches a session and also runs a prompt in it gets each event
        # once: from the run's own (lossless) subscription.
        if ctx.channel is None or rt.run_connection is not ctx.channel:
            await ctx.emit(api.SessionEventNote(session_id=rt.id, seq=seq, event=event))
