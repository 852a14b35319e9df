"""The daemon's one request handler: ``on_<method>(params, ctx)`` for every API method.

Transports call these through the JSON-RPC dispatcher and nothing else; any
business logic a transport would need belongs here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Any

import msgspec

from .. import __version__
from ..core.agent import Agent, AgentSettings, expand_mentions
from ..core.approvals import ApprovalStore, is_agent_process, refuse_agent_processes, refuse_wider_mode
from ..core.config import LoadedConfig, config_as_dict, set_config_value
from ..core.config._guards import has_pending_work, misplaced_config, refuse_while_config_broken
from ..core.providers._models import ModelResolver, ResolvedModel, check_model
from ..core.records import Recorder
from ..core.secrets import register
from ..core.sessions import FileWatcher, MemorySessionStore, SessionMeta, SessionRuntime, SessionStore
from ..core.tools import ShellLimits, Workspace, default_registry
from ..errors import ConfigError, Conflict, InvalidParams, NotFound, Unavailable
from ..paths import Paths
from ..rpc import CallContext, Dispatcher
from ..wire import api
from ..wire.api import forwarded_env
from ..wire.events import Notice
from ..wire.messages import Usage
from ._records_legacy import RecordsAPI

__all__ = ["Service"]

log = logging.getLogger("codetether.service")

_enc = msgspec.json.Encoder()



class Service:
    """Owns the long-lived state. ``runtimes`` caches live sessions by id (loaded on
    first use); ``stopping`` tells runs cancelled by shutdown to leave their pending
    tool calls for a resume instead of closing them."""

    def __init__(self, paths: Paths, loaded: LoadedConfig, models: ModelResolver, *,
                 config_error: ConfigError | None = None) -> None:
        self.paths = paths
        self.loaded = loaded
        #: Set while config.toml does not load (at start or on a reload). Fail closed: every
        #: method but status, shutdown and config/get answers this error until the file loads.
        self.config_error: ConfigError | None = config_error
        self.models = models
        # auto_save is read at start-up: switching stores under live sessions would lose them.
        self.sessions: SessionStore = (SessionStore(paths.sessions_dir)
                                       if loaded.config.session.auto_save else MemorySessionStore())
        self.approvals = ApprovalStore(paths.approvals_dir)
        self.tools = _registry(loaded.config)
        self.recorder = Recorder(paths.data_dir, loaded.config)
        self.runtimes: dict[str, SessionRuntime] = {}
        self.watcher = FileWatcher(self)
        self.started = time.time()
        self._where = (str(paths.socket), str(paths.data_dir), str(paths.config_file))
        self.stopping = False
        self.shutdown_requested: asyncio.Event = asyncio.Event()

    @property
    def config(self):  # type: ignore[no-untyped-def]
        return self.loaded.config

    def register(self, dispatcher: Dispatcher) -> None:
        dispatcher.observers.append(self.recorder.on_call)
        table: list[tuple[str, Any, type | None]] = [
            ("daemon/status", self.on_daemon_status, api.Empty),
            ("daemon/shutdown", self.on_daemon_shutdown, api.Empty),
            ("session/create", self.on_session_create, api.SessionCreateParams),
            ("session/list", self.on_session_list, api.SessionListParams),
            ("session/get", self.on_session_get, api.SessionIdParams),
            ("session/delete", self.on_session_delete, api.SessionIdParams),
            ("session/fork", self.on_session_fork, api.SessionForkParams),
            ("session/prompt", self.on_session_prompt, api.PromptParams),
            ("session/resume", self.on_session_resume, api.SessionIdParams),
            ("session/cancel", self.on_session_cancel, api.SessionIdParams),
            ("session/subscribe", self.on_session_subscribe, api.SessionIdParams),
            ("approval/list", self.on_approval_list, api.ApprovalListParams),
            ("approval/decide", self.on_approval_decide, api.ApprovalDecideParams),
            ("question/answer", self.on_question_answer, api.QuestionAnswerParams),
            ("workspace/buffer", self.on_workspace_buffer, api.BufferParams),
            ("models/list", self.on_models_list, api.Empty),
            ("tools/list", self.on_tools_list, api.Empty),
            ("config/get", self.on_config_get, api.Empty),
            ("config/set", self.on_config_set, api.ConfigSetParams),
        ]
        for name, handler, params in table:
            dispatcher.add(name, self._guarded(name, handler), params)
        RecordsAPI(self).register(dispatcher, guard=self._guarded)

    def _guarded(self, name: str, handler: Any) -> Any:
        return refuse_while_config_broken(name, handler, lambda: self.config_error)

    def config_failed(self, error: ConfigError) -> None:
        """config.toml no longer loads: refuse to act until it does (S2)."""
        self.config_error = error

    # -- daemon -------------------------------------------------------------------------

    async def on_daemon_status(self, _p: api.Empty, _ctx: CallContext) -> api.DaemonStatus:
        c = self.config
        return api.DaemonStatus(
            version=__version__, pid=os.getpid(), uptime_s=time.time() - self.started,
            socket=self._where[0], data_dir=self._where[1], config_file=self._where[2],
            default_model=f"{c.default.provider}/{c.default.model}",
            sessions_loaded=len(self.runtimes),
            runs_active=sum(1 for r in self.runtimes.values() if r.busy),
            config_warnings=[*self.loaded.warnings, *misplaced_config(self.paths)],
            health=(health := self._health()),
            config_error=self.config_error.message if self.config_error else None,
            stopping=self.stopping,
            degraded=not all(part["ok"] for part in health.values()))

    def _health(self) -> dict[str, Any]:
        ok, error = self.sessions.health()
        return {"sessions": {"ok": ok, "error": error}, **self.recorder.health()}

    async def on_daemon_shutdown(self, _p: api.Empty, _ctx: CallContext) -> dict[str, bool]:
        self.shutdown_requested.set()
        return {"ok": True}

    # -- sessions -------------------------------------------------------------------------

    def _info(self, meta: SessionMeta) -> api.SessionInfo:
        rt = self.runtimes.get(meta.id)
        return api.SessionInfo(
            id=meta.id, title=meta.title, workspace=meta.workspace, model=meta.model,
            approval_mode=meta.approval_mode, created_at=meta.created_at,  # type: ignore[arg-type]
            updated_at=meta.updated_at, message_count=meta.message_count,
            parent_id=meta.parent_id, busy=bool(rt and rt.busy))

    def runtime(self, session_id: str) -> SessionRuntime:
        rt = self.runtimes.get(session_id)
        if rt is None:
            rt = SessionRuntime(self.sessions.get(session_id), self.sessions)
            rt.hub.on_publish = lambda seq, event, rt=rt: self.recorder.on_event(
                rt.id, rt.meta.model, seq, event)
            self.runtimes[session_id] = rt
            if rt.meta.read_files:  # watch only what the agent has actually read
                self.watcher.track(rt)
        return rt

    async def on_session_create(self, p: api.SessionCreateParams, ctx: CallContext) -> api.SessionInfo:
        workspace = Path(p.workspace).expanduser()  # noqa: ASYNC240 - no I/O ($HOME from the environment)
        if not workspace.is_absolute() or not workspace.is_dir():
            raise InvalidParams(f"workspace must be an existing absolute directory: {p.workspace!r}")
        refuse_wider_mode(ctx, p.approval_mode, self.config.permissions.mode)  # S5
        resolved = self.models.resolve(p.model)
        meta = self.sessions.create(workspace=str(workspace.resolve()), model=resolved.label,
                                    approval_mode=p.approval_mode or self.config.permissions.mode,
                                    title=p.title or "")
        if p.editor:
            meta.state["editor"] = True
            self.sessions.save_meta(meta)
        return self._info(meta)

    async def on_session_list(self, p: api.SessionListParams, _ctx: CallContext) -> list[api.SessionInfo]:
        metas = self.sessions.list()
        if p.workspace:
            ws = str(Path(p.workspace).expanduser().resolve())  # noqa: ASYNC240 - a few local lstats
            metas = [m for m in metas if m.workspace == ws]
        return [self._info(self.runtimes[m.id].meta if m.id in self.runtimes else m)
                for m in metas[: max(0, p.limit)]]

    async def on_session_get(self, p: api.SessionIdParams, _ctx: CallContext) -> api.SessionDetail:
        rt = self.runtime(p.session_id)
        return api.SessionDetail(info=self._info(rt.meta), messages=rt.messages,
                                 summaries=len(rt.transcript.summaries),
                                 todos=list(rt.meta.state.get("todos", [])),
                                 plan_mode=bool(rt.meta.state.get("plan_mode")))

    async def on_session_delete(self, p: api.SessionIdParams, _ctx: CallContext) -> dict[str, bool]:
        rt = self.runtimes.get(p.session_id)
        if rt is not None and rt.busy:
            raise Conflict(f"session {p.session_id} is running; cancel it first")
        self.sessions.delete(p.session_id)
        self.approvals.withdraw_session(p.session_id, by="session deleted")
        if rt is not None:
            self.watcher.untrack(rt)
            del self.runtimes[p.session_id]
        return {"deleted": True}

    async def on_session_fork(self, p: api.SessionForkParams, _ctx: CallContext) -> api.SessionInfo:
        if p.session_id in self.runtimes:
            self.runtimes[p.session_id].save_meta()
        return self._info(self.sessions.fork(p.session_id, p.at_message))

    async def on_session_prompt(self, p: api.PromptParams, ctx: CallContext) -> api.PromptResult:
        if not p.text.strip():
            raise InvalidParams("session/prompt: text must not be empty")
        # C5: the asking user's keys, and only key and Vault variables. A process the agent
        # started gets none: it must not point the daemon's credentials at a server of its
        # choosing, nor have words of its choosing redacted everywhere.
        env = {} if is_agent_process(ctx) else forwarded_env(p.env)
        register(*(v for k, v in env.items() if k not in api.VAULT_SETTINGS))  # secrets from now on
        rt = self.runtime(p.session_id)
        self._check_can_run(rt)
        refuse_wider_mode(ctx, p.approval_mode or rt.meta.approval_mode, self.config.permissions.mode)
        if p.model:
            rt.meta.model = self.models.resolve(p.model).label  # the session's model from now on
        # The approval mode of a prompt applies to that prompt only.
        return await self._run(rt, p.text, ctx, mode=p.approval_mode, env=env)

    async def on_session_resume(self, p: api.SessionIdParams, ctx: CallContext) -> api.PromptResult:
        rt = self.runtime(p.session_id)
        self._check_can_run(rt)
        refuse_wider_mode(ctx, rt.meta.approval_mode, self.config.permissions.mode)
        if not has_pending_work(rt.messages):
            # S7: a finished session has nothing to resume; running the model again would
            # start new work (and in auto mode run tools) that nobody asked for.
            return api.PromptResult(
                session_id=rt.id, stop_reason="nothing_to_resume", steps=0, usage=Usage(),
                text=f"session {rt.id} finished its last run; there is nothing to resume "
                     "(send a new prompt to continue it)")
        return await self._run(rt, None, ctx)

    def _check_can_run(self, rt: SessionRuntime) -> None:
        if self.stopping:
            raise Unavailable("the daemon is shutting down")
        if rt.busy:
            raise Conflict(f"session {rt.id} is already running")
        if not Path(rt.meta.workspace).is_dir():
            raise NotFound(f"the workspace of session {rt.id} is gone: {rt.meta.workspace}")

    async def _run(self, rt: SessionRuntime, text: str | None, ctx: CallContext,
                   mode: str | None = None, env: dict[str, str] | None = None) -> api.PromptResult:
        async with rt.lock:
            rt.run_task = asyncio.current_task()  # first: session/cancel must reach it at once
            rt.run_connection = ctx.connection
            sub = rt.hub.subscribe("block", maxsize=256)
            pump = asyncio.create_task(_pump(rt, sub, ctx), name=f"pump:{rt.id}:{ctx.connection.name}")
            try:
                notices = misplaced_config(self.paths)
                if text is not None:
                    text, refused = expand_mentions(text, Workspace(rt.meta.workspace), rt.remember_file)
                    notices += refused
                for notice in notices:
                    await rt.emit(Notice(text=notice))
                resolved = self.models.resolve(rt.meta.model)
                async with self.models.lease(resolved, env) as provider:
                    agent = Agent(rt, provider, self.tools, self.approvals,
                                  self._settings(resolved, mode or rt.meta.approval_mode))
                    return await agent.run(text, preserve_on_cancel=lambda: self.stopping)
            finally:
                rt.run_task = None
                # Every event of the run, its error or cancellation included, reaches the
                # client before the response does (bounded: the client may be gone).
                await asyncio.shield(_drained(sub, ctx, timeout=2.0))
                rt.hub.unsubscribe(sub)
                rt.run_connection = None
                pump.cancel()
                await asyncio.gather(pump, return_exceptions=True)
                if rt.meta.read_files:
                    self.watcher.track(rt)

    def _settings(self, resolved: ResolvedModel, mode: str) -> AgentSettings:
        s, t = self.config.session, self.config.tools
        return AgentSettings(
            model=resolved.model, model_label=resolved.label,
            context_window=resolved.context_window, max_steps=s.max_steps,
            tool_output_budget=s.tool_output_budget, compact_threshold=s.compact_threshold,
            mode=mode, rules=self.config.permissions.rules,
            tool_settings={k: v for k, v in (("websearch_url", t.websearch_url),
                                             ("bash_timeout", t.bash_timeout),
                                             ("bash_max_output", t.bash_max_output)) if v})

    async def on_session_cancel(self, p: api.SessionIdParams, _ctx: CallContext) -> dict[str, bool]:
        rt = self.runtime(p.session_id)
        if rt.run_task is None:
            return {"cancelled": False}
        rt.run_task.cancel()
        return {"cancelled": True}

    async def on_session_subscribe(self, p: api.SessionIdParams, ctx: CallContext) -> dict[str, int]:
        """Watch a session's events on this connection until it closes (drop policy)."""
        rt = self.runtime(p.session_id)
        sub = rt.hub.subscribe("drop")
        pump = asyncio.create_task(_pump(rt, sub, ctx, watcher=True),
                                   name=f"watch:{rt.id}:{ctx.connection.name}")

        def stop() -> None:
            rt.hub.unsubscribe(sub)
            pump.cancel()

        ctx.connection.on_close.append(stop)
        return {"seq": rt.hub.seq}

    # -- approvals and questions -------------------------------------------------------

    async def on_approval_list(self, p: api.ApprovalListParams, _ctx: CallContext) -> list[api.ApprovalRecord]:
        return self.approvals.list(p.session_id, include_decided=p.include_decided)

    async def on_approval_decide(self, p: api.ApprovalDecideParams, ctx: CallContext) -> api.ApprovalRecord:
        refuse_agent_processes(ctx, "decide approvals")
        by = f"uid:{ctx.peer['uid']}" if "uid" in ctx.peer else "client"
        return self.approvals.decide(p.approval_id, p.decision, by=by, reason=p.reason,
                                     applied=p.applied)

    async def on_workspace_buffer(self, p: api.BufferParams, _ctx: CallContext) -> dict[str, bool]:
        rt = self.runtime(p.session_id)
        path = str(Workspace(rt.meta.workspace).resolve(p.path))  # confined like the tools
        if p.text is None:
            rt.buffers.pop(path, None)
        else:
            rt.buffers[path] = p.text
        return {"ok": True}

    async def on_question_answer(self, p: api.QuestionAnswerParams, _ctx: CallContext) -> dict[str, bool]:
        for rt in self.runtimes.values():
            if rt.has_question(p.question_id):
                rt.answer(p.question_id, p.answer)
                return {"answered": True}
        raise NotFound(f"no open question {p.question_id!r}")

    # -- catalogue and config ----------------------------------------------------------

    async def on_models_list(self, _p: api.Empty, _ctx: CallContext) -> list[api.ModelEntry]:
        return self.models.list_models()

    async def on_tools_list(self, _p: api.Empty, _ctx: CallContext) -> list[api.ToolEntry]:
        return [api.ToolEntry(name=t.name, description=t.description, read_only=t.read_only,
                              parameters=t.schema()) for t in self.tools]

    async def on_config_get(self, _p: api.Empty, _ctx: CallContext) -> dict[str, Any]:
        return {"path": str(self.paths.config_file), "config": config_as_dict(self.config),
                "warnings": list(self.loaded.warnings)}

    async def on_config_set(self, p: api.ConfigSetParams, ctx: CallContext) -> dict[str, Any]:
        refuse_agent_processes(ctx, "change the configuration")
        def runnable(config: Any) -> None:  # C10: never switch to a model that cannot run
            if p.key.startswith(("default.", "providers.")):
                check_model(f"{config.default.provider}/{config.default.model}", config)

        await self.apply_config(set_config_value(self.paths.config_file, p.key, p.value, runnable))
        return await self.on_config_get(api.Empty(), ctx)

    async def apply_config(self, loaded: LoadedConfig) -> None:
        from ..core.secrets import SecretStore  # deferred with hvac behind it

        self.loaded = loaded
        self.config_error = None
        await self.models.reconfigure(loaded.config, SecretStore(loaded.config.secrets))
        self.recorder.configure(loaded.config)
        self.tools = _registry(loaded.config)  # runs in flight keep the registry they started with
        for warning in loaded.warnings:
            log.warning("%s", warning)

    async def aclose(self) -> None:
        await self.watcher.aclose()
        for rt in self.runtimes.values():
            rt.save_meta()
        self.sessions.close()
        await self.models.aclose()
        self.recorder.close()


def _registry(config: Any) -> Any:
    t = config.tools
    return default_registry(shell_limits=ShellLimits(
        address_space=t.bash_memory_mb << 20, file_size=t.bash_file_size_mb << 20,
        max_processes=t.bash_max_processes, output_chars=t.bash_max_output))


async def _pump(rt: SessionRuntime, sub: Any, ctx: CallContext, *, watcher: bool = False) -> None:
    while True:
        seq, event = await sub.queue.get()
        try:
            # A connection that watches a session and also runs a prompt in it gets each
            # event once: from the run's own (lossless) subscription.
            if not (watcher and rt.run_connection is ctx.connection):
                await ctx.notify("session/event", {"session_id": rt.id, "seq": seq, "event": event})
        finally:
            sub.queue.task_done()


async def _drained(sub: Any, ctx: CallContext, timeout: float) -> None:
    """Wait until the pump has sent every queued event, the client is gone, or ``timeout``."""
    join = asyncio.ensure_future(sub.queue.join())
    closed = asyncio.ensure_future(ctx.connection.closed.wait())
    try:
        await asyncio.wait([join, closed], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        join.cancel()
        closed.cancel()
        await asyncio.gather(join, closed, return_exceptions=True)
