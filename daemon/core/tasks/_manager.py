"""The task manager: A2A's operations over agent sessions and the task store.

A message without a taskId starts a task in its context (contextId; a new one when
the message names none). A context is served by one agent session, created in
``[a2a] workspace`` (or the daemon's directory) by its first task and continued by
every later one, so a follow-up sees the earlier turns. One task runs per context at
a time: a second is :class:`Conflict` while the first is unfinished. A message with
the taskId of an INPUT_REQUIRED task answers the agent's question and the same run
goes on; with a terminal task's id it is :class:`UnsupportedOperation`.

``_live`` holds the tasks whose run is in this process, by id (the run task removes
its entry when it ends); ``_by_context`` the unfinished task of each context.
``_ready`` guards the one-time recovery: a task left unfinished by a daemon that
stopped cannot go on (its run died with it) and is marked FAILED on first use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any

import msgspec

from ...errors import (
    Conflict,
    InvalidParams,
    TaskNotCancelable,
    TaskNotFound,
    Unavailable,
    UnsupportedOperation,
)
from ...wire import a2a
from ..config import A2ASection
from ._conformance import ConformanceRun, direct_reply
from ._convert import TERMINAL_STATES, epoch, prompt_text, to_record_status, to_task
from ._ids import new_id
from ._live import LiveTask, Subscription
from ._push import PushDelivery
from ._run import AgentSessions, TaskRun, stamp
from ._store import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PushConfigRecord, TaskQuery, TaskRecord, TaskStore

__all__ = ["TaskManager"]

log = logging.getLogger("codetether.tasks")

#: Seconds CancelTask waits for the run to end before answering with the task as it is.
CANCEL_WAIT = 5.0


class TaskManager:
    """A2A's task operations (see the module docstring for what its maps guard)."""

    def __init__(self, store: TaskStore, sessions: AgentSessions, settings: Callable[[], A2ASection],
                 *, push: PushDelivery | None = None, conformance: bool = False) -> None:
        self.store = store
        self.sessions = sessions
        self.settings = settings
        self.push = push
        self.conformance = conformance
        self._live: dict[str, LiveTask] = {}
        self._by_context: dict[str, str] = {}
        self._ready = asyncio.Lock()
        self._recovered = False
        self._closed = False

    # -- SendMessage / SendStreamingMessage -------------------------------------------

    async def send(self, request: a2a.SendMessageRequest, principal: str) -> a2a.Task | a2a.Message:
        """Start or continue a task; answer when it ends or waits for input (or at once,
        with ``returnImmediately``)."""
        if self.conformance and (reply := direct_reply(request.message)) is not None:
            return reply
        config = request.configuration or a2a.SendMessageConfiguration()
        live, sub = await self._begin(request, principal, defer=not config.return_immediately)
        try:
            if not config.return_immediately:
                async for _ in sub.items(interrupted_too=True):
                    pass
        finally:
            live.unsubscribe(sub)
        if not live.stored and live.store_error is not None:
            raise live.store_error  # the task was never written: say so, as a failed create did
        return to_task(live.record, history_length=config.history_length)

    async def stream(self, request: a2a.SendMessageRequest, principal: str,
                     ) -> AsyncGenerator[a2a.StreamResponse, None]:
        """The task first, then its updates until it ends or waits for input."""
        if self.conformance and (reply := direct_reply(request.message)) is not None:
            yield a2a.StreamResponse(message=reply)
            return
        config = request.configuration or a2a.SendMessageConfiguration()
        live, sub = await self._begin(request, principal)
        try:
            yield a2a.StreamResponse(task=to_task(live.record, history_length=config.history_length))
            async for item in sub.items(interrupted_too=True):
                yield item
        finally:
            live.unsubscribe(sub)

    async def _begin(self, request: a2a.SendMessageRequest, principal: str, *, defer: bool = False,
                     ) -> tuple[LiveTask, Subscription]:
        """Start (or continue) the task. With ``defer`` (a caller that waits for the
        end and is told nothing before), a new task is written by its run's first
        state change instead of here; a task that is announced at once (streamed,
        returned at once, or with a webhook) is written before that."""
        await self._recover()
        message = request.message
        if message.role == "ROLE_AGENT":
            raise InvalidParams("message.role: a client sends ROLE_USER messages", data={"field": "message.role"})
        text = prompt_text(message)
        config = request.configuration
        push = config.task_push_notification_config if config else None
        if push is not None and self.push is not None:
            await self.push.check_config(push)
        if message.task_id:
            live = await self._continuing(message)
            sub = live.subscribe()
            self._answer(live, message, text)
            return live, sub
        live = await self._new_task(message, request.metadata, principal, defer=defer and push is None)
        if push is not None:
            await self._add_push(live, push)
        sub = live.subscribe()
        self._start(live, message, text)
        return live, sub

    async def _continuing(self, message: a2a.Message) -> LiveTask:
        record = await self.store.get(message.task_id)
        live = self._live.get(message.task_id)
        if record is None and live is None:
            raise TaskNotFound(f"task {message.task_id} not found", data={"taskId": message.task_id})
        state = live.record.state if live is not None else record.state if record is not None else ""
        if state in TERMINAL_STATES:
            raise UnsupportedOperation(f"task {message.task_id} is {state}: a finished task takes no "
                                       "more messages (send one without taskId, in its context)")
        if live is None or live.question is None:
            raise UnsupportedOperation(f"task {message.task_id} is {state}, not waiting for input")
        if message.context_id and message.context_id != live.record.context_id:
            raise InvalidParams(f"message.contextId {message.context_id!r} is not the task's "
                                f"({live.record.context_id!r})", data={"field": "message.contextId"})
        return live

    def _answer(self, live: LiveTask, message: a2a.Message, text: str) -> None:
        rec = live.record
        question, live.question = live.question, None
        rec.history.append(self._stored_message(message, rec))
        assert question is not None and live.runner is not None
        live.runner.answer(question, message, text)

    async def _new_task(self, message: a2a.Message, metadata: dict[str, Any] | None,
                        principal: str, *, defer: bool = False) -> LiveTask:
        context_id = message.context_id or new_id()
        if (running := self._by_context.get(context_id)) is not None:
            raise Conflict(f"context {context_id} has an unfinished task ({running}); wait for it, "
                           "answer it, or cancel it", data={"taskId": running})
        settings = self.settings()
        # A context id we just drew has no session yet: no store round trip to ask.
        session_id = await self.store.context_session(context_id) if message.context_id else None
        new_session = session_id is None
        if session_id is None:
            workspace = settings.workspace or os.getcwd()
            title = prompt_text(message).strip().splitlines()[0][:60]
            session_id = await self.sessions.create(workspace, settings.approval_mode, f"a2a: {title}")
        now = time.time()
        status = a2a.TaskStatus(state="TASK_STATE_SUBMITTED", timestamp=stamp(now))
        record = TaskRecord(id=new_id(), context_id=context_id, session_id=session_id,
                            state="TASK_STATE_SUBMITTED", status=to_record_status(status),
                            metadata={**(metadata or {}), "principal": principal},
                            created_at=now, updated_at=now)
        record.history.append(self._stored_message(message, record))
        if defer:  # written by the run's first state change (LiveTask.stored)
            live = LiveTask(record, stored=False, bind_context=new_session)
        else:
            await self.store.create(record, bind_context=new_session)  # the binding and the task: one write
            live = LiveTask(record)
        self._live[record.id] = live
        self._by_context[context_id] = record.id
        return live

    @staticmethod
    def _stored_message(message: a2a.Message, record: TaskRecord) -> dict[str, Any]:
        stamped = msgspec.structs.replace(message, task_id=record.id, context_id=record.context_id)
        out: dict[str, Any] = msgspec.to_builtins(stamped)
        return out

    def _start(self, live: LiveTask, message: a2a.Message, text: str) -> None:
        kind = ConformanceRun if self.conformance else TaskRun
        run = kind(live, self.sessions, self.store, self.settings().approval_mode, self._emit,
                   self._ended, first=message)
        live.runner = run
        live.run = asyncio.create_task(run(text), name=f"a2a-task:{live.record.id}")
        live.run.add_done_callback(lambda _: self._ended(live))  # also when it never began

    def _ended(self, live: LiveTask) -> None:
        rec = live.record
        self._live.pop(rec.id, None)
        if self._by_context.get(rec.context_id) == rec.id:
            del self._by_context[rec.context_id]

    def _emit(self, live: LiveTask, item: a2a.StreamResponse) -> None:
        if self.push is not None and live.push:
            self.push.deliver(live.push, item)

    # -- GetTask / ListTasks ------------------------------------------------------------

    async def get(self, task_id: str, history_length: int | None = None) -> a2a.Task:
        """The task as it is now."""
        await self._recover()
        if history_length is not None and history_length < 0:
            raise InvalidParams("historyLength must not be negative", data={"field": "historyLength"})
        live = self._live.get(task_id)
        record = live.record if live is not None else await self.store.get(task_id)
        if record is None:
            raise TaskNotFound(f"task {task_id} not found", data={"taskId": task_id})
        return to_task(record, history_length=history_length)

    async def list(self, request: a2a.ListTasksRequest) -> a2a.ListTasksResponse:
        """A page of tasks, newest status first (A2A 1.0 section 3.1.4)."""
        await self._recover()
        size = DEFAULT_PAGE_SIZE if request.page_size is None else request.page_size
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise InvalidParams(f"pageSize must be 1..{MAX_PAGE_SIZE}, not {size}", data={"field": "pageSize"})
        if request.history_length is not None and request.history_length < 0:
            raise InvalidParams("historyLength must not be negative", data={"field": "historyLength"})
        state = "" if request.status == "TASK_STATE_UNSPECIFIED" else request.status
        after = epoch(request.status_timestamp_after) if request.status_timestamp_after else None
        page = await self.store.list(TaskQuery(
            context_id=request.context_id, state=state, updated_after=after, page_size=size,
            page_token=request.page_token, history_length=request.history_length,
            include_artifacts=bool(request.include_artifacts)))
        tasks = [to_task(r, include_artifacts=bool(request.include_artifacts)) for r in page.tasks]
        return a2a.ListTasksResponse(tasks=tasks, next_page_token=page.next_page_token,
                                     page_size=size, total_size=page.total_size)

    # -- CancelTask / SubscribeToTask ---------------------------------------------------

    async def cancel(self, task_id: str) -> a2a.Task:
        """Cancel the task's run; answer with the task once it has ended (or after
        :data:`CANCEL_WAIT` seconds, as it is then)."""
        await self._recover()
        live = self._live.get(task_id)
        if live is None:
            record = await self.store.get(task_id)
            if record is None:
                raise TaskNotFound(f"task {task_id} not found", data={"taskId": task_id})
            raise TaskNotCancelable(f"task {task_id} is {record.state}: it cannot be canceled",
                                    data={"taskId": task_id, "state": record.state})
        live.cancel_requested = True
        if not self.sessions.cancel(live.record.session_id) and live.run is not None:
            live.run.cancel()  # the session's run has not begun: end ours before it does
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(live.ended.wait(), CANCEL_WAIT)
        return to_task(live.record)

    async def subscribe(self, task_id: str) -> AsyncGenerator[a2a.StreamResponse, None]:
        """The task now, then its updates until it ends."""
        await self._recover()
        live = self._live.get(task_id)
        if live is None:
            record = await self.store.get(task_id)
            if record is None:
                raise TaskNotFound(f"task {task_id} not found", data={"taskId": task_id})
            raise UnsupportedOperation(f"task {task_id} is {record.state}: there is nothing to "
                                       "subscribe to (GetTask reads it)")
        sub = live.subscribe()
        try:
            yield a2a.StreamResponse(task=to_task(live.record))
            async for item in sub.items(interrupted_too=False):
                yield item
        finally:
            live.unsubscribe(sub)

    # -- push notification configs ------------------------------------------------------

    def _require_push(self) -> PushDelivery:
        if self.push is None:
            from ...errors import PushNotificationNotSupported

            raise PushNotificationNotSupported("push notifications are not enabled")
        return self.push

    async def _task_exists(self, task_id: str) -> None:
        if task_id not in self._live and await self.store.get(task_id, history_length=0) is None:
            raise TaskNotFound(f"task {task_id} not found", data={"taskId": task_id})

    async def create_push(self, config: a2a.TaskPushNotificationConfig) -> a2a.TaskPushNotificationConfig:
        """Add (or replace, by id) a webhook of a task."""
        await self._recover()
        await self._require_push().check_config(config)
        await self._task_exists(config.task_id)
        live = self._live.get(config.task_id)
        record = await self._add_push(live, config, task_id=config.task_id)
        return _push_out(record)

    async def _add_push(self, live: LiveTask | None, config: a2a.TaskPushNotificationConfig,
                        *, task_id: str = "") -> PushConfigRecord:
        task_id = live.record.id if live is not None else task_id
        auth = msgspec.to_builtins(config.authentication) if config.authentication else None
        record = PushConfigRecord(task_id=task_id, id=config.id or new_id(), url=config.url,
                                  token=config.token, authentication=auth)
        await self.store.put_push(record)
        if live is not None:
            live.push = [c for c in live.push if c.id != record.id] + [record]
        return record

    async def get_push(self, task_id: str, config_id: str) -> a2a.TaskPushNotificationConfig:
        """One webhook of a task."""
        self._require_push()
        await self._task_exists(task_id)
        record = await self.store.get_push(task_id, config_id)
        if record is None:
            raise TaskNotFound(f"task {task_id} has no push notification config {config_id!r}",
                               data={"taskId": task_id, "id": config_id})
        return _push_out(record)

    async def list_push(self, task_id: str) -> a2a.ListTaskPushNotificationConfigsResponse:
        """Every webhook of a task."""
        self._require_push()
        await self._task_exists(task_id)
        return a2a.ListTaskPushNotificationConfigsResponse(
            configs=[_push_out(r) for r in await self.store.list_push(task_id)])

    async def delete_push(self, task_id: str, config_id: str) -> None:
        """Remove a webhook of a task; idempotent (A2A 1.0 section 3.1.10): deleting one
        that is already gone succeeds (an unknown task is still TaskNotFound)."""
        self._require_push()
        await self._task_exists(task_id)
        await self.store.delete_push(task_id, config_id)
        if (live := self._live.get(task_id)) is not None:
            live.push = [c for c in live.push if c.id != config_id]

    # -- life ----------------------------------------------------------------------------

    async def _recover(self) -> None:
        if self._closed:
            raise Unavailable("the task manager is closed")
        if self._recovered:
            return
        async with self._ready:
            if self._recovered:
                return
            for state in ("TASK_STATE_SUBMITTED", "TASK_STATE_WORKING", "TASK_STATE_INPUT_REQUIRED",
                          "TASK_STATE_AUTH_REQUIRED"):
                while (page := await self.store.list(TaskQuery(state=state, page_size=MAX_PAGE_SIZE))).tasks:
                    for record in page.tasks:
                        await self._interrupted(record)
            self._recovered = True

    async def _interrupted(self, record: TaskRecord) -> None:
        now = time.time()
        status = a2a.TaskStatus(state="TASK_STATE_FAILED", timestamp=stamp(now), message=a2a.Message(
            message_id=new_id(), role="ROLE_AGENT", task_id=record.id, context_id=record.context_id,
            parts=[a2a.Part(text="interrupted: the daemon stopped while this task ran")]))
        record.state, record.status, record.updated_at = "TASK_STATE_FAILED", to_record_status(status), now
        await self.store.save(record)

    def stats(self) -> dict[str, int]:
        """Tasks running now, and readers cut off for being slow (since start)."""
        return {"live": len(self._live), "dropped_readers": sum(t.dropped for t in self._live.values())}

    async def aclose(self) -> None:
        """Cancel every run (their tasks end CANCELED), stop push delivery, close the store."""
        self._closed = True
        runs = [t.run for t in self._live.values() if t.run is not None]
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
        if self.push is not None:
            await self.push.aclose()
        self.store.close()


def _push_out(record: PushConfigRecord) -> a2a.TaskPushNotificationConfig:
    auth = msgspec.convert(record.authentication, a2a.AuthenticationInfo) if record.authentication else None
    return a2a.TaskPushNotificationConfig(id=record.id, task_id=record.task_id, url=record.url,
                                          token=record.token, authentication=auth)
