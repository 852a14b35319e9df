"""``/go <intent>``: from an intent to shipped code, through a human gate.

A session prompt that starts with ``/go`` runs this flow instead of the plain agent, on
the same run path (``session/prompt``; events stream to whoever asked; ``session/cancel``
stops it; ``session/resume`` continues it):

1. **Draft.** One model call drafts an objective and 2–5 key results as JSON, each with
   its evidence (a check command, a test selection, a file or glob, a URL, a question);
   an unusable draft is repaired once with its problems quoted, then replaced by a
   template. The OKR and a run are stored (``okr/*``), the run ``pending_approval``.
2. **Gate.** A durable approval of tool ``okr`` (the draft as JSON in its arguments):
   the CLI asks y/n, the editors show an OKR gate, anything else decides it with
   ``approval/decide``. Deny records the reason and drafts again with it (at most
   :data:`MAX_DRAFTS` drafts); approve starts execution. The session's meta says where
   the flow is (``state["go"]``), so a daemon restart loses nothing: the daemon
   re-attaches every gate still pending when it starts (:func:`reattach_gates`).
3. **Execute.** The approved OKR becomes a ``prd.json`` (one story per key result, its
   evidence as the story's verification step) and the Ralph loop runs it; after every
   iteration each key result is measured from its own evidence and recorded. At the end
   a key result measured by a question is asked (the user's answer is its outcome). The
   run ends ``completed`` when every key result passes, else ``failed``.

Every audit record and event of the flow's session carries ``okr_id`` and ``okr_run_id``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from pathlib import Path
from typing import Any

import msgspec

from ..app import App
from ..core.okr import OkrStore, measure_run
from ..core.ralph import RalphLoop, RalphStore
from ..core.sessions import SessionRuntime
from ..core.tools import struct_schema
from ..errors import CodetetherError, InvalidParams
from ..wire import api
from ..wire.events import (
    ApprovalRequested,
    ApprovalResolved,
    Done,
    Notice,
    Progress,
    SessionEvent,
    TextChunk,
    UserMessage,
)
from ..wire.messages import Message, Usage
from ..wire.okr import (
    Evidence,
    KeyResult,
    KrOutcome,
    OkrCreateParams,
    OkrRun,
    OkrUpdateParams,
    QuestionEvidence,
)
from ..wire.ralph import RalphIteration, RalphProgress, RalphState
from ._runs import chat_model, run_session
from .okr import okr_store

__all__ = ["MAX_DRAFTS", "draft_prompt", "go_active", "is_go", "parse_draft", "reattach_gates", "run_go",
           "run_go_detached", "template_draft", "write_prd"]

log = logging.getLogger("codetether.go")

#: Drafts one /go makes at most (the first and the re-drafts after denials).
MAX_DRAFTS = 4
#: Ralph iterations a /go run may take.
MAX_ITERATIONS = 10
_GO = re.compile(r"^/go(\s|$)")


def is_go(text: str | None) -> bool:
    """Whether a prompt is a ``/go``."""
    return bool(text) and bool(_GO.match(text.lstrip()))  # type: ignore[union-attr]


# -- drafting -----------------------------------------------------------------------------


class Draft(msgspec.Struct, kw_only=True):
    """An objective as the model drafts it."""

    title: str
    description: str = ""
    key_results: list[KeyResult]


#: The draft's JSON Schema: structured output where the provider can enforce it.
DRAFT_SCHEMA: dict[str, Any] = struct_schema(Draft)

_SCHEMA = """Reply with one JSON object and nothing else:
{"title": "the objective, one line", "description": "why it matters, one or two sentences",
 "key_results": [{"title": "a measurable result", "target_value": 1, "unit": "",
   "metric_type": "binary" | "count" | "progress" | "latency" | "quality",
   "evidence": one of {"kind": "command", "command": "a shell command that exits 0 when it holds"},
                      {"kind": "tests", "command": "a test command, e.g. python -m pytest -q tests/test_x.py"},
                      {"kind": "file", "path": "a relative path or glob that must exist"},
                      {"kind": "url", "url": "http://... that must answer 2xx"},
                      {"kind": "question", "question": "what to ask the user, when nothing else can tell"}}]}
