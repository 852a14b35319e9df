"""Project instructions: ``AGENTS.md`` (and ``CLAUDE.md``) files, read into the system prompt.

The files from the workspace up to the repository root (the nearest directory holding
``.git``; without one, only the workspace's own) are joined farthest first, so the nearest,
most specific file comes last and has the last word. Together they are capped at
:data:`MAX_INSTRUCTIONS_BYTES`: the nearest files keep their text, the farthest are cut
first, each cut said in the prompt itself.

The prompt is built once per run (not per model turn); a file is read again only when its
mtime or size changed, so a run costs one ``stat`` per candidate file and no reads.
"""

from __future__ import annotations

import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "INSTRUCTION_FILES",
    "MAX_INSTRUCTIONS_BYTES",
    "InstructionPart",
    "Instructions",
    "find_instruction_files",
    "project_instructions",
]

#: The file names read in each directory, in this order.
INSTRUCTION_FILES = ("AGENTS.md", "CLAUDE.md")
#: The most instruction text (UTF-8 bytes) one system prompt carries.
MAX_INSTRUCTIONS_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class InstructionPart:
    """One file's contribution: its path, the text the agent sees, and its own size."""

    path: str
    text: str
    size: int  # bytes of the whole file
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class Instructions:
    """The parts, farthest first, and the section of the system prompt they make."""

    parts: tuple[InstructionPart, ...]
    cap: int = MAX_INSTRUCTIONS_BYTES

    def render(self) -> str:
        """The system prompt's section ("" when there are no instruction files)."""
        if not self.parts:
            return ""
        blocks = [f'<instructions path="{p.path}">\n{p.text.rstrip()}\n</instructions>' for p in self.parts]
        return ("Project instructions (from the repository's AGENTS.md / CLAUDE.md files, the "
                "nearest last; follow them):\n\n" + "\n\n".join(blocks))


def find_instruction_files(workspace: str | Path) -> list[Path]:
    """The instruction files that apply to ``workspace``, farthest first."""
    return _find(workspace)[0]


def _find(workspace: str | Path) -> tuple[list[Path], str | None]:
    """:func:`find_instruction_files`, and the resolved root they must lie under."""
    # os.path on strings, not pathlib: this runs once per run (one A2A task is one run),
    # and Path.resolve alone cost ~50 us a call; the syscalls are the same.
    start = os.path.abspath(workspace)
    chain: list[str] = []
    directory = start
    while True:
        chain.append(directory)
        if os.path.exists(os.path.join(directory, ".git")):  # a directory, or a worktree's file
            break
        parent = os.path.dirname(directory)
        if parent == directory:  # in no repository: the workspace's own files only, never ~ or /
            chain = [start]
            break
        directory = parent
    root: str | None = None  # resolved only if some file is there (most workspaces have none)
    found: list[Path] = []
    for directory in reversed(chain):
        for name in INSTRUCTION_FILES:
            path = os.path.join(directory, name)
            if not os.path.lexists(path):  # one lstat; realpath would walk every component
                continue
            root = root or os.path.realpath(chain[-1])
            if _inside(path, root):
                found.append(Path(directory, name))
    return found, root


def _inside(path: str, root: str) -> bool:
    """A regular file that really lies under ``root`` (the repository, or the workspace):
    a committed ``AGENTS.md -> ~/.ssh/id_rsa`` or ``-> /proc/self/environ`` is not read
    into the prompt (the file tools refuse the same path)."""
    try:
        real = os.path.realpath(path, strict=True)
        st = os.stat(real)
    except (OSError, RuntimeError):
        return False
    return stat.S_ISREG(st.st_mode) and _under(real, root)


def _under(real: str, root: str) -> bool:
    """Whether the resolved path ``real`` is ``root`` or lies beneath it."""
    return real == root or real.startswith(os.path.join(root, ""))


_lock = threading.Lock()
#: path -> (device, inode, mtime_ns, size, text): a file is read again only when it changed
#: (or the name now leads to another file).
_cache: dict[Path, tuple[int, int, int, int, str]] = {}


def _read(path: Path, root: str) -> tuple[str, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    with _lock:
        hit = _cache.get(path)
    if hit is not None and hit[:4] == (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size):
        return hit[4], st.st_size
    try:
        with path.open("rb") as fh:
            # What was opened is checked, not the name: a link swapped since _find checked
            # it (to ~/.ssh/id_rsa, say) is refused here.
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode) or not _opened_inside(fh.fileno(), path, root):
                return None
            text = fh.read(MAX_INSTRUCTIONS_BYTES + 4).decode("utf-8", errors="replace")  # never more
    except OSError:
        return None
    with _lock:
        _cache[path] = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size, text)
    return text, st.st_size


def _opened_inside(fd: int, path: Path, root: str) -> bool:
    """Whether the open file ``fd`` lies under ``root``: its path from /proc (Linux); else
    the name resolved again and checked to be that same file."""
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        try:
            real = os.path.realpath(path, strict=True)
            if not os.path.samestat(os.stat(real), os.fstat(fd)):
                return False
        except (OSError, RuntimeError):
            return False
    return _under(real, root)


def _cut(text: str, budget: int) -> str:
    """``text``'s head within ``budget`` UTF-8 bytes, on a character boundary."""
    return text.encode("utf-8")[:max(budget, 0)].decode("utf-8", errors="ignore")


def project_instructions(workspace: str | Path, cap: int = MAX_INSTRUCTIONS_BYTES) -> Instructions:
    """The instruction files for ``workspace``, read (or taken from the cache) and capped."""
    found, root = _find(workspace)
    files = [(path, got) for path in found if root is not None and (got := _read(path, root))]
    budget = cap
    kept: list[InstructionPart] = []
    for path, (text, size) in reversed(files):  # the nearest first: they keep their text
        length = len(text.encode("utf-8"))
        if length <= budget:
            kept.append(InstructionPart(str(path), text, size))
            budget -= length
            continue
        shown = _cut(text, budget)
        note = (f"\n[... truncated: {length - len(shown.encode('utf-8'))} more bytes of this file are "
                f"not shown; project instructions are capped at {cap} bytes]")
        kept.append(InstructionPart(str(path), shown + note, size, truncated=True))
        budget = 0
    return Instructions(tuple(reversed(kept)), cap)
