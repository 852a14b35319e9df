"""A swarm on the wire: its plan, each subtask's result, the merge-back report, the
persisted state, and the progress events published while it runs.

A plan is what one model call decomposes a task into::

    {"subtasks": [{"name", "instruction", "specialty", "dependencies": [names],
                   "priority", "needs_worktree"}]}

Unknown fields in a model's plan are ignored (models add commentary); everything the
daemon writes itself is exact. Timestamps are Unix time in seconds.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import msgspec
from msgspec import Meta

__all__ = [
    "DiffSummary",
    "FileDiff",
    "MergeOutcome",
    "MergeReport",
    "MergeStatus",
    "Plan",
    "STRATEGIES",
    "Strategy",
    "Subtask",
    "SubtaskResult",
    "SubtaskStatus",
    "SwarmPhase",
    "SwarmEventNote",
    "SwarmIdParams",
    "SwarmListParams",
    "SwarmProgress",
    "SwarmStartParams",
    "SwarmState",
    "SwarmStatus",
    "describe_progress",
]

Strategy = Literal["auto", "domain", "data", "stage", "none"]
STRATEGIES: tuple[str, ...] = ("auto", "domain", "data", "stage", "none")

SwarmStatus = Literal["planning", "running", "synthesizing", "completed", "failed", "cancelled"]
SubtaskStatus = Literal["done", "failed", "cancelled", "skipped"]

# Merge-back of one subtask's branch into the main work tree:
#   merged     its commits are in the main tree's HEAD now
#   unchanged  the subtask committed nothing: nothing to merge
#   conflict   the merge conflicted (``files``); it was aborted, the branch is kept
#   refused    not attempted: the main tree had uncommitted changes or was mid-merge
#   failed     git refused for another reason (``detail``); nothing was changed
MergeStatus = Literal["merged", "unchanged", "conflict", "refused", "failed"]

# Progress phases. Per subtask: started, done, failed, cancelled, skipped (``subtask``
# set). Per swarm: planning, planned, stage (``detail`` names the stage's subtasks),
# merging, merged, conflict, synthesizing, completed, failed, cancelled.
SwarmPhase = Literal[
    "planning", "planned", "stage", "started", "done", "failed", "cancelled", "skipped",
    "merging", "merged", "conflict", "synthesizing", "completed", "approval", "agent",
]


class Subtask(msgspec.Struct, frozen=True, kw_only=True):
    """One unit of a plan. ``dependencies`` name other subtasks of the same plan; a
    higher ``priority`` runs earlier within its stage; ``needs_worktree`` marks a subtask
    that changes files, so it gets its own git worktree and branch."""

    name: str
    instruction: str
    specialty: str = ""
    dependencies: tuple[str, ...] = ()
    priority: int = 0
    needs_worktree: bool = False


class Plan(msgspec.Struct, frozen=True):
    """A validated decomposition (see ``core.agents.parse_plan``)."""

    subtasks: tuple[Subtask, ...]


class FileDiff(msgspec.Struct, frozen=True, kw_only=True):
    """One file a subtask changed; a binary file counts no lines."""

    path: str
    added: int = 0
    removed: int = 0
    binary: bool = False


class DiffSummary(msgspec.Struct, frozen=True, kw_only=True):
    """What a subtask's branch changed against the swarm's base commit."""

    files: tuple[FileDiff, ...] = ()
    added: int = 0
    removed: int = 0

    @property
    def files_changed(self) -> int:
        return len(self.files)


class SubtaskResult(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """How one subtask ended. ``error`` says why it failed, was cancelled or skipped (a
    skipped subtask names the failed dependency); ``branch`` and ``diff`` are set for a
    subtask that worked in its own worktree."""

    name: str
    status: SubtaskStatus
    output: str = ""
    error: str | None = None
    diff: DiffSummary | None = None
    branch: str | None = None
    steps: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    started_at: float | None = None
    finished_at: float | None = None


class MergeOutcome(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The merge-back of one subtask's branch; ``files`` are the conflicted paths."""

    subtask: str
    branch: str
    status: MergeStatus
    files: tuple[str, ...] = ()
    detail: str = ""


