"""A2A 1.0's methods (JSON-RPC names) over the task manager, for the HTTP and gRPC transports.

Each task runs as an agent session through the same handlers the Unix socket serves
(``session/create``, ``session/prompt``): :class:`_Sessions` is the task manager's way
into them, so an A2A run is audited, redacted, cancelled and shut down like any other.
A run outlives the request that started it (``returnImmediately``, a client that
stops reading a stream): its context is the task's own, with the caller's principal.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncGenerator
from typing import Any, cast

from ..app import App
from ..core.tasks import (
    AgentSessions,
    ConformanceSessions,
    PushDelivery,
    SqliteTaskStore,
    TaskManager,
    TaskStore,
    conformance_enabled,
)
from ..wire import a2a
from ..wire import api as P
from ._card import agent_card
from ._context import CallContext
from ._subagents import SubagentRunner
from ._table import API, Method
from .sessions import SessionsAPI

__all__ = ["A2AAPI", "build_a2a_api"]

#: The principal a task's run acts as (the transports authenticate the bearer token).
RUN_PRINCIPAL = "a2a:bearer"
#: Seconds a task waits for its session's previous run to let go of it.
SESSION_WAIT = 5.0


class _Sessions:
    """:class:`~codetether.daemon.core.tasks.AgentSessions` over the socket's own handlers."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.api = SessionsAPI(app)

    def _ctx(self, method: str) -> CallContext:
        return CallContext(transport="inproc", method=method, principal=RUN_PRINCIPAL)

    async def create(self, workspace: str, mode: str, title: str) -> str:
        """A new session (``session/create``)."""
        info = await self.api.on_session_create(P.SessionCreateParams(
            workspace=workspace, approval_mode=cast(P.ApprovalMode, mode), title=title),
            self._ctx("session/create"))
        return info.id

    async def prompt(self, session_id: str, text: str, mode: str,
                     ) -> AsyncGenerator[P.SessionEventNote | P.PromptResult, None]:
        """Run the agent (``session/prompt``) with the task's approval mode."""
        rt = self.app.runtime(session_id)
        if rt.busy:  # the context's previous run, its end announced, may be freeing it now
            async with asyncio.timeout(SESSION_WAIT), rt.lock:
                pass
        params = P.PromptParams(session_id=session_id, text=text, approval_mode=cast(P.ApprovalMode, mode))
        # on_session_prompt is an async generator (typed as the iterator it is used as).
        items = cast(AsyncGenerator[P.SessionEventNote | P.PromptResult, None],
                     self.api.on_session_prompt(params, self._ctx("session/prompt")))
        async with contextlib.aclosing(items) as run:
            async for item in run:
                yield item

    def answer(self, session_id: str, question_id: str, text: str) -> None:
        """Answer the agent's question (what ``question/answer`` does)."""
        self.app.runtime(session_id).answer(question_id, text)

    def deny(self, approval_id: str, reason: str) -> None:
        """Deny an approval nobody can give (what ``approval/decide`` does)."""
        self.app.approvals.decide(approval_id, "deny", by=RUN_PRINCIPAL, reason=reason)

    def cancel(self, session_id: str) -> bool:
        """Cancel the session's run (``session/cancel``)."""
        return self.app.runtime(session_id).cancel_run()