Give 2 to 5 key results. Each must be measurable by its own evidence, run in the workspace."""


def draft_prompt(intent: str, workspace: str, denials: list[str]) -> list[dict[str, str]]:
    """The drafting call: the intent, the workspace, earlier denials' reasons."""
    lines = [f"Intent: {intent}", f"Workspace: {workspace}"]
    if denials:
        lines.append("Earlier drafts were denied. Fix what the user said:")
        lines += [f"- {reason}" for reason in denials]
    return [{"role": "system", "content": "You turn an intent into an objective with measurable key results.\n"
             + _SCHEMA}, {"role": "user", "content": "\n".join(lines)}]


def parse_draft(text: str) -> Draft:
    """The draft in a model's reply (bare JSON, or in a fence, or with prose around it);
    InvalidParams listing every problem otherwise."""
    problems: list[str] = []
    for candidate in _json_objects(text):
        try:
            draft = msgspec.convert(candidate, Draft)
        except msgspec.ValidationError as exc:
            problems.append(str(exc))
            continue
        if not 2 <= len(draft.key_results) <= 5:
            problems.append(f"{len(draft.key_results)} key results: give 2 to 5")
            continue
        if not draft.title.strip():
            problems.append("the title is empty")
            continue
        return draft
    raise InvalidParams("not a usable objective: " + ("; ".join(problems[:3]) or "no JSON object in the reply"))


def _json_objects(text: str) -> list[Any]:
    found: list[Any] = []
    decoder = json.JSONDecoder()
    for start in [m.start() for m in re.finditer(r"\{", text[:200_000])][:32]:
        try:
            value, _ = decoder.raw_decode(text, start)
        except ValueError:
            continue
        if isinstance(value, dict):
            found.append(value)
    return found


def template_draft(intent: str, workspace: Path) -> Draft:
    """When the model cannot draft: the intent as the objective; its tests (when the
    workspace has a Python test setup), a clean commit and the user's word as key results."""
    def ev(raw: dict[str, str]) -> Evidence:
        evidence: Evidence = msgspec.convert(raw, Evidence)
        return evidence

    krs = []
    if any((workspace / name).exists() for name in ("pyproject.toml", "pytest.ini", "setup.cfg", "tests")):
        krs.append(KeyResult(title="The test suite passes", metric_type="quality",
                             evidence=ev({"kind": "tests", "command": "python -m pytest -q"})))
    else:
        krs.append(KeyResult(title="The work is committed", metric_type="binary",
                             evidence=ev({"kind": "command", "command": "git diff --quiet HEAD"})))
    krs.append(KeyResult(title="The user confirms the intent is met", metric_type="binary",
                         evidence=ev({"kind": "question", "question": f"Is this done: {intent}?"})))
    return Draft(title=intent[:200] or "(no intent)",
                 description="(drafted from a template: the model gave no usable draft)", key_results=krs)


# -- the flow -----------------------------------------------------------------------------


