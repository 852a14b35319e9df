"""Swarm worktrees against a real git repository: a branch per subtask from the base
commit, diff summaries, merge-back in order with conflicts reported and aborted, a dirty
main tree left alone, and cleanup keeping only branches with unmerged work."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from codetether.daemon.core.agents import Worktrees, branch_name, slug
from codetether.daemon.wire.swarm import DiffSummary, FileDiff

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command")

SWARM = "20261130-120000-abcdef"


def sh(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    sh(root, "init", "--quiet", "-b", "main")
    sh(root, "config", "user.name", "Test User")
    sh(root, "config", "user.email", "test@example.invalid")
    sh(root, "config", "commit.gpgSign", "false")
    (root / "a.txt").write_text("alpha\none\ntwo\n")
    (root / "b.txt").write_text("beta\n")
    sh(root, "add", "-A")
    sh(root, "commit", "--quiet", "-m", "base")
    return root


@pytest.fixture
def trees(repo: Path, tmp_path: Path) -> Worktrees:
    return Worktrees(repo, tmp_path / "worktrees")


def status(repo: Path) -> str:
    return sh(repo, "status", "--porcelain")


def merging(repo: Path) -> bool:
    return (repo / sh(repo, "rev-parse", "--git-path", "MERGE_HEAD").strip()).exists()


async def test_two_subtasks_on_different_files_merge_clean(repo: Path, trees: Worktrees) -> None:
    base = await trees.head()
    api = await trees.create(SWARM, "api", base)
    docs = await trees.create(SWARM, "docs", base)
    assert api.branch == f"codetether/swarm/{SWARM}/api" and api.path.parent.name == SWARM
    assert sh(api.path, "rev-parse", "HEAD").strip() == base
    (api.path / "a.txt").write_text("alpha\nONE\ntwo\nthree\n")
    (docs.path / "b.txt").write_text("beta\nmore\n")
    (docs.path / "new.md").write_text("# new\n")

    api_diff = await trees.commit(api, "api: edit a")
    docs_diff = await trees.commit(docs, "docs: edit b")
    assert api_diff == DiffSummary(files=(FileDiff(path="a.txt", added=2, removed=1),), added=2, removed=1)
    assert [f.path for f in docs_diff.files] == ["b.txt", "new.md"] and docs_diff.files_changed == 2
    assert status(repo) == ""  # the main tree saw nothing while the subtasks worked

    report = await trees.merge([("api", api.branch), ("docs", docs.branch)], swarm_id=SWARM)
    assert report.clean and [o.status for o in report.outcomes] == ["merged", "merged"]
    assert (repo / "a.txt").read_text() == "alpha\nONE\ntwo\nthree\n"
    assert (repo / "new.md").read_text() == "# new\n"
    assert status(repo) == "" and not merging(repo)
    log = sh(repo, "log", "--format=%s", "-2")
    assert f"codetether swarm {SWARM}: merge subtask docs" in log

    assert await trees.cleanup(SWARM) == []
    assert await trees.branches(SWARM) == []
    assert not api.path.exists() and not (trees.base_dir / SWARM).exists()
    assert sh(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


async def test_a_conflict_is_reported_aborted_and_later_merges_still_run(repo: Path, trees: Worktrees) -> None:
    base = await trees.head()
    one, two, three = [await trees.create(SWARM, n, base) for n in ("one", "two", "three")]
    (one.path / "a.txt").write_text("alpha\nfrom one\ntwo\n")
    (two.path / "a.txt").write_text("alpha\nfrom two\ntwo\n")
    (three.path / "b.txt").write_text("beta from three\n")
    for tree in (one, two, three):
        await trees.commit(tree, tree.subtask)
    head_before = sh(repo, "rev-parse", "HEAD")

    report = await trees.merge([("one", one.branch), ("two", two.branch), ("three", three.branch)])
    merged, conflict, later = report.outcomes
    assert (merged.status, later.status) == ("merged", "merged")
    assert conflict.subtask == "two" and conflict.status == "conflict"
    assert conflict.files == ("a.txt",) and conflict.branch == two.branch
    assert not report.clean
    assert status(repo) == "" and not merging(repo)
    assert (repo / "a.txt").read_text() == "alpha\nfrom one\ntwo\n"
    assert (repo / "b.txt").read_text() == "beta from three\n"
    assert sh(repo, "rev-parse", "HEAD") != head_before

    # The conflicted branch stays for the user to resolve; the merged ones go.
    assert await trees.cleanup(SWARM) == [two.branch]
    assert await trees.branches(SWARM) == [two.branch]


async def test_a_dirty_main_tree_is_not_touched_and_not_merged_into(repo: Path, trees: Worktrees) -> None:
    (repo / "a.txt").write_text("alpha\nmy own edit\ntwo\n")  # unstaged
    (repo / "b.txt").write_text("beta staged\n")
    sh(repo, "add", "b.txt")  # staged
    (repo / "scratch.txt").write_text("untracked notes\n")
    before = status(repo)
    head = sh(repo, "rev-parse", "HEAD")

    base = await trees.head()
    assert base == head.strip()
    tree = await trees.create(SWARM, "edit-a", base)
    assert (tree.path / "a.txt").read_text() == "alpha\none\ntwo\n"  # from the commit, not the dirty tree
    assert not (tree.path / "scratch.txt").exists()
    (tree.path / "a.txt").write_text("alpha\nswarm edit\ntwo\n")
    await trees.commit(tree, "edit a")

    report = await trees.merge([("edit-a", tree.branch)])
    assert report.refused is not None and "uncommitted changes" in report.refused
    assert "a.txt" in report.refused and "b.txt" in report.refused
    assert [o.status for o in report.outcomes] == ["refused"]
    assert status(repo) == before and sh(repo, "rev-parse", "HEAD") == head
    assert (repo / "a.txt").read_text() == "alpha\nmy own edit\ntwo\n"
    assert (repo / "scratch.txt").read_text() == "untracked notes\n"
    assert sh(repo, "diff", "--cached", "--name-only") == "b.txt\n"

    assert await trees.cleanup(SWARM) == [tree.branch]  # the work is kept on its branch
    assert status(repo) == before


async def test_an_untracked_file_in_the_way_fails_that_merge_only(repo: Path, trees: Worktrees) -> None:
    base = await trees.head()
    adds, other = await trees.create(SWARM, "adds", base), await trees.create(SWARM, "other", base)
    (adds.path / "notes.txt").write_text("from the swarm\n")
    (other.path / "b.txt").write_text("beta 2\n")
    await trees.commit(adds, "add notes")
    await trees.commit(other, "edit b")
    (repo / "notes.txt").write_text("the user's own\n")

    report = await trees.merge([("adds", adds.branch), ("other", other.branch)])
    assert [o.status for o in report.outcomes] == ["failed", "merged"]
    assert "untracked" in report.outcomes[0].detail
    assert (repo / "notes.txt").read_text() == "the user's own\n"
    assert not merging(repo)


async def test_an_unchanged_subtask_has_nothing_to_merge(repo: Path, trees: Worktrees) -> None:
    tree = await trees.create(SWARM, "reader", await trees.head())
    assert await trees.commit(tree, "nothing") == DiffSummary()
    report = await trees.merge([("reader", tree.branch)])
    assert [o.status for o in report.outcomes] == ["unchanged"] and report.clean
    assert await trees.cleanup(SWARM) == []


async def test_creating_again_replaces_a_leftover_worktree(repo: Path, trees: Worktrees) -> None:
    base = await trees.head()
    first = await trees.create(SWARM, "redo", base)
    (first.path / "a.txt").write_text("half done\n")
    await trees.commit(first, "partial")
    again = await trees.create(SWARM, "redo", base)
    assert again.path == first.path
    assert sh(again.path, "rev-parse", "HEAD").strip() == base
    assert (again.path / "a.txt").read_text() == "alpha\none\ntwo\n"
    shutil.rmtree(again.path)  # a leftover whose folder is gone but git still lists it
    third = await trees.create(SWARM, "redo", base)
    assert sh(third.path, "rev-parse", "HEAD").strip() == base


def test_odd_subtask_names_become_distinct_safe_refs() -> None:
    assert slug("api") == "api"
    names = ("fix the/parser", "fix the parser", "..", "-x", "ünïcode", "a.lock", "")
    assert len({slug(n) for n in names}) == len(names)
    for name in names:
        subprocess.run(["git", "check-ref-format", "--branch", branch_name(SWARM, name)], check=True,
                       capture_output=True)
    with pytest.raises(ValueError):
        branch_name("../evil", "x")


@pytest.mark.parametrize("driver_exit", [0, 1])
async def test_cancel_during_a_merge_finishes_or_aborts_it_first(repo: Path, trees: Worktrees, tmp_path: Path,
                                                                 driver_exit: int) -> None:
    # A merge driver that blocks until the test releases it holds git mid-merge: the
    # cancellation lands then, deterministically (no sleeps).
    started, release = tmp_path / "started", tmp_path / "release"
    os.mkfifo(started)
    os.mkfifo(release)
    driver = tmp_path / "driver.sh"
    driver.write_text(f'#!/bin/sh\necho go > "{started}"\nread code < "{release}"\ncp "$2" "$1"\nexit $code\n')
    driver.chmod(0o755)
    sh(repo, "config", "merge.slow.driver", f"{driver} %A %B")
    (repo / sh(repo, "rev-parse", "--git-path", "info/attributes").strip()).write_text("a.txt merge=slow\n")

    base = await trees.head()
    first, second = await trees.create(SWARM, "first", base), await trees.create(SWARM, "second", base)
    (first.path / "a.txt").write_text("alpha\none\ntwo\nfrom the swarm\n")
    (second.path / "b.txt").write_text("beta 2\n")
    await trees.commit(first, "first")
    await trees.commit(second, "second")
    (repo / "a.txt").write_text("user line\nalpha\none\ntwo\n")
    sh(repo, "commit", "--quiet", "-am", "the user moved on")
    head = sh(repo, "rev-parse", "HEAD")

    merge = asyncio.create_task(trees.merge([("first", first.branch), ("second", second.branch)]))
    assert (await asyncio.to_thread(started.read_text)).strip() == "go"
    merge.cancel()
    await asyncio.to_thread(release.write_text, f"{driver_exit}\n")
    with pytest.raises(asyncio.CancelledError):
        await merge
    assert status(repo) == "" and not merging(repo)
    if driver_exit == 0:  # the merge in flight completed; the next one was not started
        assert (repo / "a.txt").read_text() == "alpha\none\ntwo\nfrom the swarm\n"
        assert sh(repo, "rev-parse", "HEAD^1") == head
    else:  # it conflicted: aborted before the cancellation was re-raised
        assert sh(repo, "rev-parse", "HEAD") == head
    assert (repo / "b.txt").read_text() == "beta\n"
