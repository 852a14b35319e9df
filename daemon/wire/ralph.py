"""Ralph on the wire: the seed's ``prd.json``, a run's persisted state, its progress
events, and the ``ralph/*`` params and results.

A ``prd.json`` (the seed's schema, snake_case)::

    {"project": "my-app", "feature": "User Auth", "branch_name": "ralph/user-auth",
     "description": "...", "auto_commit": true,
     "quality_checks": {"typecheck": "mypy .", "lint": null, "test": "pytest -q", "build": null},
     "user_stories": [{"id": "US-001", "title": "...", "description": "...",
                       "acceptance_criteria": ["..."], "verification_steps": ["$ test -f a.py"],
                       "priority": 1, "depends_on": [], "passes": false, "complexity": 3}]}

Only ``project``, ``feature`` and each story's ``id`` and ``title`` are required; the
rest default as the seed does (``priority`` 1, ``complexity`` 3; ``dependencies`` is read
as ``depends_on``). **Priority 1 is the highest** (the seed's rule). Fields this schema
does not know are ignored when reading and kept when the loop writes the file back
(the loop edits the JSON it read, it never re-serializes these Structs over it).

A verification step is a string or ``{"command": "..."}``: a string that starts with
``"$ "``, or is wholly wrapped in single backticks, is a shell command; any other string
is prose for a person (recorded as ``manual``, never blocking).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import msgspec
from msgspec import Meta

__all__ = [
    "CHECK_ORDER",
    "CheckResult",
    "CheckStatus",
    "IterationOutcome",
    "MergeStatus",
    "Prd",
    "QualityChecks",
    "RalphCancelParams",
    "RalphCreatePrdParams",
    "RalphEventNote",
    "RalphIteration",
    "RalphPhase",
    "RalphPrdResult",
    "RalphProgress",
    "RalphRunParams",
    "RalphState",
    "RalphStatus",
    "RalphStatusParams",
    "RalphStatusResult",
    "StoryRow",
    "StoryStatus",
    "UserStory",
    "describe_progress",
]

#: The quality checks, in the order they run.
CHECK_ORDER: tuple[str, ...] = ("typecheck", "lint", "test", "build")


class QualityChecks(msgspec.Struct, kw_only=True):
    """One shell command per check, run in the workspace after every iteration; None
    (or absent) skips it."""

    typecheck: str | None = None
    lint: str | None = None
    test: str | None = None
    build: str | None = None


class UserStory(msgspec.Struct, kw_only=True):
    """One story: done when its quality checks and command verification steps pass."""

    id: str
    title: str
    description: str = ""
    acceptance_criteria: list[str] = []
    verification_steps: list[str | dict[str, Any]] = []
    priority: int = 1
    depends_on: list[str] = []
    #: The seed's older spelling of ``depends_on``; merged into it on load.
    dependencies: list[str] = []
    passes: bool = False
    complexity: int | str | None = 3


class Prd(msgspec.Struct, kw_only=True):
    """A product requirements document: the stories Ralph works through."""

    project: str
    feature: str
    branch_name: str = ""
    description: str = ""
    quality_checks: QualityChecks = msgspec.field(default_factory=QualityChecks)
    user_stories: list[UserStory] = []
    auto_commit: bool = False


# -- a run ------------------------------------------------------------------------------

#   running         an iteration is under way
#   completed       every story passes
#   max_iterations  the run used its iterations with stories left
#   stopped         the after-iteration hook asked to stop (``/go``: its key results are met)
#   cancelled       cancelled (``ralph/cancel``, Ctrl-C, the caller went away, shutdown)
#   failed          the run itself broke (the PRD became unreadable, a hook raised)
#   interrupted     saved as running by a daemon that is gone (``ralph run`` continues it)
RalphStatus = Literal["running", "completed", "max_iterations", "stopped", "cancelled", "failed",
                      "interrupted"]
CheckStatus = Literal["passed", "failed", "timeout", "manual"]
#   passed       the story passes now   failed       a check or step failed
#   agent_error  the agent's run ended in an error (no checks run)   cancelled
#   not_merged   run in a stage: its branch did not merge back (a conflict, a refused or
#                failed merge); no checks run, the branch is kept (``branch``)
IterationOutcome = Literal["passed", "failed", "agent_error", "cancelled", "not_merged"]
#: How a stage's story came back into the main tree (``core.agents`` merge statuses).
MergeStatus = Literal["merged", "unchanged", "conflict", "refused", "failed"]
StoryStatus = Literal["passes", "ready", "blocked"]


class CheckResult(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One quality check (``name`` typecheck/lint/test/build) or verification step
    (``name`` ``verify[i]``) and how it ended; ``output`` is stdout+stderr, clipped."""

    name: str
    command: str
    status: CheckStatus
    exit_code: int | None = None
    output: str = ""
    duration_ms: float = 0.0


