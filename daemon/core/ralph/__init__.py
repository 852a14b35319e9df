"""Ralph: the PRD loop. A ``prd.json`` (the seed's schema) is worked through story by
story, one fresh agent per iteration, each story done when its quality checks and its
verification steps pass; ``progress.txt`` beside the PRD is the loop's memory.

    PrdFile        a prd.json read, validated, marked and written back atomically
    next_story     the story to work on next (priority 1 first; dependencies passing)
    ready_stories  every story that may run now, in that order (none depends on another)
    widest_stage   how many unfinished stories could run together at most
    RalphLoop      one run: iterations, checks, commits, progress events, its state;
                   with ``parallel`` > 1 ready stories run together as a stage, each in
                   its own git worktree, merged back in priority order
    current_story  the story the calling agent's task works on (a stage runs several)
    RalphStore     where each PRD's last run is kept (``ralph status``)
    run_check      one shell check with a timeout and clipped output
    step_command   a verification step's command, or None for prose (manual)

The agent an iteration runs is injected (:data:`RunStoryAgent`); the daemon passes a new
session (``api/_runs.run_session``), tests a scripted one.
"""

from ._checks import clip, run_check, step_command
from ._loop import AfterIteration, Progress, RalphLoop, RunStoryAgent
from ._prd import (
    PrdError,
    PrdFile,
    next_story,
    parse_prd,
    prd_id,
    ready_stories,
    story_rows,
    validate_prd,
    widest_stage,
)
from ._progress import story_prompt
from ._stage import current_story
from ._store import RalphStore

__all__ = [
    "AfterIteration",
    "PrdError",
    "PrdFile",
    "Progress",
    "RalphLoop",
    "RalphStore",
    "RunStoryAgent",
    "clip",
    "current_story",
    "next_story",
    "parse_prd",
    "prd_id",
    "ready_stories",
    "run_check",
    "step_command",
    "story_prompt",
    "story_rows",
    "validate_prd",
    "widest_stage",
]
