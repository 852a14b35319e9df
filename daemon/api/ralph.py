"""``ralph/*``: draft a prd.json, run the PRD loop on it, watch and cancel it.

``ralph/run`` is a stream: ``ralph/event`` notes as the loop moves, then its final state.
The loop runs in its own task (``ralph:{prd_id}``); a caller that goes away cancels it,
as does ``ralph/cancel`` from any client (its state is saved ``cancelled``; what passes
is in prd.json, so ``ralph/run`` on the same PRD goes on from there). One run per PRD at
a time. Every progress event is also published on the bus topic ``ralph.{prd_id}`` (a
``task_update`` whose ``metadata`` is the event) when the app has a bus.

Each iteration runs a fresh session (titled ``ralph <prd_id>: <story>``) through the same
run path as a prompt, in the workspace; its approval requests are announced as
``approval`` events, decided by id like any other. With ``parallel`` > 1 an iteration may
run several ready stories at once, each session in its own git worktree (under the data
dir's ``worktrees``), merged back in priority order (see :mod:`codetether.daemon.core.ralph`).

``/go`` runs its loop with :meth:`RalphAPI.start` (an ``after_iteration`` hook to measure
key results after each iteration; False from it stops the loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncGenerator, Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec

from ..app import App
from ..core.agents import AgentOutcome
from ..core.approvals import refuse_wider_mode
from ..core.bus import check_topic
from ..core.ralph import (
    AfterIteration,
    PrdError,
    PrdFile,
    Progress,
    RalphLoop,
    RalphStore,
    RunStoryAgent,
    current_story,
    next_story,
    parse_prd,
    prd_id,
    story_rows,
)
from ..errors import Conflict, InvalidParams, NotFound, ProviderError, Unavailable
from ..wire import api
from ..wire.a2a import TaskState
from ..wire.bus import TaskUpdate
from ..wire.events import ApprovalRequested, SessionEvent, ToolCallStart
from ..wire.ralph import (
    RalphCancelParams,
    RalphCreatePrdParams,
    RalphEventNote,
    RalphPrdResult,
    RalphProgress,
    RalphRunParams,
    RalphState,
    RalphStatusParams,
    RalphStatusResult,
)
from ._context import CallContext
from ._runs import chat_model, run_session
from ._table import Method

__all__ = ["RalphAPI", "draft_prd"]

log = logging.getLogger("codetether.ralph")

#: Seconds one quality check or verification step may run.
CHECK_TIMEOUT = 600.0
#: Seconds one iteration's agent may run.
ITERATION_TIMEOUT = 3600.0

_BUS_STATE: dict[str, TaskState] = {"completed": "TASK_STATE_COMPLETED", "stopped": "TASK_STATE_COMPLETED",
              "cancelled": "TASK_STATE_CANCELED", "max_iterations": "TASK_STATE_FAILED"}


class RalphAPI:
    """Draft, run, watch and cancel PRD loops (see the module docstring). ``running``
    maps a PRD's id to its loop's task (guarded by the event loop: one run per PRD)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.store = RalphStore(app.paths.data_dir / "ralph")
        self.running: dict[str, asyncio.Task[RalphState]] = {}
        #: Listeners of every run's progress: the bus (``ralph.{prd_id}``) first.
        self.listeners: list[Progress] = [self._to_bus]

    async def _to_bus(self, event: RalphProgress) -> None:
        if event.phase == "agent":
            return  # a tool call is a session event already; the durable bus log is not for them
        state: TaskState = _BUS_STATE.get(event.phase, "TASK_STATE_WORKING")
        if event.phase == "failed" and not event.story:
            state = "TASK_STATE_FAILED"  # the run failed (an iteration's failure is work going on)
        await self.app.publish(check_topic(f"ralph.{event.prd_id}"), TaskUpdate(
            task_id=f"ralph:{event.prd_id}", state=state,
            message=f"{event.phase} {event.story or ''} {event.detail}".strip(),
            metadata={"ralph": True, "prd_id": event.prd_id, "phase": event.phase, "story": event.story,
                      "iteration": event.iteration, "detail": event.detail,
                    **({"stories": list(event.stories)} if event.stories else {})}),
            sender_id=f"ralph:{event.prd_id}")

    def methods(self) -> list[Method]:
        """The ``ralph/*`` methods this domain serves."""
        return [
            Method("ralph/create_prd", self.on_ralph_create_prd, RalphCreatePrdParams, RalphPrdResult),
            Method("ralph/run", self.on_ralph_run, RalphRunParams, RalphState, streaming=True),
            Method("ralph/status", self.on_ralph_status, RalphStatusParams, RalphStatusResult, when_broken=True),
            Method("ralph/cancel", self.on_ralph_cancel, RalphCancelParams, api.Cancelled, when_broken=True),
        ]

    async def on_ralph_create_prd(self, p: RalphCreatePrdParams, _ctx: CallContext) -> RalphPrdResult:
        """Draft a prd.json for ``feature`` with one model call (one repair if it is not
        a valid PRD) and write it to ``out``."""
        out = _absolute(p.out, "out")
        if not out.parent.is_dir():
            raise InvalidParams(f"{out.parent} is not an existing directory", data={"field": "out"})
        if out.exists() and not p.overwrite:
            raise Conflict(f"{out} exists: choose another --out, or overwrite it")
        if p.model:
            self.app.models.resolve(p.model)
        raw, repaired = await draft_prd(chat_model(self.app, p.model, p.env), p.feature, p.project_name,
                                        p.description)
        prd = PrdFile(out, raw, parse_prd(json.dumps(raw), str(out))[1])
        prd.save()
        return RalphPrdResult(path=str(out), prd=prd.prd, repaired=repaired)

    async def on_ralph_run(self, p: RalphRunParams, ctx: CallContext,
                           ) -> AsyncGenerator[RalphEventNote | RalphState, None]:
        """Work through a prd.json story by story until every story passes, or
        ``max_iterations`` (a stream of progress notes, then the final state)."""
        path = _absolute(p.prd, "prd")
        workspace = _absolute(p.workspace, "workspace") if p.workspace else path.parent
        if not workspace.is_dir():
            raise InvalidParams(f"workspace {workspace} is not an existing directory", data={"field": "workspace"})
        refuse_wider_mode(ctx, p.approval_mode, self.app.config.permissions.mode)
        if p.model:
            self.app.models.resolve(p.model)  # an unknown model fails now, not mid-run
        PrdFile.load(path)  # a bad PRD is this call's error
        queue: asyncio.Queue[RalphProgress | None] = asyncio.Queue()
        loop, task = self.start(path, workspace, max_iterations=p.max_iterations, model=p.model, env=p.env,
                                approval_mode=p.approval_mode, on_progress=queue.put_nowait,
                                principal=ctx.principal or "ralph", parallel=p.parallel)
        task.add_done_callback(lambda _: queue.put_nowait(None))
        try:
            while (event := await queue.get()) is not None:
                yield RalphEventNote(event=event)
            error = None if task.cancelled() else task.exception()
            if error is not None:
                raise error
            yield loop.state
        finally:
            if not task.done():  # the caller went away: the run stops, resumable
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(asyncio.wait([task]))

    async def on_ralph_status(self, p: RalphStatusParams, _ctx: CallContext) -> RalphStatusResult:
        """A PRD's stories as prd.json holds them now, and its last run (live while it runs)."""
        pid, path = self._resolve(p.prd)
        state = self.store.get(pid)
        if state is not None and state.status == "running" and pid not in self.running:
            state = _interrupted(state)
        if path is None:
            path = Path(state.prd_path) if state is not None else None
        if path is None:
            raise NotFound(f"no PRD known as {p.prd!r}: give the path of its prd.json")
        result = RalphStatusResult(prd_id=pid, prd_path=str(path), run=state)
        try:
            prd = PrdFile.load(path).prd
        except PrdError as exc:
            if state is None:
                raise
            result.prd_error = exc.message
            return result
        story = next_story(prd)
        result.project, result.feature = prd.project, prd.feature
        result.stories = story_rows(prd)
        result.passed = sum(1 for s in prd.user_stories if s.passes)
        result.total = len(prd.user_stories)
        result.next_story = story.id if story else None
        return result

    async def on_ralph_cancel(self, p: RalphCancelParams, _ctx: CallContext) -> api.Cancelled:
        """Cancel the running loop of a PRD: its agent stops, its state is saved."""
        pid, path = self._resolve(p.prd)
        task = self.running.get(pid)
        if task is None:
            if path is None and self.store.get(pid) is None:
                raise NotFound(f"no PRD known as {p.prd!r}")
            return api.Cancelled(cancelled=False)
        task.cancel()
        return api.Cancelled(cancelled=True)

    # -- running one ------------------------------------------------------------------

    def start(self, path: Path, workspace: Path, *, max_iterations: int, model: str | None = None,
              env: dict[str, str] | None = None, approval_mode: str | None = None,
              on_progress: Progress | None = None, after_iteration: AfterIteration | None = None,
              session_state: dict[str, object] | None = None, principal: str = "ralph",
              okr_id: str | None = None, okr_run_id: str | None = None, parallel: int = 1,
              ) -> tuple[RalphLoop, asyncio.Task[RalphState]]:
        """Start a loop on ``path`` in its own task, tracked by the app (shutdown cancels it).
        ``on_progress`` sees every event after the bus; ``session_state`` goes into each
        iteration's session meta; ``okr_id``/``okr_run_id`` go there too and into the
        run's audit record (written when it ends); ``parallel`` is the most stories one
        iteration runs together. Conflict if the PRD is running already."""
        if self.app.stopping:
            raise Unavailable("the daemon is shutting down")
        pid = prd_id(path)
        if pid in self.running:
            raise Conflict(f"a Ralph run on {path} is running: `codetether ralph status --prd {path}`")
        mode = approval_mode or self.app.config.permissions.mode
        listeners = [*self.listeners, *([on_progress] if on_progress else [])]

        async def progress(event: RalphProgress) -> None:
            for listener in listeners:
                try:
                    out = listener(event)
                    if out is not None:
                        await out
                except Exception:  # noqa: BLE001 - a listener must not stop the run
                    log.exception("ralph %s: a progress listener failed", pid)

        holder: list[RalphLoop] = []
        ids = {k: v for k, v in (("okr_id", okr_id), ("okr_run_id", okr_run_id)) if v}
        run_agent = self._agent(pid, lambda: holder[0].state.current_story or "", model, env or {}, mode,
                                progress, {**(session_state or {}), **ids})
        loop = RalphLoop(path, workspace, run_agent, max_iterations=max_iterations, progress=progress,
                         after_iteration=after_iteration, store=self.store, check_timeout=CHECK_TIMEOUT,
                         model=model, approval_mode=mode, parallel=parallel,
                         worktree_dir=self.app.paths.data_dir / "worktrees")
        holder.append(loop)
        task = asyncio.create_task(loop.run(), name=f"ralph:{pid}")
        self.running[pid] = task
        self.app.add_job(task)

        def ended(_: object) -> None:
            self.running.pop(pid, None)
            state = loop.state
            try:
                self.app.recorder.audit.record(
                    "ralph", "run", principal=principal, resource=str(path),
                    outcome="success" if state.status in ("completed", "stopped") else "failure",
                    detail={"prd_id": pid, "status": state.status, "iterations": state.iteration,
                            "stories_passed": state.stories_passed, "stories_total": state.stories_total},
                    okr_id=okr_id, okr_run_id=okr_run_id)
            except Exception:  # noqa: BLE001 - the record is best effort; the run's state is saved
                log.exception("ralph %s: the audit record failed", pid)

        task.add_done_callback(ended)
        return loop, task

    def _agent(self, pid: str, current: Callable[[], str], model: str | None, env: dict[str, str], mode: str,
               progress: Progress, extra: dict[str, object]) -> RunStoryAgent:
        """An iteration as a new session of this daemon, run to its end (bounded)."""
        app = self.app

        async def run_agent(prompt: str, where: Path) -> AgentOutcome:
            sid = current_story() or current()  # a stage's agents each know their own story

            async def on_event(event: SessionEvent) -> None:
                if isinstance(event, ApprovalRequested):
                    out = progress(RalphProgress(prd_id=pid, phase="approval", story=sid,
                                                 detail=f"{event.approval_id} {event.tool} {event.subject}"))
                elif isinstance(event, ToolCallStart):
                    out = progress(RalphProgress(prd_id=pid, phase="agent", story=sid, detail=event.name))
                else:
                    return
                if out is not None:
                    await out

            try:
                async with asyncio.timeout(ITERATION_TIMEOUT):
                    return await run_session(
                        app, where=where, prompt=prompt, mode=mode, title=f"ralph {pid}: {sid}", model=model,
                        env=env, on_event=on_event, principal=f"ralph:{pid}",
                        state={"ralph": {"prd_id": pid, "story": sid}, **extra})
            except TimeoutError:
                return AgentOutcome(text="stopped: over the iteration time limit", stop_reason="timeout")

        return run_agent

    def _resolve(self, prd: str) -> tuple[str, Path | None]:
        """A PRD given by path (absolute) or id: its id, and its path when given one."""
        if prd.startswith("prd-") and "/" not in prd:
            return prd, None
        path = _absolute(prd, "prd")
        return prd_id(path), path