class _Go:
    """One /go in one session; its place in the flow is ``rt.meta.state["go"]``:
    ``{intent, phase: drafting|gate|executing|done, okr_id, run_id, approval_id, denials, drafts}``."""

    def __init__(self, app: App, rt: SessionRuntime, mode: str, env: dict[str, str] | None, *,
                 attached: bool = True) -> None:
        self.app = app
        self.rt = rt
        self.env = env
        #: Someone watches the run (a client asked for it): questions can be asked.
        self.attached = attached
        self.store: OkrStore = okr_store(app)
        self.state: dict[str, Any] = rt.meta.state.setdefault("go", {})
        # The mode and model the /go started with hold to its end, across resumes and restarts.
        self.asked_mode = mode
        self.mode = str(self.state.get("mode") or mode)
        self.model: str | None = self.state.get("model") or None

    def _save(self, **changes: Any) -> None:
        self.state.update(changes)
        self.rt.save_meta()

    async def _say(self, text: str) -> None:
        """Text the user reads, kept in the transcript."""
        await self.rt.emit(TextChunk(text=text))
        self.rt.append(Message(role="assistant", content=text))

    @property
    def by(self) -> str:
        return f"session:{self.rt.id}"

    async def run(self, text: str | None) -> api.PromptResult:
        if text is not None:
            intent = _GO.sub("", text.lstrip(), count=1).strip()
            if not intent:
                raise InvalidParams("/go needs an intent: /go <what you want done>", data={"field": "text"})
            self.rt.append(Message(role="user", content=text))
            await self.rt.emit(UserMessage(text=text))
            self.state.clear()
            self.mode, self.model = self.asked_mode, self.rt.meta.model
            self._save(intent=intent, phase="drafting", denials=[], drafts=0, mode=self.mode, model=self.model)
        steps = 0
        while True:
            phase = self.state.get("phase")
            steps += 1
            if phase == "drafting":
                await self._draft()
            elif phase == "gate":
                await self._gate()
            elif phase == "executing":
                await self._execute()
            else:
                summary = str(self.state.get("summary") or "done")
                await self.rt.emit(Done(stop_reason="end_turn", steps=steps, text=summary))
                return api.PromptResult(session_id=self.rt.id, stop_reason="end_turn", text=summary, steps=steps,
                                        usage=Usage())

    async def _draft(self) -> None:
        intent, denials = str(self.state["intent"]), list(self.state.get("denials") or [])
        drafts = int(self.state.get("drafts") or 0) + 1
        if drafts > MAX_DRAFTS:
            summary = (f"/go stopped: {MAX_DRAFTS} drafts were denied; last reason: "
                       f"{denials[-1] if denials else '(none)'}")
            await self._say(summary + "\n")
            self._save(phase="done", summary=summary)
            return
        await self.rt.emit(Progress(phase="generating", detail="drafting the objective"))
        chat = chat_model(self.app, self.model, self.env, schema=DRAFT_SCHEMA)
        messages = draft_prompt(intent, self.rt.meta.workspace, denials)
        reply = await chat(messages)
        try:
            draft = parse_draft(reply)
        except InvalidParams as exc:
            reply = await chat([*messages, {"role": "assistant", "content": reply},
                                {"role": "user", "content": f"That is not usable: {exc.message}. Reply with the "
                                                            "corrected JSON object only."}])
            try:
                draft = parse_draft(reply)
            except InvalidParams:
                draft = template_draft(intent, Path(self.rt.meta.workspace))
                await self.rt.emit(Notice(text="the model gave no usable objective: drafted from a template",
                                          level="info"))
        run_id = self.state.get("run_id")
        if run_id is None:
            okr = await self.store.create_okr(OkrCreateParams(
                title=draft.title, description=draft.description, key_results=draft.key_results, owner=self.by,
                tags=["go"]))
            run = await self.store.create_run(okr.id, by=self.by, session_id=self.rt.id,
                                              workspace=self.rt.meta.workspace)
            self._save(okr_id=okr.id, run_id=run.id)
        else:  # a re-draft after a denial: the same OKR and run, new content
            await self._settle_denial(str(run_id))
            await self._move(str(run_id), "draft", reason="re-draft")
            okr = await self.store.update_okr(OkrUpdateParams(
                okr_id=str(self.state["okr_id"]), title=draft.title, description=draft.description,
                key_results=draft.key_results))
        from ..wire.okr_draft import okr_lines

        body = {"okr_id": okr.id, "run_id": self.state["run_id"], "attempt": drafts, "title": okr.title,
                "description": okr.description, "key_results": msgspec.to_builtins(okr.key_results)}
        await self._say("Objective draft " + str(drafts) + ":\n  " + "\n  ".join(okr_lines(body)) + "\n")
        record = self.app.approvals.create(session_id=self.rt.id, call_id=f"go-{self.state['run_id']}-{drafts}",
                                           tool="okr", subject=okr.title, arguments=json.dumps(body))
        # Saved before the run moves: a stop in between is settled by the gate (_gate).
        self._save(phase="gate", drafts=drafts, approval_id=record.id)

    async def _gate(self) -> None:
        approval_id = str(self.state["approval_id"])
        await self._move(str(self.state["run_id"]), "pending_approval")
        record = self.app.approvals.get(approval_id)
        if record.status == "pending":
            await self.rt.emit(ApprovalRequested(approval_id=record.id, tool="okr", subject=record.subject,
                                                 arguments=record.arguments,
                                                 reason="approve this objective to start, or deny it with a reason"))
            record = await self.app.approvals.wait(approval_id)
        by, reason = record.decided_by or "user", record.reason
        await self.rt.emit(ApprovalResolved(approval_id=record.id, decision=record.status, by=by, rule=reason,
                                            tool="okr", subject=record.subject))
        run_id = str(self.state["run_id"])
        if record.status == "allow":
            self._save(phase="executing")  # then the run moves; _execute settles a stop in between
            await self._move(run_id, "approved", by=by, reason=reason)
            await self._say(f"Approved by {by}: starting.\n")
        else:
            denials = [*self.state.get("denials", []), reason or "(no reason given)"]
            self._save(phase="drafting", denials=denials)  # _draft settles a stop before the move
            await self._move(run_id, "denied", by=by, reason=reason or "denied")
            await self._say(f"Denied by {by}: {reason or '(no reason given)'}. Drafting again.\n")

    async def _execute(self) -> None:
        run_id = str(self.state["run_id"])
        run = await self.store.get_run(run_id)
        if run.status == "pending_approval":  # stopped between the decision and its move
            record = self.app.approvals.get(str(self.state["approval_id"]))
            run = await self._move(run_id, "approved", by=record.decided_by or "user", reason=record.reason)
        if run.status == "approved":
            run = await self._move(run_id, "running")
        okr = await self.store.get_okr(run.okr_id)
        workspace = Path(self.rt.meta.workspace)
        prd_path = self._prd_path(run_id)
        if not prd_path.exists():
            write_prd(prd_path, okr.title, okr.description, okr.key_results)
            await self.store.update_run(run_id, prd_path=str(prd_path))
            await self._say(f"PRD written: {prd_path} ({len(okr.key_results)} stories, one per key result)\n")

        async def forward(event: SessionEvent) -> None:
            # A story's approvals reach whoever watches the /go (the CLI, an editor); they are
            # decided by id like any other.
            if isinstance(event, (ApprovalRequested, ApprovalResolved)):
                await self.rt.emit(event)

        async def run_agent(prompt: str, where: Path) -> Any:
            return await run_session(self.app, where=where, prompt=prompt, mode=self.mode, model=self.model,
                                     title=f"/go {okr.title[:40]}: story", env=self.env, on_event=forward,
                                     principal=f"go:{run_id}", state={"go_story": {"okr_id": okr.id,
                                                                                   "run_id": run_id}})

        async def progress(event: RalphProgress) -> None:
            await self.rt.emit(Progress(phase="ralph", detail=f"{event.phase} {event.story or ''} {event.detail}"
                                        .strip()))

        async def after_iteration(_it: RalphIteration, _state: RalphState) -> bool | None:
            measured = await measure_run(self.store, run_id, workspace)
            lines = [f"{kr_id}: {p:.0%}" for kr_id, p in sorted(measured.kr_progress.items())]
            await self.rt.emit(Progress(phase="okr", detail="key results: " + ", ".join(lines)))
            return None

        loop = RalphLoop(prd_path, workspace, run_agent, max_iterations=MAX_ITERATIONS, progress=progress,
                         after_iteration=after_iteration, store=RalphStore(self.app.paths.data_dir / "ralph"),
                         approval_mode=self.mode, parallel=min(RalphLoop.independent_stories(prd_path), 4))
        try:
            state = await loop.run()
        except CodetetherError as exc:
            await self.store.transition(run_id, "failed", by=self.by, reason=exc.message)
            self._save(phase="done", summary=f"/go failed: {exc.message}")
            return
        measured = await measure_run(self.store, run_id, workspace)
        okr = await self.store.get_okr(run.okr_id)
        measured = await self._ask_questions(run_id, okr.key_results) or measured
        latest = {o.kr_id: o for o in measured.outcomes}
        lines, ok = [], True
        for kr in okr.key_results:
            out = latest.get(kr.id)
            ok = ok and out is not None and out.passed
            mark = "✓" if out is not None and out.passed else "✗"
            lines.append(f"{mark} {kr.title} ({measured.kr_progress.get(kr.id, 0.0):.0%}"
                         f"{': ' + out.evidence if out is not None and not out.passed else ''})")
        final = "completed" if ok else "failed"
        await self.store.transition(run_id, final, by=self.by,
                                    reason="" if ok else "key results not met after the PRD loop")
        summary = (f"/go {final}: {okr.title} (Ralph: {state.status}, {state.iteration} iterations)\n  "
                   + "\n  ".join(lines))
        await self._say(summary + "\n")
        self._save(phase="done", summary=summary)

    async def _ask_questions(self, run_id: str, key_results: list[KeyResult]) -> OkrRun | None:
        """A key result measured by a question is the user's word: asked now, through the
        session (the CLI's prompt, an editor's question gate), and recorded as its outcome."""
        outcomes = []
        for kr in key_results:
            if not isinstance(kr.evidence, QuestionEvidence):
                continue
            if not self.attached:  # re-attached after a restart: nobody is there to answer
                outcomes.append(KrOutcome(kr_id=kr.id, type="question", passed=False, at=time.time(),
                                          evidence="needs an answer: nobody was attached to ask "
                                                   f"({kr.evidence.question})"))
                continue
            answer = await self.rt.ask(kr.evidence.question, ["yes", "no"])
            passed = answer.strip().lower() in ("yes", "y")
            outcomes.append(KrOutcome(kr_id=kr.id, type="question", evidence=f"the user answered {answer!r}",
                                      passed=passed, at=time.time(), value=1.0 if passed else 0.0,
                                      progress=1.0 if passed else 0.0))
        return await self.store.record_measurement(run_id, outcomes) if outcomes else None

    def _prd_path(self, run_id: str) -> Path:
        return self.app.paths.data_dir / "go" / run_id / "prd.json"

    async def _move(self, run_id: str, to: str, *, by: str | None = None, reason: str = "") -> OkrRun:
        """Move the run to ``to`` unless it is there already (a step done before a stop)."""
        run = await self.store.get_run(run_id)
        if run.status == to:
            return run
        return await self.store.transition(run_id, to, by=by or self.by, reason=reason, expect=run.status)

    async def _settle_denial(self, run_id: str) -> None:
        """Before a re-draft: a run still pending (stopped between the denial and its move)
        is denied as its approval was."""
        run = await self.store.get_run(run_id)
        if run.status == "pending_approval":
            record = self.app.approvals.get(str(self.state["approval_id"]))
            await self._move(run_id, "denied", by=record.decided_by or "user", reason=record.reason or "denied")

    async def cancelled(self) -> None:
        """The run was cancelled by the user (not by a shutdown): the OKR run too, its gate
        if it is still open; the flow is over whatever fails here."""
        run_id = self.state.get("run_id")
        if self.state.get("phase") == "done":
            return
        try:
            if run_id:
                await self._move(str(run_id), "cancelled", reason="cancelled by the user")
            approval = self.state.get("approval_id")
            if approval and self.app.approvals.get(str(approval)).status == "pending":
                self.app.approvals.decide(str(approval), "deny", by="cancelled", reason="the /go was cancelled")
        except CodetetherError as exc:
            log.info("/go run %s: cancelling: %s", run_id, exc.message)
        finally:
            self._save(phase="done", summary="/go cancelled")


