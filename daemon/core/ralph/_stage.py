"""A stage: several ready stories of one iteration run together, each in a git worktree.

The loop (:mod:`._loop`) decides when; this module holds the git side and the parallel
agents. Every story of a stage gets a worktree and branch from the main tree's HEAD at
the iteration's start (``core.agents.Worktrees``: ``codetether/swarm/<stage>/<story>``),
in a folder outside the repository. Its agent works there (in the same subdirectory the
workspace is of the repository); then its work is committed on its branch, minus any
change to the loop's own files (prd.json, progress.txt: they belong to the loop), and
the branches merge back into the main tree in priority order (``Worktrees.merge``: a
conflict is aborted and reported, later branches are still tried, the main tree is
never left mid-merge).

The main tree's "dirty" check (which refuses a stage, see :class:`StageTrees`) ignores
the loop's own files: the loop itself leaves progress.txt and prd.json changed between
iterations when nothing commits them, and a merge never touches them (their changes
are dropped from every branch), so git merges around them safely.

Which story an agent works on is told to it by a context variable (:func:`current_story`),
so the agent callback keeps its ``(prompt, workspace)`` signature.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from ...wire.ralph import UserStory
from ..agents import AgentOutcome, Worktree, Worktrees
from ..agents import git as run_git

__all__ = ["Repo", "StageTrees", "StoryRun", "commit_all", "current_story", "find_repo", "git", "run_agents", "set_story",
           "stage_id"]

_STORY: ContextVar[str | None] = ContextVar("ralph_story", default=None)

#: run_agent(prompt, workspace), as the loop's.
_RunAgent = Callable[[str, Path], Awaitable[AgentOutcome]]


def current_story() -> str | None:
    """The id of the story whose agent runs in the calling task (None outside one)."""
    return _STORY.get()


def set_story(story_id: str | None) -> None:
    """Name the story the calling task's agent works on (see :func:`current_story`)."""
    _STORY.set(story_id)


async def git(cwd: Path, *args: str) -> tuple[int, str, str]:
    """``git -C cwd args``: exit code, stdout, stderr (the swarm's one runner; no terminal
    prompt, ever; a cancel kills it and waits)."""
    result = await run_git(cwd, *args, check=False)
    return result.code, result.out, result.err


@dataclass(frozen=True, slots=True)
class Repo:
    """The git repository a workspace lies in: its top level, the workspace's path
    inside it ("" at the top), and the loop's own files relative to the top."""

    root: Path
    subdir: str
    own: frozenset[str]

    def inside(self, tree: Worktree) -> Path:
        """Where an agent works in ``tree``: the workspace's place in it."""
        return tree.path / self.subdir if self.subdir else tree.path


async def find_repo(workspace: Path, own_files: Sequence[Path]) -> Repo | None:
    """The repository of ``workspace`` when it is in a git work tree with a commit; None
    otherwise (then the loop runs one story at a time, as it always did)."""
    code, out, _ = await git(workspace, "rev-parse", "--show-toplevel", "--verify", "HEAD^{commit}")
    if code != 0 or not out.strip():
        return None
    return _repo(Path(out.splitlines()[0]), workspace, own_files)


def _repo(top: Path, workspace: Path, own_files: Sequence[Path]) -> Repo | None:
    root = top.resolve()
    try:
        subdir = str(workspace.resolve().relative_to(root))
    except ValueError:
        return None
    own = set()
    for path in own_files:
        try:
            own.add(str(path.resolve().relative_to(root)))
        except ValueError:
            continue  # outside the repository: no branch can touch it
    return Repo(root=root, subdir="" if subdir == "." else subdir, own=frozenset(own))


async def commit_all(workspace: Path, subject: str, body: str) -> tuple[str | None, str | None]:
    """Commit everything under ``workspace``: (the commit, None) or (None, why not)."""
    code, out, err = await git(workspace, "rev-parse", "--is-inside-work-tree")
    if code != 0 or out.strip() != "true":
        return None, "not a git work tree: nothing committed"
    code, out, err = await git(workspace, "add", "-A", "--", ".")
    if code == 0:
        code, out, err = await git(workspace, "diff", "--cached", "--quiet")
        if code == 0:
            return None, "nothing to commit"
        code, out, err = await git(workspace, "commit", "-q", "-m", subject, "-m", body)
        if code == 0:
            code, out, err = await git(workspace, "rev-parse", "HEAD")
            if code == 0:
                return out.strip(), None
    text = (err or out).strip()
    return None, f"git failed: {text[:300]}{' …' if len(text) > 300 else ''}"