def _interrupted(state: RalphState) -> RalphState:
    return msgspec.structs.replace(state, status="interrupted", current_story=None)


def _absolute(path: str, field: str) -> Path:
    where = Path(path).expanduser()
    if not where.is_absolute():
        raise InvalidParams(f"{field} {path!r} must be an absolute path", data={"field": field})
    return where.resolve()


# -- drafting a PRD ---------------------------------------------------------------------

_SYSTEM = """You write product requirement documents (PRDs) for an autonomous coding loop.
Answer with ONE JSON object and nothing else, in exactly this schema (snake_case):
{"project": str, "feature": str, "branch_name": str, "description": str,
 "quality_checks": {"typecheck": str|null, "lint": str|null, "test": str|null, "build": str|null},
 "user_stories": [{"id": "US-001", "title": str, "description": str, "acceptance_criteria": [str],
   "verification_steps": [str], "priority": int (1 = first), "depends_on": [story ids],
   "passes": false, "complexity": int 1-5}],
 "auto_commit": false}
Stories are small (one agent session each), ordered by priority, with dependencies only on
earlier stories. A verification step that is a shell command starts with "$ "; any other
step is read by a person. Quality checks are shell commands for this project, or null."""

_FENCE = re.compile(r"```(?:json)?\s*\n(.*?)```", re.DOTALL)


