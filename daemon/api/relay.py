"""``relay/*``: the ``/autochat`` relay through the daemon.

``relay/start`` and ``relay/resume`` are streams: ``relay/event`` notes as the relay
moves, then its final checkpoint. The relay itself runs as an app job (``relay:<id>``),
not in the caller's request: **a caller that goes away does not stop it** (a relay is
minutes of agents' work, and ``codetether run "/autochat ..."`` is often a terminal
someone closes); ``relay/status`` and ``relay/resume`` (which attaches to a running one)
find it again, ``relay/cancel`` stops it (resumable). A daemon stopping leaves it
``running`` on disk; ``relay/resume`` goes on after the restart, and so does the daemon
itself when ``[relay] auto_resume = true`` (:func:`resume_unfinished`, called by the
runner once the app has started).

Each turn runs in the profile's own session through the same run path as a prompt
(:func:`._runs.run_stream`); a turn cut short is resumed as ``session/resume`` resumes a
session (what was left open is finished; a tool call that had started is never run
again). See :mod:`codetether.daemon.core.relay` for the checkpoint and exactly-once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncGenerator
from pathlib import Path

import msgspec

from ..app import App
from ..core.approvals import refuse_wider_mode
from ..core.bus import check_topic
from ..core.relay import Relay, RelayStore, ToolSeen, TurnOutcome, new_relay_id
from ..core.sessions import SessionRuntime, has_pending_work
from ..errors import Conflict, InvalidParams, NotFound, Unavailable
from ..wire import api
from ..wire.a2a import Part
from ..wire.bus import AgentMessage
from ..wire.events import ApprovalRequested, ToolCallEnd, ToolCallStart
from ..wire.relay import (
    RelayCheckpoint,
    RelayEventNote,
    RelayIdParams,
    RelayListParams,
    RelayProfile,
    RelayProgress,
    RelayStartParams,
    RelayTurn,
)
from ._context import CallContext
from ._runs import chat_model, run_stream
from ._table import Method

__all__ = ["RelayAPI", "auto_resume_enabled", "relay_topic", "resume_unfinished"]

log = logging.getLogger("codetether.relay")

#: Progress events a watcher may fall behind by; past it the oldest are dropped (counted
#: in the log): a slow watcher never stalls the relay.
WATCH_QUEUE = 1024


def relay_topic(relay_id: str) -> str:
    """``relay.{id}``: a relay's batons, on the bus."""
    return check_topic(f"relay.{relay_id}")


def auto_resume_enabled(app: App) -> bool:
    """``[relay] auto_resume`` (default false), read from the config when it has the
    section (``RelaySection`` in core/config/_schema.py)."""
    section = getattr(app.config, "relay", None)
    return bool(getattr(section, "auto_resume", False))


class _Relays:
    """The relays of one app, whichever API table serves them (one per app, found by
    :func:`_relays`). ``running`` maps a relay id to its task (one task per relay: the
    relay's checkpoint has one writer); ``watchers`` maps it to the queues of the callers
    watching it (None ends a watch)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.store = RelayStore(app.paths.data_dir / "relays")
        self.running: dict[str, asyncio.Task[RelayCheckpoint]] = {}
        self.watchers: dict[str, set[asyncio.Queue[RelayProgress | None]]] = {}

    # -- hooks the relay reports through -------------------------------------------------

    async def progress(self, event: RelayProgress) -> None:
        for queue in self.watchers.get(event.relay_id, ()):
            if queue.qsize() >= WATCH_QUEUE:  # room is kept for the end marker
                queue.get_nowait()
                log.info("relay %s: a slow watcher lost an event", event.relay_id)
            queue.put_nowait(event)

    async def baton(self, cp: RelayCheckpoint, turn: RelayTurn, to: str | None) -> None:
        self.app.recorder.audit.record(
            "relay", "turn", principal=f"relay:{cp.relay_id}", outcome="success",
            resource=turn.profile, relay_id=cp.relay_id, session_id=turn.session_id,
            okr_id=cp.okr_id, okr_run_id=cp.okr_run_id,
            detail={"round": turn.round, "index": turn.index, "tool_calls": turn.tool_calls,
                    "resumed": turn.resumed, "to": to, "stop_reason": cp.stop_reason})
        await self.app.publish(relay_topic(cp.relay_id), AgentMessage(
            to=f"relay:{cp.relay_id}:{to or 'end'}", parts=[Part(text=turn.text)], context_id=cp.relay_id,
            task_id=f"{turn.round}.{turn.index}"), sender_id=f"relay:{cp.relay_id}:{turn.profile}")

    # -- running ---------------------------------------------------------------------------

    def launch(self, cp: RelayCheckpoint, env: dict[str, str]) -> asyncio.Task[RelayCheckpoint]:
        """Run ``cp``'s relay as an app job, unless it runs already."""
        if self.app.stopping:
            raise Unavailable("the daemon is shutting down")
        task = self.running.get(cp.relay_id)
        if task is not None:
            return task
        app = self.app
        relay = Relay(cp, store=self.store, model=chat_model(app, cp.model, env),
                      runner=_SessionTurns(app, cp, env, self), hooks=self,
                      preserve_on_cancel=lambda: app.stopping)
        task = asyncio.create_task(relay.run(), name=f"relay:{cp.relay_id}")
        self.running[cp.relay_id] = task
        app.add_job(task)

        def ended(done: asyncio.Task[RelayCheckpoint]) -> None:
            self.running.pop(cp.relay_id, None)
            for queue in self.watchers.get(cp.relay_id, ()):
                queue.put_nowait(None)
            if not done.cancelled() and done.exception() is not None:
                log.error("relay %s ended with %r", cp.relay_id, done.exception())

        task.add_done_callback(ended)
        return task

    async def watch(self, relay_id: str, task: asyncio.Task[RelayCheckpoint],
                    ) -> AsyncGenerator[RelayEventNote | RelayCheckpoint, None]:
        """The relay's events until it ends, then its checkpoint. Stopping the watch
        leaves the relay running."""
        queue: asyncio.Queue[RelayProgress | None] = asyncio.Queue(WATCH_QUEUE + 1)
        watchers = self.watchers.setdefault(relay_id, set())
        watchers.add(queue)
        try:
            if not task.done():
                while (event := await queue.get()) is not None:
                    yield RelayEventNote(event=event)
            yield self.store.get(relay_id)
        finally:
            watchers.discard(queue)
            if not watchers:
                self.watchers.pop(relay_id, None)

    def shown(self, cp: RelayCheckpoint) -> RelayCheckpoint:
        return msgspec.structs.replace(cp, live=cp.relay_id in self.running)