class A2AAPI:
    """The A2A methods, the card, and the task manager they share (closed by
    :meth:`aclose`, before the app closes)."""

    def __init__(self, app: App, *, store: TaskStore | None = None, conformance: bool | None = None) -> None:
        self.app = app
        self.push = PushDelivery(lambda: list(app.config.a2a.push_allow), app.recorder.audit)
        # The TCK's scripted agent instead of the real one: only when asked for (env or argument).
        scripted = conformance_enabled() if conformance is None else conformance
        sessions: AgentSessions = ConformanceSessions() if scripted else _Sessions(app)
        self.manager = TaskManager(store or SqliteTaskStore(app.paths.data_dir / "tasks" / "tasks.db"),
                                   sessions, lambda: app.config.a2a, push=self.push, conformance=scripted)

    def methods(self) -> list[Method]:
        """This domain's rows of the method table."""
        return [
            Method("SendMessage", self.on_send_message, a2a.SendMessageRequest, a2a.SendMessageResponse),
            Method("SendStreamingMessage", self.on_send_streaming_message, a2a.SendMessageRequest, None,
                   streaming=True),
            Method("GetTask", self.on_get_task, a2a.GetTaskRequest, a2a.Task),
            Method("ListTasks", self.on_list_tasks, a2a.ListTasksRequest, a2a.ListTasksResponse),
            Method("CancelTask", self.on_cancel_task, a2a.CancelTaskRequest, a2a.Task, when_broken=True),
            Method("SubscribeToTask", self.on_subscribe_to_task, a2a.SubscribeToTaskRequest, None,
                   streaming=True, when_broken=True),
            Method("CreateTaskPushNotificationConfig", self.on_create_push_config,
                   a2a.TaskPushNotificationConfig, a2a.TaskPushNotificationConfig),
            Method("GetTaskPushNotificationConfig", self.on_get_push_config,
                   a2a.GetTaskPushNotificationConfigRequest, a2a.TaskPushNotificationConfig),
            Method("ListTaskPushNotificationConfigs", self.on_list_push_configs,
                   a2a.ListTaskPushNotificationConfigsRequest, a2a.ListTaskPushNotificationConfigsResponse),
            Method("DeleteTaskPushNotificationConfig", self.on_delete_push_config,
                   a2a.DeleteTaskPushNotificationConfigRequest, P.Empty),
            Method("GetExtendedAgentCard", self.on_get_extended_agent_card,
                   a2a.GetExtendedAgentCardRequest, a2a.AgentCard, when_broken=True),
            Method("GetAgentCard", self.on_get_agent_card, P.Empty, a2a.AgentCard, when_broken=True),
        ]

    async def on_send_message(self, p: a2a.SendMessageRequest, ctx: CallContext) -> a2a.SendMessageResponse:
        """Start a task (or answer one waiting for input); the task once it ends or
        waits, or at once with ``returnImmediately``."""
        result = await self.manager.send(p, ctx.principal)
        if isinstance(result, a2a.Message):
            return a2a.SendMessageResponse(message=result)
        return a2a.SendMessageResponse(task=result)

    async def on_send_streaming_message(self, p: a2a.SendMessageRequest, ctx: CallContext,
                                        ) -> AsyncGenerator[a2a.StreamResponse, None]:
        """Start (or continue) a task: the task, then its updates until it ends or waits."""
        async with contextlib.aclosing(self.manager.stream(p, ctx.principal)) as items:
            async for item in items:
                yield item

    async def on_get_task(self, p: a2a.GetTaskRequest, _ctx: CallContext) -> a2a.Task:
        """A task as it is now, its history cut to ``historyLength``."""
        return await self.manager.get(p.id, p.history_length)

    async def on_list_tasks(self, p: a2a.ListTasksRequest, _ctx: CallContext) -> a2a.ListTasksResponse:
        """Tasks, newest status first, filtered and paged."""
        return await self.manager.list(p)

    async def on_cancel_task(self, p: a2a.CancelTaskRequest, _ctx: CallContext) -> a2a.Task:
        """Cancel a task's run; the task once it has ended."""
        return await self.manager.cancel(p.id)

    async def on_subscribe_to_task(self, p: a2a.SubscribeToTaskRequest, _ctx: CallContext,
                                   ) -> AsyncGenerator[a2a.StreamResponse, None]:
        """A running task now, then its updates until it ends."""
        async with contextlib.aclosing(self.manager.subscribe(p.id)) as items:
            async for item in items:
                yield item

    async def on_create_push_config(self, p: a2a.TaskPushNotificationConfig, _ctx: CallContext,
                                    ) -> a2a.TaskPushNotificationConfig:
        """Add a webhook to a task (its URL checked against ``[a2a] push_allow``)."""
        return await self.manager.create_push(p)

    async def on_get_push_config(self, p: a2a.GetTaskPushNotificationConfigRequest, _ctx: CallContext,
                                 ) -> a2a.TaskPushNotificationConfig:
        """One webhook of a task."""
        return await self.manager.get_push(p.task_id, p.id)

    async def on_list_push_configs(self, p: a2a.ListTaskPushNotificationConfigsRequest, _ctx: CallContext,
                                   ) -> a2a.ListTaskPushNotificationConfigsResponse:
        """Every webhook of a task."""
        return await self.manager.list_push(p.task_id)

    async def on_delete_push_config(self, p: a2a.DeleteTaskPushNotificationConfigRequest,
                                    _ctx: CallContext) -> P.Empty:
        """Remove a webhook of a task."""
        await self.manager.delete_push(p.task_id, p.id)
        return P.Empty()

    def card(self, *, extended: bool = False) -> a2a.AgentCard:
        """The agent card, with the interfaces the runner put on ``app.endpoints``."""
        endpoints: dict[str, str] = getattr(self.app, "endpoints", {}) or {}
        settings = self.app.config.a2a
        return agent_card(settings, endpoints, extended=extended, mode=settings.approval_mode,
                          workspace=settings.workspace or os.getcwd())

    async def on_get_agent_card(self, _p: P.Empty, _ctx: CallContext) -> a2a.AgentCard:
        """The public card (the HTTP transport serves it at ``/.well-known/agent-card.json``)."""
        return self.card()

    async def on_get_extended_agent_card(self, _p: a2a.GetExtendedAgentCardRequest, _ctx: CallContext,
                                         ) -> a2a.AgentCard:
        """The card for an authenticated caller: the public one plus how tasks run."""
        return self.card(extended=True)

    def stats(self) -> dict[str, Any]:
        """Tasks running, readers cut off, pushes delivered/failed/dropped."""
        return {**self.manager.stats(), "push": self.push.stats()}

    async def aclose(self) -> None:
        """Cancel running tasks, stop push delivery, close the store."""
        await self.manager.aclose()


def build_a2a_api(app: App, a2a_api: A2AAPI | None = None) -> API:
    """A table of the A2A methods only (what the HTTP and gRPC transports serve), audited
    by the app's recorder and refusing work while config.toml does not load. Pass the
    :class:`A2AAPI` to share its task manager between tables (and to close it)."""
    table = API(config_error=lambda: app.config_error)
    table.observers.append(app.recorder.on_call)
    SubagentRunner.install(app)  # a task's agent may start children too
    for method in (a2a_api or A2AAPI(app)).methods():
        table.add(method)
    return table