def _json_in(text: str) -> str:
    """The JSON object in a model's reply: the whole reply, a fenced block, or the text
    from the first ``{`` to the last ``}``."""
    text = text.strip()
    if text.startswith("{"):
        return text
    fenced = _FENCE.search(text)
    if fenced:
        return fenced.group(1).strip()
    start, end = text.find("{"), text.rfind("}")
    return text[start:end + 1] if 0 <= start < end else text


#: One model call: chat messages in, the reply's text out (:func:`chat_model`).
Chat = Callable[[list[dict[str, str]]], Awaitable[str]]


async def draft_prd(chat: Chat, feature: str, project: str = "", description: str = "",
                    ) -> tuple[dict[str, Any], bool]:
    """A PRD's JSON drafted by ``chat`` (:func:`chat_model`): one call, one repair with
    the errors; ProviderError when neither reply is a valid PRD. Every story starts
    not passing; ``project`` and ``feature`` are what was asked for."""
    ask = f"Feature: {feature}\nProject: {project or '(choose a short name)'}"
    if description:
        ask += f"\nDetails: {description}"
    messages = [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": ask}]
    error = ""
    for attempt in range(2):
        reply = await chat(messages)
        try:
            raw = json.loads(_json_in(reply))
            if isinstance(raw, dict):
                if project:
                    raw["project"] = project
                raw.setdefault("feature", feature)
                for story in raw.get("user_stories") or []:
                    if isinstance(story, dict):
                        story["passes"] = False
            parse_prd(json.dumps(raw), "the drafted PRD")
            return raw, attempt > 0
        except PrdError as exc:
            error = exc.message
        except (ValueError, RecursionError) as exc:
            error = f"the reply is not JSON: {str(exc)[:200]}"
        messages += [{"role": "assistant", "content": reply},
                     {"role": "user", "content": f"That is not a valid PRD: {error}\n"
                                                 "Answer with the corrected JSON object only."}]
    raise ProviderError(f"the model did not draft a valid PRD (after one repair): {error}")
