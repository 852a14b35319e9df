"""read_file and write_file."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from ...errors import ToolFailure
from ._util import (
    SNIFF_BYTES,
    FileChanges,
    cap_line,
    commit_changes,
    decode,
    guard_plan_mode,
    is_binary,
    printable,
)
from .base import Tool, ToolContext, ToolResult

__all__ = ["ReadFileTool", "WriteFileTool"]

MAX_LINES = 2000
#: Characters of file text returned per call; beyond it the note says where to go on.
MAX_READ_CHARS = 100_000

PathArg = Annotated[
    str,
    Meta(description="Path relative to the workspace root, or absolute but inside the workspace."),
]


class ReadFileParams(msgspec.Struct, forbid_unknown_fields=True):
    path: PathArg
    offset: Annotated[
        int, Meta(ge=1, description="1-based line number to start reading at. Default 1.")
    ] = 1
    limit: Annotated[
        int,
        Meta(ge=1, le=MAX_LINES, description=f"Maximum number of lines to return (at most {MAX_LINES})."),
    ] = MAX_LINES


class ReadFileTool(Tool):
    name = "read_file"
    description = (
        "Read a text file from the workspace. Lines come numbered like `cat -n` "
        "(line number, a tab, then the line); the numbers are not part of the file, so "
        "never copy them into edit strings. Reads up to 2000 lines from `offset`; a note "
        "at the end says how to continue when the file is longer. Lines over 2000 "
        "characters are cut. Binary files are refused. In an editor session you see the "
        "unsaved buffer, not the file on disk."
    )
    params = ReadFileParams
    read_only = True

    async def run(self, args: ReadFileParams, ctx: ToolContext) -> ToolResult:
        path = ctx.workspace.resolve(args.path)
        rel = ctx.workspace.relative(path)
        override = ctx.read_override(path) if ctx.read_override is not None else None
        if override is not None:
            lines, total = _window(_split_lines(override), args.offset, args.limit)
            source = "buffer"
        else:
            _check_readable(path, rel)
            lines, total = _read_window(path, rel, args.offset, args.limit)
            source = "disk"
        if total == 0:
            output = f"({rel} is empty)"
            shown_end = 0
        elif args.offset > total:
            raise ToolFailure(f"offset {args.offset} is past the end of {rel}, which has {total} lines")
        else:
            output, shown_end = _number(lines, args.offset)
            if shown_end < total:
                output += (
                    f"\n\n[showing lines {args.offset}-{shown_end} of {total}; "
                    f"read on with offset={shown_end + 1}]"
                )
        if ctx.on_file_read is not None:
            ctx.on_file_read(path)
        meta: dict[str, Any] = {
            "path": rel,
            "source": source,
            "total_lines": total,
            "lines": [args.offset, shown_end] if total else [0, 0],
            "truncated": shown_end < total,
        }
        return ToolResult(output, metadata=meta)


def _check_readable(path: Path, rel: str) -> None:
    if path.is_dir():
        raise ToolFailure(f"{rel} is a directory; use list_dir to see what it contains")
    if not path.exists():
        raise ToolFailure(f"no such file: {rel}{_suggest(path)}")
    if not path.is_file():  # opening a FIFO would block forever
        raise ToolFailure(f"{rel} is not a regular file (a device, socket or pipe)")


def _suggest(path: Path) -> str:
    try:
        names = [p.name for p in path.parent.iterdir()] if path.parent.is_dir() else []
    except OSError:
        return ""
    close = difflib.get_close_matches(path.name, names, n=3, cutoff=0.6)
    return f" (did you mean: {', '.join(close)}?)" if close else ""


def _read_window(path: Path, rel: str, offset: int, limit: int) -> tuple[list[str], int]:
    """Lines ``offset .. offset+limit-1`` and the file's line count, streaming."""
    lines: list[str] = []
    total = 0
    try:
        with path.open("rb") as handle:
            head = handle.read(SNIFF_BYTES)
            if is_binary(head):
                size = path.stat().st_size
                raise ToolFailure(f"{rel} is a binary file ({size} bytes); read_file shows text only")
            handle.seek(0)
            for raw in handle:
                total += 1
                if total >= offset and len(lines) < limit:
                    lines.append(printable(decode(raw.rstrip(b"\r\n"))))
                elif len(lines) >= limit:
                    # Count the rest in large chunks rather than line by line.
                    rest = handle.read()
                    total += rest.count(b"\n") + (1 if rest and not rest.endswith(b"\n") else 0)
                    break
    except OSError as exc:
        raise ToolFailure(f"cannot read {rel}: {exc.strerror or exc}") from exc
    return lines, total


def _split_lines(text: str) -> list[str]:
    # Same line semantics as the disk path: only "\n" ends a line.
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def _window(all_lines: list[str], offset: int, limit: int) -> tuple[list[str], int]:
    return [printable(line) for line in all_lines[offset - 1 : offset - 1 + limit]], len(all_lines)


def _number(lines: list[str], offset: int) -> tuple[str, int]:
    out: list[str] = []
    used = 0
    last = offset - 1
    for index, line in enumerate(lines, start=offset):
        rendered = f"{index:>6}\t{cap_line(line)}"
        if used + len(rendered) > MAX_READ_CHARS and out:
            break
        out.append(rendered)
        used += len(rendered) + 1
        last = index
    return "\n".join(out), last


class WriteFileParams(msgspec.Struct, forbid_unknown_fields=True):
    path: PathArg
    content: Annotated[str, Meta(description="The complete new content of the file.")]


class WriteFileTool(Tool):
    name = "write_file"
    description = (
        "Create a file, or replace an existing file's entire content. Missing parent "
        "directories are created; the write is atomic and keeps the file's permissions. "
        "To change part of an existing file prefer `edit`, which sends only the change."
    )
    params = WriteFileParams

    async def run(self, args: WriteFileParams, ctx: ToolContext) -> ToolResult:
        guard_plan_mode(ctx, self.name)
        path = ctx.workspace.resolve(args.path)
        rel = ctx.workspace.relative(path)
        if path.is_dir():
            raise ToolFailure(f"{rel} is a directory; give a file path")
        before: str | None
        if path.exists() and not path.is_file():
            raise ToolFailure(f"{rel} is not a regular file (a device, socket or pipe)")
        try:
            before = decode(path.read_bytes())
        except FileNotFoundError:
            before = None
        except OSError as exc:
            raise ToolFailure(f"cannot write {rel}: {exc.strerror or exc}") from exc
        changes = FileChanges(ctx.workspace.root)
        changes.set(path, rel, before, args.content)
        await commit_changes(changes, ctx)
        meta = changes.metadata()
        lines = args.content.count("\n") + (0 if args.content.endswith("\n") or not args.content else 1)
        if before is None:
            output = f"Created {rel} ({lines} lines)."
        elif before == args.content:
            output = f"{rel} already had this content; nothing changed."
        else:
            change = meta["changes"][0]
            output = f"Wrote {rel} ({lines} lines; +{change['additions']} -{change['deletions']})."
        return ToolResult(output, metadata=meta)
