"""apply_patch: unified diffs applied with context checking, atomically.

Model-written diffs are often slightly off: wrong hunk line counts, missing
numbers (``@@ @@``), blank context lines without their leading space, a code
fence around the whole thing. :func:`normalize_patch` repairs those before
unidiff parses the text, because unidiff silently drops the lines beyond a
too-small count. Each hunk is then located by its context (at the stated line,
else the nearest exact match, else the nearest whitespace-insensitive match),
and every file is written only after all hunks of all files have applied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import msgspec
from msgspec import Meta

from ...errors import InvalidParams, ToolFailure
from ._util import (
    FileChanges,
    commit_changes,
    common_subject,
    guard_plan_mode,
    join_eol,
    read_text,
    split_eol,
)
from .base import Tool, ToolContext, ToolResult, Workspace

TYPE_CHECKING = False
if TYPE_CHECKING:  # unidiff loads on the first patch: an idle daemon never needs it
    from unidiff.patch import Hunk, PatchedFile, PatchSet

__all__ = ["ApplyPatchTool", "normalize_patch"]


class ApplyPatchParams(msgspec.Struct, forbid_unknown_fields=True):
    patch: Annotated[
        str,
        Meta(
            description=(
                "A unified diff (as `git diff` or `diff -u` prints it) with `---`/`+++` "
                "file headers and `@@` hunks. Paths are relative to the workspace root; "
                "`a/` and `b/` prefixes are stripped. `/dev/null` as the old file creates "
                "a file, as the new file deletes one."
            )
        ),
    ]


class ApplyPatchTool(Tool):
    name = "apply_patch"
    description = (
        "Apply a unified diff to one or more files, all or nothing. Supports modified, "
        "new, deleted and renamed files. Each hunk's context and removed lines must match "
        "the file (hunks are found near the stated line numbers, tolerating shifted "
        "positions and whitespace differences); if any hunk does not apply, no file is "
        "changed and the error names the file and hunk. Give 3 lines of context per hunk."
    )
    params = ApplyPatchParams

    def approval_subject(self, args: ApplyPatchParams) -> str:
        return common_subject(self.approval_paths(args))

    def approval_paths(self, args: ApplyPatchParams) -> list[str]:
        """Every old and new file name in the patch; none if it does not parse (the
        gate then judges the subject "", and the run refuses the patch)."""
        try:
            files = _parse(args.patch)
        except _Unparsable:
            return []
        return [n for pf in files for n in (_source_name(pf), _target_name(pf)) if n]

    async def run(self, args: ApplyPatchParams, ctx: ToolContext) -> ToolResult:
        guard_plan_mode(ctx, self.name)
        try:
            patch_set = _parse(args.patch)
        except _Unparsable as exc:
            raise InvalidParams(f"apply_patch: the patch cannot be parsed: {exc}") from exc
        if not len(patch_set):
            raise InvalidParams(
                "apply_patch: no file changes found; the patch needs '--- old' and '+++ new' "
                "header lines before its '@@' hunks"
            )
        changes = FileChanges(ctx.workspace.root)
        summary: list[tuple[str, str]] = []
        for pf in patch_set:
            summary.append(_plan_file(pf, changes, ctx))
        await commit_changes(changes, ctx)
        meta = changes.metadata()
        counts = {c["path"]: (c["additions"], c["deletions"]) for c in meta["changes"]}
        lines = [f"{line} (+{counts.get(p, (0, 0))[0]} -{counts.get(p, (0, 0))[1]})" for line, p in summary]
        return ToolResult("Applied patch:\n" + "\n".join(lines), metadata=meta)


class _Unparsable(Exception):
    """unidiff's parse error, raised under our name so that callers need not import unidiff."""


def _parse(patch: str) -> PatchSet:
    from unidiff.errors import UnidiffParseError  # deferred: an idle daemon never parses a diff
    from unidiff.patch import PatchSet

    try:
        return PatchSet(normalize_patch(patch))
    except UnidiffParseError as exc:
        raise _Unparsable(str(exc)) from exc


