"""Ralph: the PRD loop. A ``prd.json`` (the seed's schema) is worked through story by
story, one fresh agent per iteration, each story done when its quality checks and its
verification steps pass; ``progress.txt`` beside the PRD is the loop's memory.

    PrdFile        a prd.json read, validated, marked and written back atomically
    next_story     the story to work on next (priority 1 first; dependencies passing)
    RalphLoop      one run: iterations, checks, commits, progress events, its state
    RalphStore     where each PRD's last run is kept (``ralph status``)
    run_check      one shell check with a timeout and clipped output
    step_command   a verification step's command, or None for prose (manual)

The agent an iteration runs is injected (:data:`RunStoryAgent`); the daemon passes a new
session (``api/_runs.run_session``), tests a scripted one.
"""

from ._checks import clip, run_check, step_command
from ._loop import AfterIteration, Progress, RalphLoop, RunStoryAgent, story_prompt
from ._prd import PrdError, PrdFile, next_story, parse_prd, prd_id, story_rows, validate_prd
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
    "next_story",
    "parse_prd",
    "prd_id",
    "run_check",
    "step_command",
    "story_prompt",
    "story_rows",
    "validate_prd",
]