def write_prd(path: Path, title: str, description: str, key_results: list[KeyResult]) -> None:
    """The approved OKR as a prd.json: one story per key result, its evidence the story's
    verification step: a command or a test selection (what the user approved) runs; a file,
    a URL or a question stays prose (no shell is made from a model's path or URL: the key
    result's own measurement, confined to the workspace, judges them)."""
    from ..core.storage import atomic_write

    stories = []
    for i, kr in enumerate(key_results, 1):
        ev = msgspec.to_builtins(kr.evidence)
        kind = ev.get("kind")
        if kind in ("command", "tests"):
            step = f"$ {ev['command']}"  # the command the user approved, as approved
        elif kind == "file":  # prose: measured by the key result (confined, no shell), not here
            step = f"the file {ev['path']} exists in the workspace (measured by its key result)"
        elif kind == "url":
            step = f"{ev['url']} answers 2xx (measured by its key result)"
        else:
            step = str(ev.get("question") or "ask the user")
        stories.append({"id": f"KR-{i}", "title": kr.title, "description": f"Key result {i} of: {title}",
                        "acceptance_criteria": [f"{kr.title} (target {kr.target_value:g} {kr.unit})".strip()],
                        "verification_steps": [step], "priority": i, "depends_on": [], "passes": False,
                        "complexity": 3})
    prd = {"project": Path(path).parent.name, "feature": title, "branch_name": "", "description": description,
           "quality_checks": {}, "user_stories": stories, "auto_commit": False}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(prd, indent=2).encode())


