"""Taking back one recorded file change: a tool's unified diff, applied in reverse.

A change is recorded as ``{path, kind: create|modify|delete, diff}`` (the diff as
``core/tools`` makes it: difflib's unified format, 3 lines of context, ``\\ No newline at
end of file`` markers). Undoing it needs the file to be exactly as the change left it
where the diff touched it: each hunk's new side must stand at its recorded line. Anything
else is a conflict (the file changed since), answered with what was expected and what is
there, never a guess. A file already back as it was before the change is "already".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Reversal", "parse_hunks", "reverse_change"]

_HUNK = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_NO_NEWLINE = "\\ No newline at end of file"


@dataclass(slots=True)
class _Hunk:
    old_start: int  # 1-based, as the header says (0 for an empty side)
    new_start: int
    old: list[str] = field(default_factory=list)  # lines with their endings
    new: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Reversal:
    """The outcome: ``content`` is the file before the change (None: it did not exist)."""

    status: Literal["restored", "already", "conflict"]
    content: str | None = None
    detail: str = ""


def parse_hunks(diff: str) -> list[_Hunk]:
    """The hunks of a unified diff; raises ValueError on anything it does not understand."""
    hunks: list[_Hunk] = []
    last: list[str] | None = None  # the side the previous line went to (for the marker)
    both = False
    for line in diff.splitlines(keepends=True):
        if line.startswith(("--- ", "+++ ")) and not hunks:
            continue
        match = _HUNK.match(line)
        if match:
            hunks.append(_Hunk(int(match.group(1)), int(match.group(3))))
            continue
        if not hunks:
            raise ValueError(f"not a unified diff: {line[:60]!r}")
        hunk = hunks[-1]
        if line.rstrip("\n") == _NO_NEWLINE:
            if last is None or not last:
                raise ValueError("a no-newline marker with no line before it")
            last[-1] = last[-1].removesuffix("\n")
            if both:
                hunk.new[-1] = hunk.new[-1].removesuffix("\n")
            continue
        tag, text = line[:1], line[1:]
        if tag == " ":
            hunk.old.append(text)
            hunk.new.append(text)
            last, both = hunk.old, True
        elif tag == "-":
            hunk.old.append(text)
            last, both = hunk.old, False
        elif tag == "+":
            hunk.new.append(text)
            last, both = hunk.new, False
        elif line == "\n":  # an empty context line whose space an editor stripped
            hunk.old.append("\n")
            hunk.new.append("\n")
            last, both = hunk.old, True
        else:
            raise ValueError(f"not a unified diff line: {line[:60]!r}")
    return hunks


def _show(lines: list[str], limit: int = 6) -> str:
    shown = "".join(f"    | {line}" if line.endswith("\n") else f"    | {line}\n" for line in lines[:limit])
    more = f"    | ... {len(lines) - limit} more lines\n" if len(lines) > limit else ""
    return (shown + more) or "    | (nothing)\n"


def _swap(lines: list[str], hunks: list[_Hunk], undo: bool) -> tuple[list[str] | None, str]:
    """``lines`` (the file as the change left it) with each hunk's new side replaced by its
    old side; with ``undo`` false, only whether ``lines`` already hold every old side at its
    place (the change is undone). Positions are exact, as recorded: no fuzz. Returns the
    lines (None on a mismatch) and what mismatched."""
    out: list[str] = []
    at = 0  # index into lines
    for hunk in hunks:
        want = hunk.new if undo else hunk.old
        # 1-based start; for an empty side the header names the line before it.
        start = (hunk.new_start if undo else hunk.old_start) - (1 if want else 0)
        found = lines[start:start + len(want)]
        if start < at or found != want:
            return None, f"at line {start + 1} expected:\n{_show(want)}  found:\n{_show(found)}"
        out += lines[at:start] + hunk.old
        at = start + len(want)
    return out + lines[at:], ""


#: What the recorder writes for a secret it knows (the one redactor's mark).
_REDACTED = "[REDACTED]"


def _lossy(lines: Iterable[str]) -> str:
    """Why the lines to give back are not the file's own (empty when they are): a secret
    the recorder redacted, or bytes that were not UTF-8 (U+FFFD). Restoring them would
    write the placeholder over the user's text and call it restored."""
    for line in lines:
        if _REDACTED in line:
            return "a line held a secret, recorded as [REDACTED]"
        if "\ufffd" in line:
            return "a line was not UTF-8 (recorded with U+FFFD)"
    return ""


def reverse_change(kind: str, diff: str, current: str | None) -> Reversal:
    """Undo one change to a file whose present content is ``current`` (None: absent)."""
    if diff.rstrip().endswith("[diff truncated]"):
        return Reversal("conflict", current, "the recorded diff was cut short (a large change); "
                                             "it cannot be undone exactly")
    try:
        hunks = parse_hunks(diff)
    except ValueError as exc:
        return Reversal("conflict", current, f"the recorded diff cannot be read: {exc}")
    lossy = _lossy(line for h in hunks for line in h.old)
    if lossy and kind != "create":
        return Reversal("conflict", current, f"the recorded change cannot give back the exact text: {lossy}")
    if kind == "create":
        after = "".join(line for h in hunks for line in h.new)
        if current is None:
            return Reversal("already", None, "the file is gone already")
        if current != after:
            return Reversal("conflict", current, "the file was changed after the agent created it")
        return Reversal("restored", None)
    if kind == "delete":
        before = "".join(line for h in hunks for line in h.old)
        if current is None:
            return Reversal("restored", before)
        if current == before:
            return Reversal("already", current, "the file is back already")
        return Reversal("conflict", current, "a file was created again at this path after the agent deleted it")
    if current is None:
        return Reversal("conflict", None, "the file was deleted after the agent changed it")
    lines = current.splitlines(keepends=True)
    undone, mismatch = _swap(lines, hunks, undo=True)
    if undone is not None:
        return Reversal("restored", "".join(undone))
    if _swap(lines, hunks, undo=False)[0] is not None:
        return Reversal("already", current, "the file is as it was before the change")
    return Reversal("conflict", current, f"the file changed since the agent's edit: {mismatch}")