class RalphIteration(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One story of an iteration: a fresh agent on ``story_id``, then the checks. An
    iteration that ran a stage (several stories in parallel, ``stage`` their ids in
    merge order) has one record per story, all with the same ``iteration``; ``branch``
    is the story's worktree branch and ``merge`` how it came back."""

    iteration: int
    story_id: str
    story_title: str = ""
    outcome: IterationOutcome
    #: The first check or step that failed (its name), and its clipped output.
    failed_check: str | None = None
    failed_output: str = ""
    checks: tuple[CheckResult, ...] = ()
    agent_stop_reason: str = ""
    agent_text: str = ""
    session_id: str = ""
    commit: str | None = None
    commit_error: str | None = None
    started_at: float = 0.0
    finished_at: float = 0.0
    stage: tuple[str, ...] = ()
    branch: str | None = None
    merge: MergeStatus | None = None
    #: Files a conflicted merge left unmerged, or why a merge was refused/failed.
    merge_files: tuple[str, ...] = ()
    merge_detail: str = ""


class RalphState(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A run as persisted (``ralph status``; ``ralph run`` on the same PRD continues:
    what passes is in prd.json itself). ``iteration`` counts this run's iterations;
    during a stage ``current_story`` names every story of it (``"US-1, US-2"``);
    ``parallel`` is the most stories one iteration may run together."""

    prd_id: str
    prd_path: str
    workspace: str
    status: RalphStatus = "running"
    iteration: int = 0
    max_iterations: int = 10
    current_story: str | None = None
    stories_total: int = 0
    stories_passed: int = 0
    iterations: tuple[RalphIteration, ...] = ()
    error: str | None = None
    model: str | None = None
    approval_mode: str = "ask"
    created_at: float = 0.0
    updated_at: float = 0.0
    parallel: int = 1


# Progress phases: started (the run), story (an iteration begins: ``story``, ``iteration``),
# agent (a tool the agent calls), approval (the agent waits for one), check (a quality
# check or step ended: ``detail`` "name status"), passed / failed (the iteration's end),
# committed, then the run's end: completed, max_iterations, stopped, cancelled, failed.
# A stage adds: stage (before its stories' ``story`` events: ``stories`` names them all;
# also when ready stories run one at a time instead, ``detail`` saying why) and merge (a
# story's branch merged back or not: ``detail`` "merged", "conflict: files; branch kept").
RalphPhase = Literal["started", "stage", "story", "agent", "approval", "check", "merge", "passed", "failed",
                     "committed", "completed", "max_iterations", "stopped", "cancelled"]


class RalphProgress(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One progress event of a run (also on the bus topic ``ralph.{prd_id}`` as a
    ``task_update`` whose ``metadata`` is this event)."""

    prd_id: str
    phase: RalphPhase
    story: str | None = None
    iteration: int = 0
    detail: str = ""
    ts: float = 0.0
    #: The stories of a stage (phase ``stage``; also the ``committed`` of a stage).
    stories: tuple[str, ...] = ()


# -- the daemon's ralph methods ---------------------------------------------------------


class RalphCreatePrdParams(msgspec.Struct, forbid_unknown_fields=True):
    """``ralph/create_prd``: one model call drafts a PRD for ``feature``, written to
    ``out`` (an absolute path; an existing file is not overwritten unless ``overwrite``)."""

    feature: Annotated[str, Meta(min_length=1)]
    out: str
    project_name: str = ""
    description: str = ""
    model: str | None = None
    overwrite: bool = False
    env: dict[str, str] = {}


class RalphPrdResult(msgspec.Struct, forbid_unknown_fields=True):
    """The PRD written: where, and what (``repaired``: the first draft was invalid)."""

    path: str
    prd: Prd
    repaired: bool = False


class RalphRunParams(msgspec.Struct, forbid_unknown_fields=True):
    """``ralph/run``: work through ``prd`` (an absolute path to a prd.json) in
    ``workspace`` (default: the PRD's directory)."""

    prd: str
    workspace: str | None = None
    max_iterations: Annotated[int, Meta(ge=1, le=1000)] = 10
    model: str | None = None
    approval_mode: Literal["ask", "auto", "plan"] | None = None
    env: dict[str, str] = {}
    #: Most stories one iteration runs together, each in its own git worktree (1: one
    #: at a time, in the workspace itself).
    parallel: Annotated[int, Meta(ge=1, le=16)] = 1


class RalphStatusParams(msgspec.Struct, forbid_unknown_fields=True):
    """``ralph/status``: a PRD by path (absolute) or by its id."""

    prd: str


class RalphCancelParams(msgspec.Struct, forbid_unknown_fields=True):
    """``ralph/cancel``: a PRD by path (absolute) or by its id."""

    prd: str


class StoryRow(msgspec.Struct, frozen=True, kw_only=True):
    """A story as ``ralph status`` shows it."""

    id: str
    title: str
    priority: int
    depends_on: tuple[str, ...]
    status: StoryStatus


class RalphStatusResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A PRD's stories (from prd.json, now) and its last run (None: never run)."""

    prd_id: str
    prd_path: str
    project: str = ""
    feature: str = ""
    stories: tuple[StoryRow, ...] = ()
    passed: int = 0
    total: int = 0
    next_story: str | None = None
    run: RalphState | None = None
    #: Why prd.json could not be read now (the run's state is still shown).
    prd_error: str | None = None


class RalphEventNote(msgspec.Struct, forbid_unknown_fields=True):
    """One progress event of the run the caller started (a ``ralph/event`` notification)."""

    METHOD: ClassVar[str] = "ralph/event"

    event: RalphProgress


def describe_progress(event: dict[str, object]) -> str | None:
    """One line for a person watching a run (the CLI, an editor), from a progress event
    as it arrives on the wire; None for events not worth a line."""
    phase, story, detail = event.get("phase"), event.get("story"), str(event.get("detail") or "")
    n = event.get("iteration") or 0
    if phase == "started":
        return f"ralph {event.get('prd_id')}: {detail}"
    if phase == "stage":
        return f"▶ iteration {n}: {detail}"
    if phase == "story":
        return f"▶ iteration {n}: {story} {detail}".rstrip()
    if phase == "merge":
        return f"  merge {story}: {detail}"
    if phase == "agent":
        return f"  {story}: {detail}"
    if phase == "approval":
        approval_id, _, rest = detail.partition(" ")
        return f"  {story} asks to run {rest}: `codetether approvals allow {approval_id}`"
    if phase == "check":
        return f"  check {detail}"
    if phase == "passed":
        return f"✓ {story} passes{': ' + detail if detail else ''}"
    if phase == "failed" and story:
        return f"✗ {story} failed{': ' + detail if detail else ''}"
    if phase == "committed":
        return f"  committed {detail}"
    if phase in ("completed", "max_iterations", "stopped", "cancelled", "failed"):
        return f"ralph {phase}{': ' + detail if detail else ''}"
    return None
