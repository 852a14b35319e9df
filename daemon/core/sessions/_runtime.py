"""A live session: its metadata, transcript, event hub and the one run it may have.

``lock`` guards the transcript: one run at a time per session (a second prompt
while busy is a Conflict); it is held from the moment a prompt is accepted until its
run task has ended. ``run_task`` is that task; ``_cancel_pending`` records a cancel
that came before the task began, so the run still starts and then ends cancelled.
``_questions`` maps a question id to the future the ``question`` tool awaits;
``notes`` collects file-change notices for the next turn.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path

import msgspec

from ...errors import NotFound
from ...wire.events import FileChanged, QuestionAsked, SessionEvent
from ...wire.messages import Message
from ..secrets import redact_value
from ._backend import SessionBackend
from ._hub import EventHub
from ._records import (
    CallStarted,
    MessageRecord,
    SessionMeta,
    SummaryRecord,
    Transcript,
)

__all__ = ["SessionRuntime"]

_enc = msgspec.json.Encoder()


class SessionRuntime:
    """One live session (see the module docstring for what its lock and maps guard)."""

    def __init__(self, meta: SessionMeta, store: SessionBackend) -> None:
        self.meta = meta
        self.store = store
        self.transcript: Transcript = store.load(meta.id)
        # The transcript is the source of truth; metadata may lag it after a crash.
        self.meta.message_count = len(self.transcript.messages)
        if self.transcript.messages:
            self.meta.updated_at = max(self.meta.updated_at, store.last_modified(meta.id))
        self.call_ids = {c.id for m in self.transcript.messages for c in m.tool_calls}
        self.hub = EventHub()
        self.lock = asyncio.Lock()
        self.run_task: asyncio.Task[object] | None = None
        self.run_connection: object | None = None  # the connection whose prompt is running
        self._run_started = False
        self._cancel_pending = False
        self.notes: list[str] = []
        self._saved = b""  # fingerprint of the metadata last written
        self.token_cache: tuple[int, int, int] = (-1, 0, 0)  # (summary covers, messages, tokens)
        self.buffers: dict[str, str] = {}  # editor buffers' unsaved text, by absolute path
        self.proposals: dict[str, list[dict[str, object]]] = {}  # open edit proposals by id
        self._questions: dict[str, asyncio.Future[str]] = {}

    @property
    def id(self) -> str:
        return self.meta.id

    @property
    def editor(self) -> bool:
        return bool(self.meta.state.get("editor"))

    def read_buffer(self, path: Path) -> str | None:
        """Buffer-true reads: an open editor buffer's text wins over the file on disk."""
        return self.buffers.get(str(path))

    @property
    def busy(self) -> bool:
        return self.lock.locked()

    @property
    def idle(self) -> bool:
        """Nothing lives only in memory: no run, no watcher, no open question, no edit
        proposal, no editor buffer. An idle runtime can be dropped and loaded again."""
        return (not self.busy and self.run_task is None and self.hub.subscribers == 0
                and not self._questions and not self.proposals and not self.buffers)

    def begin_run(self, task: asyncio.Task[object]) -> None:
        """``task`` is this session's run from now on (the caller holds ``lock``)."""
        self.run_task, self._run_started, self._cancel_pending = task, False, False

    def run_started(self) -> None:
        """The run task's first step: a cancel that came before it takes effect now, at
        the run's first await, as it would have had the run been running already."""
        self._run_started = True
        if self._cancel_pending and self.run_task is not None:
            self._cancel_pending = False
            self.run_task.cancel()

    def cancel_run(self) -> bool:
        """Cancel the run, if there is one; False when there is none."""
        if self.run_task is None or self.run_task.done():
            return False
        if self._run_started:
            self.run_task.cancel()
        else:  # cancelled before its first step, a task would never run at all
            self._cancel_pending = True
        return True

    def end_run(self) -> None:
        """The run task has ended: the session is free again."""
        self.run_task, self.run_connection = None, None
        self._run_started = self._cancel_pending = False

    @property
    def messages(self) -> list[Message]:
        return self.transcript.messages

    def append(self, *messages: Message) -> None:
        # Redacted in memory too: what is kept is what the next turn, session/get and a
        # fork see, so a key a model or tool echoed is gone everywhere (S4).
        messages = tuple(redact_value(m) for m in messages)
        start = len(self.transcript.messages)
        now = time.time()
        self.transcript.messages.extend(messages)
        self.store.append(self.id, [MessageRecord(start + i, now, m) for i, m in enumerate(messages)])
        self.meta.message_count = len(self.transcript.messages)
        self.meta.updated_at = now
        if not self.meta.title:
            first_user = next((m.content for m in messages if m.role == "user"), "")
            self.meta.title = first_user.strip().splitlines()[0][:80] if first_user.strip() else ""
        # Metadata is saved by the caller once per turn (save_meta): an atomic rewrite
        # per message cost more than the whole agent loop.

    def mark_started(self, call_id: str) -> None:
        self.transcript.started.add(call_id)
        self.store.append(self.id, [CallStarted(call_id=call_id, ts=time.time())], durable=True)

    def add_summary(self, covers: int, text: str) -> SummaryRecord:
        record = SummaryRecord(covers=covers, ts=time.time(), text=text)
        self.transcript.summaries.append(record)
        self.store.append(self.id, [record])
        return record

    def save_meta(self) -> None:
        """Persist metadata if something the transcript cannot rebuild changed since the
        last save (message_count and updated_at are derived from the transcript on load)."""
        m = self.meta
        fingerprint = _enc.encode((m.title, m.model, m.approval_mode, m.state, m.read_files))
        if fingerprint == self._saved:
            return
        m.updated_at = time.time()
        self.store.save_meta(m)
        self._saved = fingerprint

    async def emit(self, event: SessionEvent) -> int:
        return await self.hub.publish(event)

    # -- files the agent has read -------------------------------------------------

    def remember_file(self, path: Path) -> None:
        try:
            self.meta.read_files[str(path)] = path.stat().st_mtime_ns
        except OSError:
            self.meta.read_files.pop(str(path), None)

    async def file_changed(self, path: Path) -> bool:
        """Called by the watcher; returns True if this is news to the agent."""
        key = str(path)
        if key not in self.meta.read_files:
            return False
        try:
            mtime = path.stat().st_mtime_ns  # noqa: ASYNC240 - one local stat, cheaper than a thread hop
        except OSError:
            mtime = -1
        if mtime == self.meta.read_files[key]:
            return False  # our own write, already recorded
        self.meta.read_files[key] = mtime
        rel = os.path.relpath(path, self.meta.workspace)  # noqa: ASYNC240 - absolute paths: string work
        note = f"{rel} was deleted" if mtime < 0 else f"{rel} changed on disk"
        if note not in self.notes:
            self.notes.append(note)
        await self.emit(FileChanged(path=rel))
        return True

    def take_notes(self) -> str | None:
        if not self.notes:
            return None
        text = ("[codetether] Since you last read them: " + "; ".join(self.notes)
                + ". Re-read before editing them.")
        self.notes.clear()
        return text

    # -- questions to the user -----------------------------------------------------

    async def ask(self, question: str, options: list[str]) -> str:
        qid = uuid.uuid4().hex[:12]
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._questions[qid] = fut
        try:
            await self.emit(QuestionAsked(question_id=qid, question=question, options=options))
            return await fut
        finally:
            self._questions.pop(qid, None)

    def answer(self, question_id: str, answer: str) -> None:
        fut = self._questions.get(question_id)
        if fut is None or fut.done():
            raise NotFound(f"no open question {question_id!r} in session {self.id}")
        fut.set_result(answer)

    def has_question(self, question_id: str) -> bool:
        return question_id in self._questions