class StageTrees(Worktrees):
    """``core.agents.Worktrees`` whose dirty check ignores the loop's own files (see the
    module docstring); the rest (the lock, merge, cleanup) is the swarm's."""

    def __init__(self, repo: Repo, base_dir: Path) -> None:
        super().__init__(repo.root, base_dir)
        self.repo = repo

    async def dirty(self) -> str | None:
        """Why the main tree cannot take a stage's merges now, or None when it can."""
        code, out, err = await git(self.repo_root, "status", "--porcelain=v1", "-z", "--untracked-files=no")
        if code != 0:
            return f"git status failed: {err.strip()[:200]}"
        changed = sorted({e[3:] for e in out.split("\0") if len(e) > 3 and e[2] == " "} - self.repo.own)
        if changed:
            shown = ", ".join(changed[:10]) + (" …" if len(changed) > 10 else "")
            return f"the main work tree has uncommitted changes ({shown})"
        code, out, _ = await git(self.repo_root, "rev-parse", "--absolute-git-dir")
        gitdir = Path(out.strip())
        for marker, what in (("MERGE_HEAD", "a merge"), ("CHERRY_PICK_HEAD", "a cherry-pick"),
                             ("REVERT_HEAD", "a revert"), ("rebase-merge", "a rebase"),
                             ("rebase-apply", "a rebase")):
            if code == 0 and (gitdir / marker).exists():
                return f"{what} is in progress in the main work tree"
        return None

    async def drop_own_changes(self, tree: Worktree) -> None:
        """Undo an agent's changes to the loop's files in its worktree, so its branch
        never carries them (the loop writes them in the main tree)."""
        for rel in sorted(self.repo.own):
            known = await git(tree.path, "cat-file", "-e", f"{tree.base}:{rel}")
            if known[0] == 0:
                await git(tree.path, "checkout", "--quiet", tree.base, "--", rel)
            else:
                (tree.path / rel).unlink(missing_ok=True)


@dataclass(slots=True)
class StoryRun:
    """One story of a stage: its worktree, how its agent ended, when it started."""

    story: UserStory
    tree: Worktree
    started: float
    outcome: AgentOutcome | None = None


async def run_agents(trees: StageTrees, runs: list[StoryRun], prompts: list[str], run_agent: _RunAgent,
                     agent_failed: frozenset[str]) -> None:
    """Run every story's agent in its worktree, all at once, and commit each one's work on
    its branch (an agent that failed commits nothing: its branch stays unchanged). An
    exception from an agent is that story's ``error`` outcome, not the stage's failure.
    Cancelled: every agent is cancelled and awaited (TaskGroup), then it re-raises."""

    async def one(run: StoryRun, prompt: str) -> None:
        set_story(run.story.id)  # this task's own context: the agent sees its story
        where = trees.repo.inside(run.tree)
        try:
            where.mkdir(parents=True, exist_ok=True)  # a workspace folder git does not track yet
            run.outcome = await run_agent(prompt, where)
        except Exception as exc:  # noqa: BLE001 - one story's failure, not the stage's
            run.outcome = AgentOutcome(text=f"{type(exc).__name__}: {exc}", stop_reason="error")
        if run.outcome.stop_reason not in agent_failed:
            try:
                await trees.drop_own_changes(run.tree)
                await trees.commit(run.tree, f"story {run.story.id}: {run.story.title} (its agent's work)")
            except Exception as exc:  # noqa: BLE001 - this story's failure (GitError, OSError)
                run.outcome = dataclasses.replace(
                    run.outcome, stop_reason="error", text=f"its work could not be committed on its branch: {exc}")

    async with asyncio.TaskGroup() as group:
        for run, prompt in zip(runs, prompts, strict=True):
            group.create_task(one(run, prompt), name=f"ralph:story:{run.story.id}")


def stage_id(prd_id: str, iteration: int) -> str:
    """A stage's id (its branches' folder): unique across runs, so a kept branch of an
    earlier run's stage is never reset by a later one."""
    return f"ralph-{prd_id.removeprefix('prd-')}-i{iteration}-{int(time.time() * 1000) % 10**8:08d}"
