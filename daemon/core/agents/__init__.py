"""Agents together: the model-independent parts of a swarm.

    plan_subtasks   one model call decomposes a task; the plan is validated
                    (:func:`parse_plan`, :class:`PlanError`), repaired once, and
                    otherwise falls back to one subtask (:func:`fallback_plan`)
    stages          a plan's dependencies as topological levels
    run_stages      runs the levels in order, each level's subtasks in parallel under a
                    cap; a failure skips its dependants; cancel leaves nothing running
    Worktrees       a git worktree and branch per mutating subtask; merge-back in
                    dependency order with conflicts reported and aborted
    SwarmStore      swarm state as one JSON file per swarm, for status and resume
    Swarm           one swarm from plan to synthesis, saved after every change; where a
                    subtask's agent runs is injected (:data:`RunAgent`)

The model is injected (:data:`ChatModel`) and progress goes to a callback
(:data:`ProgressCallback`): this room needs neither a provider nor the bus.
"""

from ._git import GitError, GitResult, git
from ._plan import (
    ChatModel,
    PlanError,
    fallback_plan,
    parse_plan,
    plan_prompt,
    plan_subtasks,
    validate_plan,
)
from ._stages import (
    ProgressCallback,
    RunSubtask,
    run_stages,
    stages,
)
from ._store import (
    SwarmStore,
    new_swarm_id,
)
from ._swarm import AgentOutcome, RunAgent, Swarm, subtask_prompt, synthesis_prompt
from ._worktrees import (
    Worktree,
    Worktrees,
    branch_name,
    slug,
)

__all__ = [
    "AgentOutcome",
    "ChatModel",
    "GitError",
    "GitResult",
    "PlanError",
    "ProgressCallback",
    "RunAgent",
    "RunSubtask",
    "Swarm",
    "SwarmStore",
    "Worktree",
    "Worktrees",
    "branch_name",
    "fallback_plan",
    "git",
    "new_swarm_id",
    "parse_plan",
    "plan_prompt",
    "plan_subtasks",
    "run_stages",
    "slug",
    "stages",
    "subtask_prompt",
    "synthesis_prompt",
    "validate_plan",
]
