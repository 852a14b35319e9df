"""progress.txt, the loop's memory, and what an iteration's agent is told.

Each story an iteration worked on gets one entry, appended in one write; an agent is
shown the PRD, its story and the end of progress.txt (:func:`story_prompt`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ...wire.ralph import CHECK_ORDER, RalphIteration, UserStory
from ._prd import PrdFile

__all__ = ["PROGRESS_CHARS", "append_progress", "progress_entry", "read_progress", "story_prompt"]

#: Characters of progress.txt an agent is shown (its end: the latest iterations).
PROGRESS_CHARS = 12000


def story_prompt(prd: PrdFile, story: UserStory, progress: str) -> str:
    """What an iteration's agent is told: the PRD, its story, and progress.txt."""
    p = prd.prd
    checks = [f"- {name}: `{getattr(p.quality_checks, name)}`" for name in CHECK_ORDER
              if getattr(p.quality_checks, name)]
    steps = [f"- {s if isinstance(s, str) else json.dumps(s)}" for s in story.verification_steps]
    lines = [
        f"You are one iteration of a PRD-driven loop on project {p.project!r}, feature {p.feature!r}.",
        "You are a fresh agent: what earlier iterations did is in the code, git history and the progress "
        "log below. Implement ONLY the story below, completely, in this workspace.",
        "Do not edit prd.json: the loop marks the story as passing when the checks below pass.",
        "", "## The PRD", json.dumps(prd.raw, indent=2, ensure_ascii=False)[:20000],
        "", f"## Your story: {story.id}: {story.title}", story.description or "(no description)",
    ]
    if story.acceptance_criteria:
        lines += ["", "Acceptance criteria:", *[f"- {c}" for c in story.acceptance_criteria]]
    if steps:
        lines += ["", "Verification steps (commands are run after you; prose is for a person):", *steps]
    if checks:
        lines += ["", "Quality checks run after you, in order (all must pass):", *checks]
    text = progress[-PROGRESS_CHARS:] if progress else "(empty: this is the first iteration)"
    lines += ["", "## progress.txt (earlier iterations)", text]
    return "\n".join(lines)


def read_progress(path: Path) -> str:
    """progress.txt's text ("" before the first iteration)."""
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def append_progress(path: Path, text: str) -> None:
    """Append ``text`` to progress.txt."""
    # One write of the whole entry: a reader never sees half an iteration.
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text)


def progress_entry(r: RalphIteration) -> str:
    """One story's entry of an iteration, as progress.txt keeps it."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.finished_at or time.time()))
    lines = [f"## Iteration {r.iteration}: {r.story_id} {r.story_title}: {r.outcome} ({when})"]
    if r.stage:
        lines.append(f"  stage: {', '.join(r.stage)} in parallel, each in its own git worktree")
    if r.merge in ("merged", "unchanged"):
        lines.append(f"  merge: {r.merge}")
    elif r.merge:
        files = f" ({', '.join(r.merge_files)})" if r.merge_files else ""
        lines.append(f"  merge: {r.merge}{files}; branch kept: {r.branch}")
        if r.merge_detail:
            lines.append(f"    | {r.merge_detail.strip().replace(chr(10), ' ')[:400]}")
    if r.agent_stop_reason:
        lines.append(f"  agent: {r.agent_stop_reason}" + (f" (session {r.session_id})" if r.session_id else ""))
    if r.checks:
        lines.append("  checks: " + ", ".join(f"{c.name} {c.status}" for c in r.checks))
    for c in r.checks:
        if c.status == "manual":
            lines.append(f"  manual step (for a person): {c.command}")
    if r.failed_check:
        lines.append(f"  failing check: {r.failed_check}")
        lines += [f"    | {line}" for line in r.failed_output.splitlines()[-60:]]
    if r.agent_text and r.outcome != "agent_error":
        lines.append("  agent said: " + r.agent_text.strip().replace("\n", " ")[:400])
    return "\n".join(lines) + "\n\n"