def _plan_file(pf: PatchedFile, changes: FileChanges, ctx: ToolContext) -> tuple[str, str]:
    ws = ctx.workspace
    if pf.is_binary_file:
        raise ToolFailure(f"apply_patch: binary patches are not supported ({pf.path})")
    source, target = _source_name(pf), _target_name(pf)
    mode = _new_mode(pf.patch_info)
    if source is None and target is not None:  # new file
        path, rel = _resolve(ws, target)
        current = _current(changes, path, rel, ctx)
        if current:
            raise ToolFailure(f"apply_patch: {rel} already exists; the patch would create it")
        text = _apply_hunks([], False, pf, rel)
        changes.set(path, rel, current, text)
        _set_mode(changes, path, mode)
        return f"A {rel}", rel
    if source is None:
        raise InvalidParams("apply_patch: a file section names neither an old nor a new file")
    src_path, src_rel = _resolve(ws, source)
    current = _current(changes, src_path, src_rel, ctx)
    if current is None:
        raise ToolFailure(f"apply_patch: {src_rel} does not exist; the patch expects to change it")
    text, eol = split_eol(current)
    lines, trailing = _lines(text)
    patched = join_eol(_apply_hunks(lines, trailing, pf, src_rel), eol)
    if target is None:  # deletion: every line must have been removed by the hunks
        if pf and patched:
            raise ToolFailure(
                f"apply_patch: {src_rel} has content the deletion hunk does not list; "
                "read it again and regenerate the patch"
            )
        changes.set(src_path, src_rel, _before(changes, src_path, current), None)
        return f"D {src_rel}", src_rel
    dst_path, dst_rel = _resolve(ws, target)
    if dst_path != src_path:  # rename
        if _current(changes, dst_path, dst_rel, ctx) is not None:
            raise ToolFailure(f"apply_patch: cannot rename {src_rel} to {dst_rel}: it already exists")
        changes.set(src_path, src_rel, _before(changes, src_path, current), None)
        changes.set(dst_path, dst_rel, None, patched)
        _set_mode(changes, dst_path, mode if mode is not None else _mode_of(src_path))
        return f"R {src_rel} -> {dst_rel}", dst_rel
    changes.set(src_path, src_rel, _before(changes, src_path, current), patched)
    _set_mode(changes, src_path, mode)
    return f"M {src_rel}", src_rel


def _source_name(pf: PatchedFile) -> str | None:
    return _strip(pf.source_file, "a/", pf.target_file, "b/")


def _target_name(pf: PatchedFile) -> str | None:
    return _strip(pf.target_file, "b/", pf.source_file, "a/")


def _strip(name: str, prefix: str, other: str, other_prefix: str) -> str | None:
    name = name.split("\t", 1)[0].strip()
    if name in ("/dev/null", ""):
        return None
    other = other.split("\t", 1)[0].strip()
    # git's a/ b/ prefixes are stripped when the pair looks like git's output.
    if name.startswith(prefix) and (other == "/dev/null" or other.startswith(other_prefix)):
        return name[len(prefix) :]
    return name


def _resolve(ws: Workspace, name: str) -> tuple[Path, str]:
    path = ws.resolve(name)
    return path, ws.relative(path)


def _current(changes: FileChanges, path: Path, rel: str, ctx: ToolContext) -> str | None:
    planned = changes.current(path)
    if planned is not None:
        return planned.after
    if not path.exists():
        return None
    return read_text(path, rel, ctx)


def _before(changes: FileChanges, path: Path, current: str) -> str | None:
    planned = changes.current(path)
    return planned.before if planned is not None else current


def _new_mode(info: object) -> int | None:
    match = re.search(r"^new (?:file )?mode (\d{6})$", str(info), re.M)
    return int(match.group(1)[-3:], 8) if match else None


def _mode_of(path: Path) -> int | None:
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        return None


def _set_mode(changes: FileChanges, path: Path, mode: int | None) -> None:
    planned = changes.current(path)
    if planned is not None and mode is not None:
        planned.mode = mode


def _lines(text: str) -> tuple[list[str], bool]:
    if not text:
        return [], False
    lines = text.split("\n")
    trailing = lines[-1] == ""
    if trailing:
        lines.pop()
    return lines, trailing


@dataclass(slots=True)
class _Hunk:
    old: list[str]  # context and removed lines, in order
    start: int  # 0-based line the old text is expected at
    old_no_eol: bool
    new_no_eol: bool


def _parse_hunk(hunk: Hunk) -> _Hunk:
    old: list[str] = []
    old_no_eol = new_no_eol = False
    previous = ""
    for line in hunk:
        kind, value = line.line_type, line.value.rstrip("\n").rstrip("\r")
        if kind == "\\":
            old_no_eol = old_no_eol or previous in (" ", "-")
            new_no_eol = new_no_eol or previous in (" ", "+")
            continue
        if kind in (" ", "-"):
            old.append(value)
        previous = kind
    start = hunk.source_start - 1 if hunk.source_length else hunk.source_start
    return _Hunk(old, max(0, start), old_no_eol, new_no_eol)


