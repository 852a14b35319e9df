"""One task's run: the agent session's events as A2A status and artifact updates.

The mapping (A2A 1.0 section 4):

* text deltas are chunks of ONE artifact per run (``append`` after the first; the
  last chunk is held back until the run ends so it can carry ``lastChunk``);
* a tool call is a WORKING status update with a short agent message;
* the agent's question makes the task INPUT_REQUIRED (its next message answers it);
* an approval the policy would ask a human for is denied at once: an A2A caller has
  nobody at a terminal to say yes (``[a2a] approval_mode`` sets how wide the run's
  mode is: "plan" read-only, "ask" asks, hence denies, anything not allowed by a rule,
  "auto" runs what the rules allow and denies only what a rule says to ask about);
* the run's end is COMPLETED, FAILED (an error) or CANCELED (a cancel).

Every state change is saved before it is published; chunks are not saved one by one
(the artifact's text is saved with the next state change).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from ...errors import CodetetherError, Conflict, RequestCancelled
from ...wire import a2a
from ...wire.api import PromptResult, SessionEventNote
from ...wire.events import ApprovalRequested, Done, ErrorEvent, QuestionAsked, TextChunk, ToolCallStart
from ._convert import agent_message, to_record_status
from ._ids import new_id
from ._live import LiveTask
from ._store import TaskStore

__all__ = ["AgentSessions", "TaskRun", "stamp"]

log = logging.getLogger("codetether.tasks")

#: Characters of a tool call's arguments shown in its status message.
_ARGS_SHOWN = 120


class AgentSessions(Protocol):
    """What a task needs of the daemon's sessions; the API layer implements it over the
    same handlers the socket serves (``session/create``, ``session/prompt``, ...)."""

    async def create(self, workspace: str, mode: str, title: str) -> str:
        """A new session in ``workspace`` (its id)."""
        ...

    def prompt(self, session_id: str, text: str, mode: str,
               ) -> AsyncGenerator[SessionEventNote | PromptResult, None]:
        """Run the agent on ``text``: the run's events, then its result."""
        ...

    def answer(self, session_id: str, question_id: str, text: str) -> None:
        """Answer the agent's open question."""
        ...

    def deny(self, approval_id: str, reason: str) -> None:
        """Deny a pending approval."""
        ...

    def cancel(self, session_id: str) -> bool:
        """Cancel the session's run; False if it has none."""
        ...


