"""The TCK's conformance agent: scripted behaviour chosen by the messageId's prefix.

The A2A TCK (a2aproject/a2a-tck) drives what an agent does through an in-band
contract (its ``scenarios/*.feature``): a message whose messageId starts with
``tck-complete-task`` completes its task with "Hello from TCK", ``tck-reject-task``
rejects it, ``tck-artifact-file`` adds a file artifact, ``tck-message-response`` is
answered by a message instead of a task, and so on. With
``CODETETHER_A2A_CONFORMANCE=1`` the daemon's tasks follow that contract instead of
running the agent (no session runs, no model is called), so the TCK can exercise
each state and part kind. Only for conformance runs: the default agent is the real one.

A follow-up to an INPUT_REQUIRED task plays its own messageId's scenario on the same
task (the TCK's multi-turn helpers answer ``tck-input-required`` with
``tck-complete-task``).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from ...wire import a2a
from ...wire.api import PromptResult, SessionEventNote
from ._run import TaskRun

__all__ = ["ENV", "ConformanceRun", "ConformanceSessions", "conformance_enabled", "direct_reply",
           "scenario"]

#: The environment variable that selects the conformance agent ("1").
ENV = "CODETETHER_A2A_CONFORMANCE"
#: How long the resubscribe scenario keeps its task working (the TCK's 2 x its streaming timeout).
LONG_RUN_SECONDS = 4.0
#: The open question's id while a scripted task waits for input.
_QUESTION = "tck-input"


def conformance_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether :data:`ENV` asks for the conformance agent."""
    return (os.environ if environ is None else environ).get(ENV, "") == "1"


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a scenario: a WORKING status, an artifact (chunk), a pause, a wait
    for input, or the end (COMPLETED / REJECTED with an optional status message)."""

    kind: Literal["working", "artifact", "pause", "input", "complete", "reject"]
    text: str = ""
    parts: tuple[a2a.Part, ...] = ()
    append: bool = False
    last: bool = True


_FILE = a2a.Part(raw=b"tck", media_type="text/plain", filename="output.txt")
_FILE_URL = a2a.Part(url="https://example.com/output.txt", media_type="text/plain", filename="output.txt")
_WORKING, _DONE = Step("working"), Step("complete")


def _text(text: str, *, append: bool = False, last: bool = True) -> Step:
    return Step("artifact", parts=(a2a.Part(text=text),), append=append, last=last)


def _streamed(*middle: Step) -> list[Step]:
    return [_WORKING, *middle, _DONE]


#: Prefix -> steps; a prefix that extends another comes first (``...-file-url`` before ``...-file``).
_SCENARIOS: list[tuple[str, list[Step]]] = [
    ("tck-stream-artifact-chunked", _streamed(_text("chunk-1 ", last=False), _text("chunk-2", append=True))),
    ("tck-stream-artifact-text", _streamed(_text("Streamed text content"))),
    ("tck-stream-artifact-file", _streamed(Step("artifact", parts=(_FILE,)))),
    ("tck-stream-ordering-001", _streamed(_text("Ordered output"))),
    ("tck-stream-001", _streamed(_text("Stream hello from TCK"))),
    ("tck-stream-002", [_DONE]),
    ("tck-stream-003", _streamed(_text("Stream task lifecycle"))),
    ("test-resubscribe-message-id", _streamed(Step("pause"))),
    ("tck-artifact-file-url", [Step("artifact", parts=(_FILE_URL,)), _DONE]),
    ("tck-artifact-file", [Step("artifact", parts=(_FILE,)), _DONE]),
    ("tck-artifact-text", [_text("Generated text content"), _DONE]),
    ("tck-artifact-data", [Step("artifact", parts=(a2a.Part(data={"key": "value", "count": 42}),)), _DONE]),
    ("tck-input-required", [Step("input")]),
    ("tck-complete-task", [Step("complete", text="Hello from TCK")]),
    ("tck-reject-task", [Step("reject", text="rejected")]),
]


def scenario(message_id: str) -> list[Step]:
    """The steps for a message (unknown prefixes complete, naming the messageId)."""
    for prefix, steps in _SCENARIOS:
        if message_id.startswith(prefix):
            return steps
    return [Step("complete", text=f"Unhandled messageId prefix: {message_id}")]


def direct_reply(message: a2a.Message) -> a2a.Message | None:
    """The message that answers ``message`` without a task (``tck-message-response``)."""
    if not message.message_id.startswith("tck-message-response"):
        return None
    return a2a.Message(message_id=uuid.uuid4().hex, role="ROLE_AGENT", context_id=message.context_id,
                       parts=[a2a.Part(text="Direct message response")])


class ConformanceSessions:
    """:class:`~._run.AgentSessions` for the conformance agent: a session is only a name
    (the scripted run never prompts it)."""

    async def create(self, workspace: str, mode: str, title: str) -> str:
        """A fresh name."""
        del workspace, mode, title
        return f"tck-{uuid.uuid4().hex}"

    async def prompt(self, session_id: str, text: str, mode: str,
                     ) -> AsyncGenerator[SessionEventNote | PromptResult, None]:
        """Nothing: the scripted run does not call the agent."""
        del session_id, text, mode
        return
        yield  # an async generator that yields nothing

    def answer(self, session_id: str, question_id: str, text: str) -> None:
        """Unused: :class:`ConformanceRun` takes answers itself."""

    def deny(self, approval_id: str, reason: str) -> None:
        """Unused: nothing asks for approval."""

    def cancel(self, session_id: str) -> bool:
        """No session run to cancel (the manager cancels the scripted run)."""
        del session_id
        return False


class ConformanceRun(TaskRun):
    """Plays the scenario of the task's first message, then of each answer while the
    task waits for input; cancelled, it ends CANCELED like an agent run."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.inbox: asyncio.Queue[a2a.Message] = asyncio.Queue()
        self.artifacts = 0

    async def __call__(self, text: str) -> None:
        del text
        message = self.first
        try:
            while message is not None:
                message = await self.play(scenario(message.message_id))
        except asyncio.CancelledError:
            await asyncio.shield(self.finish("TASK_STATE_CANCELED", "the task was cancelled", None))
            raise
        if not self.live.ended.is_set():  # a scenario without an end step
            await self.finish("TASK_STATE_COMPLETED", None, None)

    def answer(self, question: str, message: a2a.Message, text: str) -> None:
        """The client's next message: its own scenario goes on with the task."""
        del question, text
        self.inbox.put_nowait(message)

    async def play(self, steps: list[Step]) -> a2a.Message | None:
        """Run ``steps``; the answer when one waits for input, else None. A task whose
        first write failed ends FAILED at once (its caller is answered with the error)."""
        for step in steps:
            if self.live.store_error is not None:
                await self.finish("TASK_STATE_FAILED", self.live.store_error.message, None)
                return None
            if step.kind == "working":
                await self.set_status("TASK_STATE_WORKING")
            elif step.kind == "artifact":
                await self.artifact(step)
            elif step.kind == "pause":
                if not self.live.stored:  # a task that runs on is on disk while it does
                    await self.save()
                await asyncio.sleep(LONG_RUN_SECONDS)
            elif step.kind == "input":
                self.live.question = _QUESTION  # before it is published: the reply may be quick
                await self.set_status("TASK_STATE_INPUT_REQUIRED")
                if self.live.store_error is not None:  # never stored: nobody can answer it
                    self.live.question = None
                    await self.finish("TASK_STATE_FAILED", self.live.store_error.message, None)
                    return None
                return await self.inbox.get()
            elif step.kind == "complete":
                await self.finish("TASK_STATE_COMPLETED", step.text or None, None)
            else:
                await self.finish("TASK_STATE_REJECTED", step.text or None, None)
        return None

    async def artifact(self, step: Step) -> None:
        """Publish an artifact (or a chunk appended to the previous one) and keep it on
        the record (saved with the next status)."""
        rec = self.live.record
        if not step.append:
            self.artifacts += 1
        artifact = a2a.Artifact(artifact_id=f"{self.artifact_id}-{self.artifacts}", name="tck-output",
                                parts=list(step.parts))
        doc: dict[str, Any] = msgspec.to_builtins(artifact)
        if step.append and rec.artifacts:
            rec.artifacts[-1]["parts"] = [*rec.artifacts[-1]["parts"], *doc["parts"]]
        else:
            rec.artifacts.append(doc)
        await self.publish(a2a.StreamResponse(artifact_update=a2a.TaskArtifactUpdateEvent(
            task_id=rec.id, context_id=rec.context_id, artifact=artifact, append=step.append,
            last_chunk=step.last)))
