"""list_dir and glob: .gitignore-aware views of the workspace tree."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
from pathlib import Path
from typing import Annotated

import msgspec
from msgspec import Meta

from ...errors import InvalidParams, ToolFailure
from ._ignore import IgnoreRules, walk
from .base import Tool, ToolContext, ToolResult, Workspace

TYPE_CHECKING = False
if TYPE_CHECKING:  # pathspec loads on the first glob: an idle daemon never needs it
    import pathspec

__all__ = ["GlobTool", "ListDirTool"]

DirArg = Annotated[
    str, Meta(description="Directory relative to the workspace root. Default: the root.")
]


class ListDirParams(msgspec.Struct, forbid_unknown_fields=True):
    path: DirArg = "."
    depth: Annotated[
        int, Meta(ge=1, le=10, description="How many levels deep to list. Default 2.")
    ] = 2
    limit: Annotated[
        int, Meta(ge=1, le=2000, description="Maximum number of entries shown. Default 400.")
    ] = 400
    ignore: Annotated[
        list[str],
        Meta(description="Extra gitignore-style patterns to hide, e.g. [\"*.lock\", \"dist/\"]."),
    ] = []


class ListDirTool(Tool):
    name = "list_dir"
    description = (
        "Show the directory tree under a path, two levels deep by default. Directories "
        "end with '/', symlinks show their target. Entries ignored by .gitignore (and "
        "the .git directory) are left out. Use it to get oriented; use glob to find files "
        "by name and grep to search contents."
    )
    params = ListDirParams
    read_only = True

    def approval_subject(self, args: ListDirParams) -> str:
        return args.path

    async def run(self, args: ListDirParams, ctx: ToolContext) -> ToolResult:
        start = _directory(ctx.workspace, args.path)
        extra = _spec(args.ignore, "ignore") if args.ignore else None
        lines, shown, more = await asyncio.to_thread(
            _tree, ctx.workspace, start, args.depth, args.limit, extra
        )
        header = ctx.workspace.relative(start).rstrip("/") + "/"
        if header == "./":
            header = f"{ctx.workspace.root.name}/ (workspace root)"
        body = "\n".join([header, *lines]) if lines else f"{header}\n  (empty)"
        if more:
            body += f"\n[stopped after {args.limit} entries; list a subdirectory or lower depth]"
        meta = {"path": ctx.workspace.relative(start), "entries": shown, "truncated": more}
        return ToolResult(body, metadata=meta)


def _tree(
    ws: Workspace, start: Path, depth: int, limit: int, extra: pathspec.PathSpec[pathspec.Pattern] | None
) -> tuple[list[str], int, bool]:
    rules = IgnoreRules(ws.root)
    lines: list[str] = []

    def skip(path: Path, is_dir: bool) -> bool:
        rel = path.relative_to(start).as_posix()
        return extra is not None and extra.match_file(rel + "/" if is_dir else rel)

    for path, is_dir, level in walk(start, rules, depth, skip):
        if len(lines) >= limit:
            return lines, len(lines), True
        indent = "  " * level
        if path.is_symlink():
            try:
                target = os.readlink(path)
            except OSError:
                target = "?"
            lines.append(f"{indent}{path.name} -> {target}")
        else:
            lines.append(f"{indent}{path.name}{'/' if is_dir else ''}")
    return lines, len(lines), False


class GlobParams(msgspec.Struct, forbid_unknown_fields=True):
    pattern: Annotated[
        str,
        Meta(
            description=(
                "Glob pattern with gitignore semantics, relative to `path`: `**/*.py`, "
                "`src/**/test_*.ts`, `*.{js,jsx}`. A pattern without '/' matches at any depth."
            )
        ),
    ]
    path: DirArg = "."
    limit: Annotated[
        int, Meta(ge=1, le=1000, description="Maximum number of paths returned. Default 100.")
    ] = 100


class GlobTool(Tool):
    name = "glob"
    description = (
        "Find files by name pattern. Returns workspace-relative paths, most recently "
        "modified first, skipping .gitignored files. Patterns follow .gitignore syntax "
        "plus {a,b} alternatives. Use grep to search file contents instead."
    )
    params = GlobParams
    read_only = True

    async def run(self, args: GlobParams, ctx: ToolContext) -> ToolResult:
        start = _directory(ctx.workspace, args.path)
        if ".." in Path(args.pattern).parts:
            raise InvalidParams("glob: the pattern may not contain '..'; set `path` instead")
        spec = _spec(expand_braces(args.pattern), "pattern")
        found = await asyncio.to_thread(_match, ctx.workspace, start, spec)
        found.sort(key=lambda item: (-item[0], item[1]))
        paths = [rel for _, rel in found[: args.limit]]
        if not paths:
            where = ctx.workspace.relative(start)
            return ToolResult(
                f"No files match {args.pattern!r} under {where}.",
                metadata={"count": 0, "truncated": False},
            )
        output = "\n".join(paths)
        if len(found) > args.limit:
            output += f"\n[showing {args.limit} of {len(found)} matches, newest first; narrow the pattern]"
        return ToolResult(output, metadata={"count": len(found), "truncated": len(found) > args.limit})


def _match(ws: Workspace, start: Path, spec: pathspec.PathSpec[pathspec.Pattern]) -> list[tuple[float, str]]:
    rules = IgnoreRules(ws.root)
    found: list[tuple[float, str]] = []
    for path, is_dir, _ in walk(start, rules):
        if is_dir or not spec.match_file(path.relative_to(start).as_posix()):
            continue
        try:
            mtime = path.stat().st_mtime
        except OSError:
            mtime = 0.0
        found.append((mtime, ws.relative(path)))
    return found


def _directory(ws: Workspace, path: str) -> Path:
    resolved = ws.resolve(path or ".")
    if not resolved.exists():
        raise ToolFailure(f"no such directory: {ws.relative(resolved)}")
    if not resolved.is_dir():
        raise ToolFailure(f"{ws.relative(resolved)} is a file, not a directory")
    return resolved


def _spec(patterns: list[str], what: str) -> pathspec.PathSpec[pathspec.Pattern]:
    import pathspec

    try:
        return pathspec.PathSpec.from_lines("gitignore", patterns)
    except (ValueError, TypeError) as exc:
        raise InvalidParams(f"invalid {what} {patterns!r}: {exc}") from exc


_BRACE = re.compile(r"\{([^{}]*,[^{}]*)\}")


def expand_braces(pattern: str, _cap: int = 256) -> list[str]:
    """``src/*.{js,ts}`` -> ``["src/*.js", "src/*.ts"]``; nested groups expand too."""
    match = _BRACE.search(pattern)
    if match is None:
        return [pattern]
    head, tail = pattern[: match.start()], pattern[match.end() :]
    options = match.group(1).split(",")
    expanded = (expand_braces(head + option + tail, _cap) for option in options)
    return list(itertools.islice(itertools.chain.from_iterable(expanded), _cap))