def stamp(at: float) -> str:
    """Epoch seconds as an RFC 3339 timestamp (milliseconds, ``Z``)."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TaskRun:
    """Drives one prompt of a live task and publishes what it does (see the module
    docstring). ``emit`` is called with every update after the subscribers got it
    (push delivery: it must not block); ``on_end`` once the end state is saved, before
    it is published; ``first`` the message that started it."""

    def __init__(self, live: LiveTask, sessions: AgentSessions, store: TaskStore, mode: str,
                 emit: Callable[[LiveTask, a2a.StreamResponse], None],
                 on_end: Callable[[LiveTask], None], *, first: a2a.Message | None = None) -> None:
        self.live = live
        self.first = first
        self.sessions = sessions
        self.store = store
        self.mode = mode
        self.emit = emit
        self.on_end = on_end
        self.artifact_id = new_id()
        self.text: list[str] = []
        self.held: str | None = None  # the newest chunk, sent when the next one comes
        self.sent_chunks = 0
        self.stop_reason = ""
        self.error = ""

    async def __call__(self, text: str) -> None:
        result: PromptResult | None = None
        try:
            await self.set_status("TASK_STATE_WORKING")
            if self.live.store_error is not None:
                raise self.live.store_error  # never stored: the agent does not start
            async with contextlib.aclosing(self.sessions.prompt(
                    self.live.record.session_id, text, self.mode)) as items:
                async for item in items:
                    if isinstance(item, PromptResult):
                        result = item
                    else:
                        await self.on_event(item.event)
        except asyncio.CancelledError:
            # The manager is closing (or the run never started): end the task for good,
            # shielded so the cancellation cannot cut the save short, then go on cancelling.
            await asyncio.shield(self.finish("TASK_STATE_CANCELED", "the task was cancelled", None))
            raise
        except RequestCancelled:
            self.stop_reason = "cancelled"
        except CodetetherError as exc:
            self.error = exc.message
        except Exception as exc:  # noqa: BLE001 - a run's failure ends its task, never the manager
            log.exception("task %s: the run failed", self.live.record.id)
            self.error = f"internal error: {exc!r}"
        if self.live.cancel_requested or self.stop_reason == "cancelled":
            await self.finish("TASK_STATE_CANCELED", "the task was cancelled", result)
        elif self.error or self.stop_reason == "error":
            await self.finish("TASK_STATE_FAILED", self.error or "the run failed", result)
        else:
            await self.finish("TASK_STATE_COMPLETED", None, result)

    def answer(self, question: str, message: a2a.Message, text: str) -> None:
        """The client's answer to the agent's open question (the same run goes on)."""
        del message  # the agent reads the text
        self.sessions.answer(self.live.record.session_id, question, text)

    async def on_event(self, event: object) -> None:
        """Map one session event (see the module docstring)."""
        rec = self.live.record
        if isinstance(event, TextChunk) and event.text:
            self.text.append(event.text)
            if self.held is not None:
                await self.chunk(self.held, last=False)
            self.held = event.text
        elif isinstance(event, ToolCallStart):
            args = event.arguments if len(event.arguments) <= _ARGS_SHOWN else event.arguments[:_ARGS_SHOWN] + "…"
            await self.set_status("TASK_STATE_WORKING", f"running {event.name} {args}")
        elif isinstance(event, QuestionAsked):
            question = event.question
            if event.options:
                question += "\n" + "\n".join(f"- {o}" for o in event.options)
            self.live.question = event.question_id
            rec.history.append(self.message(question))
            await self.set_status("TASK_STATE_INPUT_REQUIRED", question)
        elif isinstance(event, ApprovalRequested):
            reason = (f"an A2A caller cannot approve tool calls ([a2a] approval_mode = {self.mode!r}); "
                      f"{event.tool} was denied")
            self.sessions.deny(event.approval_id, reason)
            await self.set_status("TASK_STATE_WORKING", f"denied {event.tool} {event.subject}: {reason}")
        elif isinstance(event, Done):
            self.stop_reason = event.stop_reason
        elif isinstance(event, ErrorEvent):
            self.error = event.message

    def message(self, text: str) -> dict[str, Any]:
        """An agent message of this task, as history keeps it."""
        rec = self.live.record
        out: dict[str, Any] = to_record_status(
            a2a.TaskStatus(state="TASK_STATE_WORKING",
                           message=agent_message(text, task_id=rec.id, context_id=rec.context_id)))
        return dict(out["message"])

    async def chunk(self, text: str, *, last: bool) -> None:
        """One artifact chunk (the first creates the artifact, later ones append)."""
        rec = self.live.record
        artifact = a2a.Artifact(artifact_id=self.artifact_id, name="answer", parts=[a2a.Part(text=text)])
        await self.publish(a2a.StreamResponse(artifact_update=a2a.TaskArtifactUpdateEvent(
            task_id=rec.id, context_id=rec.context_id, artifact=artifact,
            append=self.sent_chunks > 0, last_chunk=last)))
        self.sent_chunks += 1

    async def set_status(self, state: a2a.TaskState, text: str | None = None) -> None:
        """Save the new status (and the artifact so far), then publish it."""
        await self.publish(await self.update(state, text))

    async def update(self, state: a2a.TaskState, text: str | None) -> a2a.StreamResponse:
        """Save the new status (and the artifact so far); the update that announces it."""
        rec = self.live.record
        now = time.time()
        status = a2a.TaskStatus(
            state=state,
            message=agent_message(text, task_id=rec.id, context_id=rec.context_id) if text else None,
            timestamp=stamp(now))
        rec.state, rec.status, rec.updated_at = state, to_record_status(status), now
        if self.text:
            rec.artifacts = [{"artifactId": self.artifact_id, "name": "answer",
                              "parts": [{"text": "".join(self.text)}]}]
        await self.save()
        return a2a.StreamResponse(status_update=a2a.TaskStatusUpdateEvent(
            task_id=rec.id, context_id=rec.context_id, status=status))

    async def save(self) -> None:
        """Persist the record (the first write of a task not stored yet inserts it);
        a store that fails is logged, the run goes on (the live record still answers
        GetTask). A task whose first write failed keeps the error: its caller gets it."""
        live = self.live
        try:
            if not live.stored:
                try:
                    await self.store.create(live.record, bind_context=live.bind_context)
                except Conflict:
                    # Ours landed: a create cancelled while a worker thread ran it still
                    # commits (the binding with it). The state is written below.
                    live.stored = True
                else:
                    live.stored, live.store_error = True, None
                    return
            await self.store.save(live.record)
        except CodetetherError as exc:
            if not live.stored:
                live.store_error = exc
            log.warning("task %s: not saved: %s", live.record.id, exc.message)

    async def publish(self, item: a2a.StreamResponse) -> None:
        """To the subscribers, then to push delivery."""
        await self.live.publish(item)
        self.emit(self.live, item)

    async def finish(self, state: a2a.TaskState, why: str | None, result: PromptResult | None) -> None:
        """The last chunk, the agent's final message in history, the end state."""
        if self.live.ended.is_set():
            return
        if self.held is not None:
            await self.chunk(self.held, last=True)
            self.held = None
        answer = (result.text if result is not None and result.text else "".join(self.text)).strip()
        if answer:
            self.live.record.history.append(self.message(answer))
        self.live.question = None
        item = await self.update(state, why)
        # Before the end is announced: whoever reads it may send the context's next task.
        self.on_end(self.live)
        self.live.ended.set()
        await self.publish(item)