class MergeReport(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Every branch's merge-back, in dependency (stage) order. ``refused`` says why
    nothing was merged at all (the main tree had uncommitted changes)."""

    outcomes: tuple[MergeOutcome, ...] = ()
    refused: str | None = None

    @property
    def clean(self) -> bool:
        """Every branch merged or had nothing to merge."""
        return self.refused is None and all(o.status in ("merged", "unchanged") for o in self.outcomes)


class SwarmState(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A swarm as persisted: enough to answer ``swarm status`` and to resume after a
    restart. ``stages`` are the plan's topological levels (names); ``results`` hold every
    subtask that ended; ``base_commit`` is the main tree's HEAD when the swarm started
    (each worktree branches from it)."""

    id: str
    task: str
    strategy: Strategy = "auto"
    max_subagents: int = 8
    status: SwarmStatus = "planning"
    plan: Plan | None = None
    stages: tuple[tuple[str, ...], ...] = ()
    results: dict[str, SubtaskResult] = {}
    merge: MergeReport | None = None
    answer: str | None = None
    error: str | None = None
    base_commit: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    #: How it runs, kept so ``swarm resume`` runs it the same way after a restart.
    workspace: str = ""
    approval_mode: str = "ask"
    model: str | None = None
    execution: Literal["local", "cluster"] = "local"
    concurrency: int = 0
    fail_fast: bool = False


class SwarmProgress(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One progress event of a swarm (published on ``swarm.{id}``); ``subtask`` is unset
    for swarm-wide phases."""

    swarm_id: str
    phase: SwarmPhase
    subtask: str | None = None
    detail: str = ""
    ts: float = 0.0


# -- the daemon's swarm methods ---------------------------------------------------------


class SwarmStartParams(msgspec.Struct, forbid_unknown_fields=True):
    """``swarm/start``: decompose ``task`` and run it in ``workspace`` (a directory; a git
    repository gets a worktree per subtask that changes files)."""

    task: Annotated[str, Meta(min_length=1)]
    workspace: str
    strategy: Strategy = "auto"
    max_subagents: Annotated[int, Meta(ge=1, le=64)] = 8
    #: Subtasks running at once (default: max_subagents, at most the configured cap).
    concurrency: Annotated[int, Meta(ge=1, le=64)] | None = None
    #: The first failure stops the swarm (default: it fails only its dependants).
    fail_fast: bool = False
    approval_mode: Literal["ask", "auto", "plan"] | None = None
    model: str | None = None
    #: "local" runs subtasks in this daemon, "cluster" on workers over the bus (default: config).
    execution: Literal["local", "cluster"] | None = None
    env: dict[str, str] = {}


class SwarmIdParams(msgspec.Struct, forbid_unknown_fields=True):
    swarm_id: str
    env: dict[str, str] = {}


class SwarmListParams(msgspec.Struct, forbid_unknown_fields=True):
    limit: Annotated[int, Meta(ge=1, le=1000)] = 50


class SwarmEventNote(msgspec.Struct, forbid_unknown_fields=True):
    """One progress event of a swarm the caller runs (a ``swarm/event`` notification)."""

    METHOD: ClassVar[str] = "swarm/event"

    event: SwarmProgress


def describe_progress(event: dict[str, object]) -> str | None:
    """One line for a person watching a swarm (the CLI, an editor's chat), from a
    progress event as it arrives on the wire; None for events not worth a line."""
    phase, sub, detail = event.get("phase"), event.get("subtask"), str(event.get("detail") or "")
    if phase == "planning":
        return f"swarm {event.get('swarm_id')}: planning ({detail})…"
    if phase == "planned":
        stages = [s.split(", ") for s in detail.split(" | ")] if detail else []
        return "plan: " + "  →  ".join(f"stage {i + 1}: {', '.join(s)}" for i, s in enumerate(stages))
    if phase == "started":
        return f"▶ {sub}"
    if phase == "agent":
        return f"  {sub}: {detail}"
    if phase == "approval":
        approval_id, _, rest = detail.partition(" ")
        return f"  {sub} asks to run {rest} (approval {approval_id})"
    if phase in ("done", "failed", "cancelled", "skipped") and sub:
        mark = {"done": "✓", "failed": "✗", "cancelled": "■", "skipped": "–"}[str(phase)]
        return f"{mark} {sub} {phase}{': ' + detail if detail else ''}"
    if phase == "conflict":
        return f"! merge of {sub}: {detail}"
    if phase == "merged":
        return f"merged: {detail}"
    if phase in ("merging", "synthesizing"):
        return f"{phase}{' ' + detail if detail else ''}…"
    if phase in ("failed", "cancelled"):
        return f"swarm {phase}{': ' + detail if detail else ''}"
    return None