_BY_APP: weakref.WeakKeyDictionary[App, _Relays] = weakref.WeakKeyDictionary()


def _relays(app: App) -> _Relays:
    found = _BY_APP.get(app)
    if found is None:
        found = _BY_APP[app] = _Relays(app)
    return found


def resume_unfinished(app: App) -> list[str]:
    """Relays a restart cut short (``planning`` or ``running`` on disk), run again when
    ``[relay] auto_resume`` is on; returns their ids. Failed and cancelled relays wait
    for ``relay resume``. Called by the runner once the app has started."""
    if not auto_resume_enabled(app) or app.stopping or app.config_error is not None:
        return []
    relays = _relays(app)
    ids = []
    for cp in relays.store.list():
        if cp.status in ("planning", "running") and cp.relay_id not in relays.running:
            log.info("relay %s: resuming after the restart", cp.relay_id)
            relays.launch(cp, {})
            ids.append(cp.relay_id)
    return ids


class _SessionTurns:
    """The relay's :class:`~codetether.daemon.core.relay.TurnRunner`: a profile's turn is a
    run of its session, as ``session/prompt`` and ``session/resume`` run one."""

    def __init__(self, app: App, cp: RelayCheckpoint, env: dict[str, str], relays: _Relays) -> None:
        self.app = app
        self.relay_id = cp.relay_id
        self.mode = cp.approval_mode
        self.env = env
        self.relays = relays

    async def create_session(self, cp: RelayCheckpoint, profile: RelayProfile) -> str:
        label = self.app.models.resolve(cp.model).label
        meta = self.app.sessions.create(workspace=cp.workspace, model=label, approval_mode=cp.approval_mode,
                                        title=f"relay {cp.relay_id}: {profile.name}")
        meta.state["relay"] = {"id": cp.relay_id, "profile": profile.name,
                               **({"okr_run_id": cp.okr_run_id} if cp.okr_run_id else {})}
        self.app.sessions.save_meta(meta)
        return meta.id

    def message_count(self, session_id: str) -> int:
        return len(self.app.runtime(session_id).messages)

    def prompt_landed(self, session_id: str, prompt_at: int) -> bool:
        return any(m.role == "user" for m in self.app.runtime(session_id).messages[prompt_at:])

    async def send(self, session_id: str, prompt: str, prompt_at: int, on_tool: ToolSeen) -> TurnOutcome:
        return await self._run(self.app.runtime(session_id), prompt, prompt_at, on_tool)

    async def resume(self, session_id: str, prompt_at: int, on_tool: ToolSeen) -> TurnOutcome:
        rt = self.app.runtime(session_id)
        if has_pending_work(rt.messages):
            return await self._run(rt, None, prompt_at, on_tool)
        # The run had finished before the crash: its last reply is the turn's.
        last = next((m.content for m in reversed(rt.messages) if m.role == "assistant"), "")
        return TurnOutcome(last, _tool_calls(rt, prompt_at), "end_turn")

    async def _run(self, rt: SessionRuntime, text: str | None, prompt_at: int, on_tool: ToolSeen) -> TurnOutcome:
        if rt.busy:
            raise Conflict(f"session {rt.id} of relay {self.relay_id} is already running")
        if not Path(rt.meta.workspace).is_dir():  # noqa: ASYNC240 - one local stat
            raise NotFound(f"the workspace of relay {self.relay_id} is gone: {rt.meta.workspace}")
        call = CallContext(transport="inproc", method="session/prompt", principal=f"relay:{self.relay_id}")
        result: api.PromptResult | None = None
        async with contextlib.aclosing(run_stream(self.app, rt, text, call, mode=self.mode,
                                                  env=self.env)) as run:
            async for item in run:
                if isinstance(item, api.PromptResult):
                    result = item
                    continue
                event = item.event
                if isinstance(event, (ToolCallStart, ToolCallEnd)) and "." not in event.call_id:
                    await on_tool(event.name, isinstance(event, ToolCallEnd))
                elif isinstance(event, ApprovalRequested):
                    await self.relays.progress(RelayProgress(
                        relay_id=self.relay_id, phase="approval", profile=rt.meta.state["relay"]["profile"],
                        detail=f"{event.approval_id} {event.tool} {event.subject}", ts=time.time()))
        assert result is not None
        return TurnOutcome(result.text, _tool_calls(rt, prompt_at), result.stop_reason)