def _apply_hunks(lines: list[str], trailing: bool, pf: PatchedFile, rel: str) -> str:
    out = list(lines)
    shift = 0
    floor = 0  # hunks apply in order; one may not land before the previous one
    for number, raw in enumerate(pf, start=1):
        hunk = _parse_hunk(raw)
        expected = hunk.start + shift
        pos = _locate(out, hunk.old, expected, floor)
        if pos is None:
            header = f"@@ -{raw.source_start},{raw.source_length} +{raw.target_start},{raw.target_length} @@"
            raise ToolFailure(
                f"apply_patch: hunk {number} of {rel} ({header}) does not apply: its context "
                f"and removed lines were not found in the file. Expected near line "
                f"{expected + 1}:\n" + "\n".join(f"  {line}" for line in hunk.old[:12])
                + "\nRead the file again and regenerate this hunk. No file was changed.",
                data={"path": rel, "hunk": number},
            )
        # Context lines keep the file's own text (it may differ in whitespace).
        replacement = _merge(out[pos : pos + len(hunk.old)], raw)
        out[pos : pos + len(hunk.old)] = replacement
        end = pos + len(replacement)
        if end == len(out):
            if hunk.new_no_eol:
                trailing = False
            elif hunk.old_no_eol or (not lines and replacement):
                trailing = True
        shift = end - (hunk.start + len(hunk.old))
        floor = end
    if not out:
        return ""
    return "\n".join(out) + ("\n" if trailing else "")


def _merge(file_old: list[str], raw: Hunk) -> list[str]:
    """The hunk's new lines, with context lines taken from the file's matched text."""
    merged: list[str] = []
    index = 0
    for line in raw:
        kind = line.line_type
        if kind == "\\":
            continue
        value = line.value.rstrip("\n").rstrip("\r")
        if kind == " ":
            merged.append(file_old[index] if index < len(file_old) else value)
            index += 1
        elif kind == "-":
            index += 1
        elif kind == "+":
            merged.append(value)
    return merged


def _locate(lines: list[str], old: list[str], expected: int, floor: int) -> int | None:
    n = len(old)
    if n == 0:
        return min(max(expected, floor), len(lines))
    last = len(lines) - n
    if last < floor:
        return None
    if floor <= expected <= last and lines[expected : expected + n] == old:
        return expected
    for normalise in (None, str.strip):
        candidates = _matches(lines, old, floor, last, normalise)
        if candidates:
            return min(candidates, key=lambda pos: (abs(pos - expected), pos))
    return None


def _matches(lines: list[str], old: list[str], floor: int, last: int, normalise: object) -> list[int]:
    if normalise is None:
        first = old[0]
        return [p for p in range(floor, last + 1) if lines[p] == first and lines[p : p + len(old)] == old]
    key = [line.strip() for line in old]
    stripped = [line.strip() for line in lines]
    return [p for p in range(floor, last + 1) if stripped[p : p + len(key)] == key]


_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$")
_LOOSE_HUNK = re.compile(r"^@@(?:[^@]*)@@(.*)$|^@@\s*$")


def normalize_patch(text: str) -> str:
    """Repair the common defects of model-written diffs (see the module docstring)."""
    lines = text.replace("\r\n", "\n").split("\n")
    nonblank = [i for i, line in enumerate(lines) if line.strip()]
    if nonblank and lines[nonblank[0]].startswith("```") and lines[nonblank[-1]].strip() == "```":
        lines = lines[nonblank[0] + 1 : nonblank[-1]]
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        exact, loose = _HUNK.match(line), _LOOSE_HUNK.match(line)
        if not (exact or loose):
            out.append(line)
            i += 1
            continue
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not _ends_hunk(lines, j):
            body.append(lines[j])
            j += 1
        while body and body[-1] == "":
            body.pop()
        body = [" " if entry == "" else entry for entry in body]
        old_count = sum(1 for entry in body if entry[0] in " -")
        new_count = sum(1 for entry in body if entry[0] in " +")
        if exact:
            old_start, new_start, rest = int(exact.group(1)), int(exact.group(3)), exact.group(5)
        else:
            old_start, new_start, rest = 1, 1, (loose.group(1) or "") if loose else ""
        if not exact:  # "@@ @@": no numbers; the hunk is then found by its context
            old_start = old_start if old_count else 0
            new_start = new_start if new_count else 0
        out.append(f"@@ -{old_start},{old_count} +{new_start},{new_count} @@{rest}")
        out.extend(body)
        i = j
    return "\n".join(out) + "\n"


def _ends_hunk(lines: list[str], j: int) -> bool:
    line = lines[j]
    if line.startswith(("@@", "diff --git ", "Index: ")):
        return True
    if line.startswith("--- ") and j + 1 < len(lines) and lines[j + 1].startswith("+++ "):
        return True
    return bool(line) and line[0] not in " +-\\"
