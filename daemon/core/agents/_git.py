"""The ``git`` command line, run as an asyncio subprocess (no GitPython)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path

from ...errors import ToolFailure

__all__ = ["GitError", "GitResult", "git"]

# Plain C messages, no pager, never a prompt for credentials or an editor.
_ENV: Mapping[str, str] = {"LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat", "GIT_EDITOR": "true",
                           "GIT_MERGE_AUTOEDIT": "no"}


class GitError(ToolFailure):
    """A git command failed; the message carries the command and git's own words."""


class GitResult:
    """A finished git command: its exit code and decoded output."""

    __slots__ = ("code", "out", "err")

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err


async def git(cwd: Path, *args: str, check: bool = True) -> GitResult:
    """Run ``git -C cwd args``; with ``check``, a non-zero exit raises :class:`GitError`.

    A cancellation waits for git to exit after killing it, so no git process outlives its
    caller holding the index lock."""
    proc = await asyncio.create_subprocess_exec(
        "git", "-C", str(cwd), *args, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ, **_ENV})
    try:
        out, err = await proc.communicate()
    except BaseException:
        if proc.returncode is None:
            proc.kill()
            await asyncio.shield(proc.wait())
        raise
    code = proc.returncode if proc.returncode is not None else -1
    result = GitResult(code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
    if check and code != 0:
        shown = " ".join(args[:3])
        raise GitError(f"git {shown} failed ({code}): {result.err.strip() or result.out.strip()}")
    return result
