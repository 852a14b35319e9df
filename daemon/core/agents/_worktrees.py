"""Git worktrees for a swarm's mutating subtasks, and their merge back.

Each such subtask works in ``<base_dir>/<swarm-id>/<subtask>`` on its own branch
``codetether/swarm/<swarm-id>/<subtask>``, made from the swarm's base commit (the main
tree's HEAD when the swarm started). The main work tree is never touched while subtasks
run, so a user's uncommitted changes there are neither seen nor lost.

Merge-back runs branch by branch in dependency (stage) order into the main work tree:

* **A dirty main tree is refused.** When tracked files have uncommitted changes (staged
  or not), or a merge, rebase or cherry-pick is in progress, nothing is merged: the
  report says why and every branch stays for the user to merge later. Merging around a
  user's edits could interleave the swarm's changes with theirs, or fail halfway with
  both mixed in the tree. Untracked files are left alone: git itself refuses a merge that
  would overwrite one, which is reported as that branch's failure.
* **A conflict is reported and aborted.** The conflicted paths are listed for that
  subtask, ``git merge --abort`` restores the tree, and the later branches are still
  tried (one may not depend on the conflicted work). The main tree is never left
  mid-merge, also not when the caller is cancelled during a merge.
* Each merge is a ``--no-ff`` merge commit naming the subtask; hooks are not run and
  nothing is signed (the swarm's commits are the user's to review, not to publish).

:meth:`Worktrees.cleanup` removes the swarm's worktrees and deletes each branch that is
fully merged (or never changed); a branch with unmerged work (conflicted, refused, or
never merged) is kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ...wire.swarm import DiffSummary, FileDiff, MergeOutcome, MergeReport
from ._git import GitError, git

__all__ = ["Worktree", "Worktrees", "branch_name", "slug"]

log = logging.getLogger("codetether.daemon.swarm")

_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PREFIX = "codetether/swarm"
# Who the swarm's commits are by when the repository names nobody.
_IDENTITY = ("-c", "user.name=codetether swarm", "-c", "user.email=swarm@codetether.invalid")
_NO_SIGN = ("-c", "commit.gpgSign=false", "-c", "tag.gpgSign=false")


def slug(name: str) -> str:
    """A subtask name as one safe path and ref component: kept as is when it already is
    one, else reduced to ``[A-Za-z0-9_-]`` plus a short hash so two names stay distinct."""
    if _ID.fullmatch(name) and not name.startswith("-"):
        return name
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:40] or "subtask"
    return f"{base}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def _check_id(swarm_id: str) -> str:
    if not _ID.fullmatch(swarm_id) or swarm_id.startswith("-"):
        raise ValueError(f"not a swarm id: {swarm_id!r}")
    return swarm_id


def branch_name(swarm_id: str, subtask: str) -> str:
    """The branch a subtask works on."""
    return f"{_PREFIX}/{_check_id(swarm_id)}/{slug(subtask)}"


@dataclass(frozen=True, slots=True)
class Worktree:
    """One subtask's checkout."""

    subtask: str
    path: Path
    branch: str
    base: str


def _numstat(text: str) -> DiffSummary:
    files: list[FileDiff] = []
    for entry in text.split("\0"):
        parts = entry.lstrip("\n").split("\t", 2)
        if len(parts) != 3:
            continue
        added, removed, path = parts
        if added == "-":
            files.append(FileDiff(path=path, binary=True))
        else:
            files.append(FileDiff(path=path, added=int(added), removed=int(removed)))
    return DiffSummary(files=tuple(files), added=sum(f.added for f in files),
                       removed=sum(f.removed for f in files))


async def _finish_first(step: Coroutine[Any, Any, MergeOutcome]) -> MergeOutcome:
    """Run one merge to its end even when the caller is cancelled meanwhile (then re-raise):
    killing git mid-merge could leave a half-written index and tree; a merge takes
    milliseconds, and a conflicted one is aborted before this returns."""
    task = asyncio.create_task(step, name="swarm:merge")
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        while not task.done():
            try:
                await asyncio.wait([task])
            except asyncio.CancelledError:
                continue
        if not task.cancelled() and task.exception() is not None:
            log.warning("merge failed while the swarm was cancelled: %s", task.exception())
        raise


