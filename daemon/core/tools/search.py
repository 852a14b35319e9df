"""grep: regex search over file contents through ripgrep."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from ...errors import InvalidParams, ToolFailure
from ._rg import base_args, run_rg, text_of
from ._util import cap_text, printable
from .base import Tool, ToolContext, ToolResult

__all__ = ["GrepTool"]

MAX_OUTPUT_CHARS = 30_000
MAX_LINE_CHARS = 300


class GrepParams(msgspec.Struct, forbid_unknown_fields=True):
    pattern: Annotated[
        str,
        Meta(
            min_length=1,
            description=(
                "Regular expression (Rust regex syntax, like PCRE without look-around), "
                "e.g. `def \\w+_handler`, `TODO|FIXME`. Set fixed_strings for literal text."
            ),
        ),
    ]
    path: Annotated[
        str, Meta(description="File or directory to search, relative to the workspace root.")
    ] = "."
    include: Annotated[
        str,
        Meta(description="Only search files whose name matches this glob, e.g. `*.py` or `*.{ts,tsx}`."),
    ] = ""
    ignore_case: Annotated[bool, Meta(description="Case-insensitive matching.")] = False
    fixed_strings: Annotated[bool, Meta(description="Treat pattern as literal text, not a regex.")] = False
    context: Annotated[
        int, Meta(ge=0, le=20, description="Lines of context shown before and after each match.")
    ] = 0
    output: Annotated[
        Literal["content", "files"],
        Meta(description="`content`: matching lines (default); `files`: only the names of matching files."),
    ] = "content"
    limit: Annotated[
        int, Meta(ge=1, le=2000, description="Stop after this many matches (or files). Default 200.")
    ] = 200


class GrepTool(Tool):
    name = "grep"
    description = (
        "Search file contents with a regular expression (ripgrep). Skips files ignored by "
        ".gitignore, binary files and .git. Results are grouped by file with line numbers "
        "(`12:` a matching line, `13-` a context line) in path order. Use include to "
        "restrict file types, output='files' to list matching files only, and codesearch "
        "to find where a function or class is defined."
    )
    params = GrepParams
    read_only = True

    async def run(self, args: GrepParams, ctx: ToolContext) -> ToolResult:
        target = ctx.workspace.resolve(args.path)
        if not target.exists():
            raise ToolFailure(f"no such file or directory: {ctx.workspace.relative(target)}")
        rel = ctx.workspace.relative(target)
        argv = base_args()
        if args.ignore_case:
            argv.append("--ignore-case")
        if args.fixed_strings:
            argv.append("--fixed-strings")
        if args.include:
            argv += ["--glob", args.include]
        if args.output == "files":
            argv += ["--max-count", "1"]
        elif args.context:
            argv += ["--context", str(args.context)]
        argv += ["--regexp", args.pattern]
        if rel != ".":
            argv += ["--", rel]
        collector = _Collector(args.limit, files_only=args.output == "files")
        outcome = await run_rg(argv, ctx.workspace.root, collector.feed)
        if outcome.returncode == 2 and not collector.files:
            message = outcome.stderr.strip() or "ripgrep failed"
            if "regex parse error" in message or "error parsing" in message:
                raise InvalidParams(f"grep: invalid regular expression: {message}")
            raise ToolFailure(f"grep failed: {message}")
        body = collector.render()
        if not collector.files:
            where = "the workspace" if rel == "." else rel
            if args.include:
                where += f" (files matching {args.include!r})"
            return ToolResult(
                f"No matches for {args.pattern!r} in {where}.",
                metadata={"matches": 0, "files": 0, "truncated": False},
            )
        body, cut = cap_text(body, MAX_OUTPUT_CHARS, "grep output")
        truncated = outcome.stopped or cut
        if outcome.stopped:
            unit = "files" if args.output == "files" else "matches"
            body += f"\n[stopped at {args.limit} {unit}; narrow the pattern, path or include]"
        elif cut:
            body += "\n[output cut; narrow the search or lower context]"
        if outcome.returncode == 2:
            body += "\n[some files could not be searched: " + outcome.stderr.strip()[:500] + "]"
        meta = {"matches": collector.matches, "files": len(collector.files), "truncated": truncated}
        return ToolResult(body, metadata=meta)


@dataclass
class _File:
    path: str
    lines: list[tuple[int, str, bool]] = field(default_factory=list)  # (number, text, is_match)


@dataclass
class _Collector:
    limit: int
    files_only: bool
    files: list[_File] = field(default_factory=list)
    matches: int = 0

    def feed(self, message: dict[str, Any]) -> bool:
        kind = message.get("type")
        data = message.get("data") or {}
        if kind == "begin":
            if self.files_only and len(self.files) >= self.limit:
                return False
            self.files.append(_File(printable(text_of(data.get("path")))))
        elif kind in ("match", "context") and self.files:
            if kind == "match":
                if self.matches >= self.limit:
                    return False
                self.matches += 1
            text = text_of(data.get("lines")).rstrip("\n").rstrip("\r")
            if len(text) > MAX_LINE_CHARS:
                text = text[:MAX_LINE_CHARS] + " [...]"
            number = int(data.get("line_number") or 0)
            # A multi-line match arrives as one message; number each line.
            for offset, part in enumerate(text.split("\n")):
                self.files[-1].lines.append((number + offset, printable(part), kind == "match"))
        return True

    def render(self) -> str:
        if self.files_only:
            return "\n".join(f.path for f in self.files)
        out: list[str] = []
        for f in self.files:
            if not f.lines:
                continue
            out.append(f"{f.path}:")
            previous = None
            for number, text, is_match in f.lines:
                if previous is not None and number > previous + 1:
                    out.append("  --")
                out.append(f"  {number}{':' if is_match else '-'} {text}")
                previous = number
        return "\n".join(out)
