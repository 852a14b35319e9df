"""edit and multiedit: targeted string replacement in files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from ...errors import InvalidParams, ToolFailure
from ._match import replace
from ._util import (
    FileChanges,
    commit_changes,
    common_subject,
    guard_plan_mode,
    join_eol,
    read_text,
    split_eol,
)
from .base import Tool, ToolContext, ToolResult

__all__ = ["EditTool", "MultiEditTool"]

_PATH = Meta(description="File to edit, relative to the workspace root.")
_OLD = Meta(
    description=(
        "The exact text to replace, copied from the file without read_file's line-number "
        "prefixes. Include enough surrounding lines to make it unique. Empty string: "
        "create the file with new_string (only if it does not exist or is empty)."
    )
)
_NEW = Meta(description="The replacement text (empty to delete old_string).")
_ALL = Meta(description="Replace every occurrence instead of requiring exactly one. Default false.")


class EditParams(msgspec.Struct, forbid_unknown_fields=True):
    path: Annotated[str, _PATH]
    old_string: Annotated[str, _OLD]
    new_string: Annotated[str, _NEW]
    replace_all: Annotated[bool, _ALL] = False


_EDIT_DESCRIPTION = (
    "Replace text in a file: old_string must occur exactly once (or set replace_all). "
    "Matching is exact first; if that fails, lines are compared ignoring leading and "
    "trailing whitespace, and new_string is re-indented to the file's indentation. "
    "On failure nothing is written and the error shows the most similar text. "
    "Read the file first so old_string is copied verbatim."
)


class EditTool(Tool):
    name = "edit"
    description = _EDIT_DESCRIPTION
    params = EditParams

    async def run(self, args: EditParams, ctx: ToolContext) -> ToolResult:
        guard_plan_mode(ctx, self.name)
        changes = FileChanges(ctx.workspace.root)
        path = ctx.workspace.resolve(args.path)
        note = _apply(changes, ctx, path, args, where=ctx.workspace.relative(path))
        await commit_changes(changes, ctx)
        meta = changes.metadata()
        meta["match"] = note
        return ToolResult(_summary(changes, ctx, [note]), metadata=meta)


class EditSpec(msgspec.Struct, forbid_unknown_fields=True):
    path: Annotated[str, _PATH]
    old_string: Annotated[str, _OLD]
    new_string: Annotated[str, _NEW]
    replace_all: Annotated[bool, _ALL] = False


class MultiEditParams(msgspec.Struct, forbid_unknown_fields=True):
    edits: Annotated[
        list[EditSpec],
        Meta(
            min_length=1,
            max_length=100,
            description=(
                "Edits applied in order; a later edit sees the result of earlier ones "
                "on the same file. Each follows the rules of the `edit` tool."
            ),
        ),
    ]


class MultiEditTool(Tool):
    name = "multiedit"
    description = (
        "Apply several edits, to one file or several, as one all-or-nothing change: every "
        "edit is checked in memory first and if any fails nothing is written; if a write "
        "fails the files already written are restored. Each edit works like `edit` "
        "(exact match, then whitespace-tolerant). Prefer it over several `edit` calls "
        "when the changes belong together."
    )
    params = MultiEditParams

    def approval_subject(self, args: MultiEditParams) -> str:
        return common_subject([edit.path for edit in args.edits])

    def approval_paths(self, args: MultiEditParams) -> list[str]:
        return [edit.path for edit in args.edits]

    async def run(self, args: MultiEditParams, ctx: ToolContext) -> ToolResult:
        guard_plan_mode(ctx, self.name)
        # Resolve every path before touching any content: an escape anywhere refuses all.
        paths = [ctx.workspace.resolve(edit.path) for edit in args.edits]
        changes = FileChanges(ctx.workspace.root)
        notes: list[dict[str, Any]] = []
        total = len(args.edits)
        for index, (edit, path) in enumerate(zip(args.edits, paths, strict=True), start=1):
            rel = ctx.workspace.relative(path)
            try:
                notes.append(_apply(changes, ctx, path, edit, where=rel))
            except ToolFailure as exc:
                raise ToolFailure(
                    f"edit {index} of {total} ({rel}) failed: {exc.message} No file was changed.",
                    data={"edit_index": index - 1, "path": rel},
                ) from exc
        await commit_changes(changes, ctx)
        meta = changes.metadata()
        meta["edits"] = notes
        return ToolResult(_summary(changes, ctx, notes), metadata=meta)


def _apply(
    changes: FileChanges, ctx: ToolContext, path: Path, edit: EditParams | EditSpec, where: str
) -> dict[str, Any]:
    """Plan one edit on top of whatever is already planned for ``path``."""
    if edit.old_string == edit.new_string:
        raise InvalidParams(f"{where}: old_string and new_string are identical; nothing to change")
    planned = changes.current(path)
    if planned is not None:
        before, current = planned.before, planned.after
    else:
        before = current = _current(path, where, ctx)
    if edit.old_string == "":
        if current:
            raise ToolFailure(
                f"old_string is empty but {where} already has content; quote the text to "
                "replace, or use write_file to replace the whole file"
            )
        changes.set(path, where, before, edit.new_string)
        return {"path": where, "strategy": "create", "count": 1, "lines": [1]}
    if current is None:
        raise ToolFailure(f"no such file: {where} (to create it, use write_file or an empty old_string)")
    text, eol = split_eol(current)
    old = edit.old_string.replace("\r\n", "\n")
    new = edit.new_string.replace("\r\n", "\n")
    result = replace(text, old, new, replace_all=edit.replace_all, where=where)
    changes.set(path, where, before, join_eol(result.text, eol))
    return {"path": where, "strategy": result.strategy, "count": result.count, "lines": result.lines}


def _current(path: Path, rel: str, ctx: ToolContext) -> str | None:
    if not path.exists() and (ctx.read_override is None or ctx.read_override(path) is None):
        return None
    return read_text(path, rel, ctx)


def _summary(changes: FileChanges, ctx: ToolContext, notes: list[dict[str, Any]]) -> str:
    parts: list[str] = []
    for note in notes:
        if note["strategy"] == "create":
            parts.append(f"Created {note['path']}.")
            continue
        lines = ", ".join(str(n) for n in note["lines"][:10])
        how = " (matched ignoring whitespace; re-indented)" if note["strategy"] == "whitespace" else ""
        plural = "s" if note["count"] != 1 else ""
        parts.append(
            f"Edited {note['path']}: {note['count']} replacement{plural} at line{plural} {lines}{how}."
        )
    for path, item in changes.planned.items():
        if item.after is not None and item.after != item.before:
            snippet = _snippet(item.after, [n for n in notes if n["path"] == item.rel])
            if snippet:
                parts.append(f"{ctx.workspace.relative(path)} now reads:\n{snippet}")
    return "\n".join(parts)


def _snippet(text: str, notes: list[dict[str, Any]], context: int = 3, max_lines: int = 24) -> str:
    """A few numbered lines around the first change so the model can check it."""
    if not notes or not notes[0]["lines"]:
        return ""
    lines = text.split("\n")
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    first = notes[0]["lines"][0]
    start = max(1, first - context)
    end = min(len(lines), start + max_lines - 1)
    return "\n".join(f"{n:>6}\t{lines[n - 1][:300]}" for n in range(start, end + 1))