class Worktrees:
    """The worktrees of one repository. ``_lock`` serialises every command that changes
    the main repository's worktree list, refs or work tree (add, remove, branch, merge):
    git takes its own lock files and a concurrent second command would fail, not wait.

    ``base_dir`` should lie outside the repository's work tree (the daemon's data dir):
    inside it, the worktrees would show up in the main tree as untracked files."""

    def __init__(self, repo_root: Path, base_dir: Path) -> None:
        self.repo_root = repo_root
        self.base_dir = base_dir
        self._lock = asyncio.Lock()
        self._identity: tuple[str, ...] | None = None
        self._gitdir: Path | None = None

    async def _who(self) -> tuple[str, ...]:
        if self._identity is None:
            named = await git(self.repo_root, "config", "user.email", check=False)
            self._identity = _NO_SIGN + (() if named.out.strip() else _IDENTITY)
        return self._identity

    async def _git_dir(self) -> Path:
        """The main work tree's own git dir (where MERGE_HEAD and rebase state live)."""
        if self._gitdir is None:
            self._gitdir = Path((await git(self.repo_root, "rev-parse", "--absolute-git-dir")).out.strip())
        return self._gitdir

    async def head(self) -> str:
        """The main tree's HEAD commit: a swarm's base."""
        return (await git(self.repo_root, "rev-parse", "--verify", "HEAD^{commit}")).out.strip()

    async def create(self, swarm_id: str, subtask: str, base: str) -> Worktree:
        """A fresh worktree on a new branch from ``base``. A leftover of the same subtask
        (a resumed swarm running it again) is removed first: its partial work is dropped."""
        branch = branch_name(swarm_id, subtask)
        path = self.base_dir / swarm_id / slug(subtask)
        async with self._lock:
            if path.exists():
                await git(self.repo_root, "worktree", "remove", "--force", str(path), check=False)
            path.parent.mkdir(parents=True, exist_ok=True)
            # -B resets a leftover branch; one git call in the common case (each costs ~5 ms).
            add = ("worktree", "add", "--quiet", "-B", branch, str(path), base)
            if (await git(self.repo_root, *add, check=False)).code != 0:
                await git(self.repo_root, "worktree", "prune")  # a leftover whose folder is gone
                await git(self.repo_root, *add)
        return Worktree(subtask=subtask, path=path, branch=branch, base=base)

    async def commit(self, tree: Worktree, message: str) -> DiffSummary:
        """Commit everything the subtask changed in its worktree (new files included,
        ignored ones not) and summarise the branch against its base."""
        await git(tree.path, "add", "-A")
        staged = await git(tree.path, "diff", "--cached", "--quiet", check=False)
        if staged.code == 1:
            await git(tree.path, *await self._who(), "commit", "--quiet", "--no-verify", "-m", message)
        elif staged.code != 0:
            raise GitError(f"git diff --cached failed in {tree.path}: {staged.err.strip()}")
        return await self.diff(tree.base, tree.branch)

    async def diff(self, base: str, branch: str) -> DiffSummary:
        """Files changed and lines added/removed from ``base`` to ``branch``."""
        out = await git(self.repo_root, "diff", "--numstat", "-z", "--no-renames", base, branch)
        return _numstat(out.out)

    async def dirty(self) -> str | None:
        """Why the main tree cannot take a merge now, or None when it can."""
        status = await git(self.repo_root, "status", "--porcelain=v1", "-z", "--untracked-files=no")
        changed = sorted({e[3:] for e in status.out.split("\0") if len(e) > 3 and e[2] == " "})
        if changed:
            shown = ", ".join(changed[:10]) + (" …" if len(changed) > 10 else "")
            return f"the main work tree has uncommitted changes ({shown})"
        for marker, what in (("MERGE_HEAD", "a merge"), ("CHERRY_PICK_HEAD", "a cherry-pick"),
                             ("REVERT_HEAD", "a revert"), ("rebase-merge", "a rebase"),
                             ("rebase-apply", "a rebase")):
            if (await self._git_dir() / marker).exists():
                return f"{what} is in progress in the main work tree"
        return None

    async def merge(self, branches: list[tuple[str, str]], *, swarm_id: str = "") -> MergeReport:
        """Merge ``(subtask, branch)`` pairs into the main work tree, in the order given
        (dependency order). See the module docstring for the policy."""
        async with self._lock:
            refused = await self.dirty()
            if refused is not None:
                return MergeReport(refused=refused, outcomes=tuple(
                    MergeOutcome(subtask=s, branch=b, status="refused", detail=refused) for s, b in branches))
            outcomes: list[MergeOutcome] = []
            for index, (subtask, branch) in enumerate(branches):
                outcome = await _finish_first(self._merge_one(subtask, branch, swarm_id))
                outcomes.append(outcome)
                if outcome.status == "failed" and await self.dirty() is not None:
                    # The tree is not as we left it: merging more could mix work in.
                    why = "merge stopped: the main work tree is not clean after a failed merge"
                    outcomes += [MergeOutcome(subtask=s, branch=b, status="refused", detail=why)
                                 for s, b in branches[index + 1:]]
                    break
            return MergeReport(outcomes=tuple(outcomes))

    async def _merge_one(self, subtask: str, branch: str, swarm_id: str) -> MergeOutcome:
        ahead = await git(self.repo_root, "rev-list", "--count", f"HEAD..{branch}", check=False)
        if ahead.code != 0:
            return MergeOutcome(subtask=subtask, branch=branch, status="failed", detail=ahead.err.strip())
        if ahead.out.strip() == "0":
            return MergeOutcome(subtask=subtask, branch=branch, status="unchanged")
        message = f"codetether swarm {swarm_id}: merge subtask {subtask}" if swarm_id else f"merge subtask {subtask}"
        try:
            run = await git(self.repo_root, *await self._who(), "merge", "--no-ff", "--no-verify",
                            "--no-edit", "-m", message, branch, check=False)
            if run.code == 0:
                return MergeOutcome(subtask=subtask, branch=branch, status="merged")
            status: Literal["conflict", "failed"] = "failed"
            conflicted = await git(self.repo_root, "diff", "--name-only", "-z", "--diff-filter=U")
            files = tuple(sorted(f for f in conflicted.out.split("\0") if f))
            if files:
                status = "conflict"
        finally:
            await asyncio.shield(self._abort_if_merging())
        detail = "merge aborted; the branch is kept for you to resolve" if status == "conflict" else (
            run.err.strip() or run.out.strip())
        return MergeOutcome(subtask=subtask, branch=branch, status=status, files=files, detail=detail)

    async def _abort_if_merging(self) -> None:
        if (await self._git_dir() / "MERGE_HEAD").exists():
            await git(self.repo_root, "merge", "--abort")

    async def branches(self, swarm_id: str) -> list[str]:
        """Every branch of a swarm still in the repository."""
        out = await git(self.repo_root, "for-each-ref", "--format=%(refname:short)",
                        f"refs/heads/{_PREFIX}/{_check_id(swarm_id)}/")
        return sorted(line for line in out.out.splitlines() if line)

    async def cleanup(self, swarm_id: str) -> list[str]:
        """Remove a swarm's worktrees and its merged (or unchanged) branches; return the
        branches kept because they hold work the main tree does not have."""
        async with self._lock:
            root = self.base_dir / _check_id(swarm_id)
            if root.is_dir():
                for child in sorted(root.iterdir()):
                    await git(self.repo_root, "worktree", "remove", "--force", str(child), check=False)
            await git(self.repo_root, "worktree", "prune")
            if root.is_dir() and not any(root.iterdir()):
                root.rmdir()
            kept = []
            for branch in await self.branches(swarm_id):
                # -d (not -D): git refuses to delete a branch not merged into HEAD.
                if (await git(self.repo_root, "branch", "-d", branch, check=False)).code != 0:
                    kept.append(branch)
            return kept