async def run_go(app: App, rt: SessionRuntime, text: str | None, mode: str,
                 env: dict[str, str] | None, *, attached: bool = True) -> api.PromptResult:
    """Run (``text``) or continue (None) the /go of session ``rt`` (a run path's runner)."""
    flow = _Go(app, rt, mode, env, attached=attached)
    try:
        return await flow.run(text)
    except asyncio.CancelledError:
        if not app.stopping:  # a shutdown keeps the flow where it is, for the restart
            await asyncio.shield(flow.cancelled())
        raise


async def run_go_detached(app: App, rt: SessionRuntime, text: str | None, mode: str,
                          env: dict[str, str] | None) -> api.PromptResult:
    """Continue a /go nobody is attached to (its gate re-attached at start)."""
    return await run_go(app, rt, text, mode, env, attached=False)


def go_active(rt: SessionRuntime) -> bool:
    """Whether the session has a /go that has not ended (resume continues it)."""
    go = rt.meta.state.get("go")
    return isinstance(go, dict) and go.get("phase") not in (None, "done")


async def reattach_gates(app: App, sessions_api: Any) -> int:
    """At start: every /go gate still pending gets its flow back (waiting on the same
    durable approval), so a decision made later (or while the daemon was down) goes on.
    Returns how many were re-attached."""
    if not await asyncio.to_thread((app.paths.data_dir / "okr" / "okr.db").exists):
        return 0  # no OKR was ever made here: nothing to open at start
    store = okr_store(app)
    try:
        runs = await store.list_runs(status="pending_approval")
    except CodetetherError as exc:
        log.warning("/go gates not re-attached: %s", exc.message)
        return 0
    count = 0
    for run in runs:
        if not run.session_id:
            continue
        try:
            rt = app.runtime(run.session_id)
        except CodetetherError:
            continue
        if not go_active(rt) or rt.busy:
            continue
        app.add_job(asyncio.create_task(_drain(sessions_api.resume_go(rt, detached=True)),
                                        name=f"go-gate:{run.id}"))
        count += 1
    return count


async def _drain(items: Any) -> None:
    try:
        async for _ in items:
            pass
    except CodetetherError as exc:
        log.info("a re-attached /go ended: %s", exc.message)