def _tool_calls(rt: SessionRuntime, since: int) -> int:
    """Tool calls the session's model made from message ``since`` on (from the durable
    transcript, so a turn finished after a crash counts the same)."""
    return sum(len(m.tool_calls) for m in rt.messages[since:] if m.role == "assistant")


class RelayAPI:
    """Start, resume, watch, list and cancel relays (see the module docstring)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.relays = _relays(app)

    def methods(self) -> list[Method]:
        """The ``relay/*`` methods this domain serves."""
        return [
            Method("relay/start", self.on_relay_start, RelayStartParams, RelayCheckpoint, streaming=True),
            Method("relay/resume", self.on_relay_resume, RelayIdParams, RelayCheckpoint, streaming=True),
            Method("relay/status", self.on_relay_status, RelayIdParams, RelayCheckpoint, when_broken=True),
            Method("relay/list", self.on_relay_list, RelayListParams, list[RelayCheckpoint], when_broken=True),
            Method("relay/cancel", self.on_relay_cancel, RelayIdParams, api.Cancelled, when_broken=True),
        ]

    async def on_relay_start(self, p: RelayStartParams, ctx: CallContext,
                             ) -> AsyncGenerator[RelayEventNote | RelayCheckpoint, None]:
        """Pick the specialists and run the relay (a stream; the relay outlives it)."""
        workspace = Path(p.workspace).expanduser()  # noqa: ASYNC240 - no I/O ($HOME from the environment)
        if not workspace.is_absolute() or not workspace.is_dir():
            raise InvalidParams(f"workspace {p.workspace!r} is not an existing absolute directory",
                                data={"field": "workspace"})
        config = self.app.config
        refuse_wider_mode(ctx, p.approval_mode, config.permissions.mode)
        if p.model:
            self.app.models.resolve(p.model)  # an unknown model fails now, not mid-relay
        now = time.time()
        cp = RelayCheckpoint(
            relay_id=new_relay_id(), task=p.task, workspace=str(workspace.resolve()), agents=p.agents,
            max_rounds=p.max_rounds, approval_mode=p.approval_mode or config.permissions.mode,
            model=p.model, okr_id=p.okr_id, okr_run_id=p.okr_run_id, created_at=now, updated_at=now)
        self.relays.store.save(cp)
        self.app.recorder.audit.record("relay", "start", principal=ctx.principal or "local", outcome="success",
                                       relay_id=cp.relay_id, okr_id=p.okr_id, okr_run_id=p.okr_run_id,
                                       detail={"agents": p.agents, "max_rounds": p.max_rounds})
        task = self.relays.launch(cp, p.env)
        async for item in self.relays.watch(cp.relay_id, task):
            yield item

    async def on_relay_resume(self, p: RelayIdParams, ctx: CallContext,
                              ) -> AsyncGenerator[RelayEventNote | RelayCheckpoint, None]:
        """Go on with a relay from its checkpoint (a stream): one that is running is
        watched, a completed one is answered as it is."""
        cp = self.relays.store.get(p.relay_id)
        if cp.status == "completed":
            yield self.relays.shown(cp)
            return
        refuse_wider_mode(ctx, cp.approval_mode, self.app.config.permissions.mode)
        task = self.relays.launch(cp, p.env)
        async for item in self.relays.watch(cp.relay_id, task):
            yield item

    async def on_relay_status(self, p: RelayIdParams, _ctx: CallContext) -> RelayCheckpoint:
        """A relay's last checkpoint (``live``: running in this daemon now)."""
        return self.relays.shown(self.relays.store.get(p.relay_id))

    async def on_relay_list(self, p: RelayListParams, _ctx: CallContext) -> list[RelayCheckpoint]:
        """Relays, newest first."""
        return [self.relays.shown(cp) for cp in self.relays.store.list()[: p.limit]]

    async def on_relay_cancel(self, p: RelayIdParams, _ctx: CallContext) -> api.Cancelled:
        """Stop a running relay (its checkpoint says ``cancelled``; resumable)."""
        task = self.relays.running.get(p.relay_id)
        if task is None:
            self.relays.store.get(p.relay_id)  # NotFound for an unknown id
            return api.Cancelled(cancelled=False)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(asyncio.wait([task]))
        return api.Cancelled(cancelled=True)
