"""codesearch: find where symbols are defined, across languages, ranked.

One ripgrep pass prefilters lines with every definition pattern of the chosen
languages (see ``_langs``); each candidate is then classified in Python by the
patterns of its own file's language, which extracts the defined name and its
kind. Candidates are ranked by how well the name matches the query (exact, then
case-insensitive, prefix, suffix, substring), the kind of definition, and where
the file lives (tests and vendored code rank lower).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from ...errors import InvalidParams, ToolFailure
from ._langs import KIND_GROUPS, LANGUAGES, Lang, language_for
from ._rg import base_args, run_rg, text_of
from ._util import printable
from .base import Tool, ToolContext, ToolResult

__all__ = ["CodeSearchTool"]

#: Candidate lines examined at most; a very short query can match thousands.
MAX_CANDIDATES = 5000
_QUERY = re.compile(r"^[\w$]+$")
_SPLIT = re.compile(r"::|\.|#|->")
_TESTY = re.compile(
    r"(^|/)(tests?|spec|__tests__|testing)/|(^|/)test_[^/]*$|_test\.\w+$|\.(test|spec)\.\w+$"
)
_VENDORED = re.compile(r"(^|/)(vendor|node_modules|third_party|dist|build|site-packages)/")
#: Words the looser patterns (C functions, JS methods) can mistake for names.
_KEYWORDS = frozenset({
    "if", "for", "while", "switch", "catch", "return", "function", "else", "do", "new", "sizeof",
})
_KIND_BONUS = {
    "class": 8, "struct": 8, "interface": 8, "trait": 8, "type": 7, "enum": 7, "function": 6,
    "method": 5, "macro": 4, "module": 4, "impl": 2, "variable": 3,
}
_ARROW = re.compile(r"=\s*(?:async\s*)?(?:\([^)]*\)|[\w$]+)\s*=>|=\s*(?:async\s+)?function\b")

LanguageName = Literal[
    "", "python", "javascript", "go", "rust", "java", "c", "ruby", "php", "swift", "lua", "shell",
    "elixir", "sql",
]


class CodeSearchParams(msgspec.Struct, forbid_unknown_fields=True):
    query: Annotated[
        str,
        Meta(
            min_length=1,
            description=(
                "Symbol name or part of one, e.g. `parse_config`, `UserService`, `Handler`. "
                "A qualified name (`Foo.bar`, `Foo::bar`) searches for its last part."
            ),
        ),
    ]
    kind: Annotated[
        Literal["any", "function", "class", "type", "variable"],
        Meta(
            description=(
                "Only definitions of this kind: function (incl. methods), class (incl. struct, "
                "interface, trait, enum, module), type, variable (incl. constants)."
            )
        ),
    ] = "any"
    language: Annotated[
        LanguageName,
        Meta(
            description=(
                "Restrict to one language (javascript includes TypeScript; java includes Kotlin, "
                "C#, Scala; c includes C++). Empty: all."
            )
        ),
    ] = ""
    path: Annotated[
        str, Meta(description="Directory or file to search, relative to the workspace root.")
    ] = "."
    exact: Annotated[bool, Meta(description="Only names equal to the query (ignoring case).")] = False
    limit: Annotated[
        int, Meta(ge=1, le=200, description="Maximum number of definitions returned. Default 25.")
    ] = 25


class CodeSearchTool(Tool):
    name = "codesearch"
    description = (
        "Find where functions, methods, classes, structs, interfaces, types, constants "
        "and macros are defined, in Python, JavaScript/TypeScript, Go, Rust, Java/Kotlin/"
        "C#/Scala, C/C++, Ruby, PHP, Swift, Lua, shell, Elixir and SQL. Give a symbol name "
        "or a part of one; results are ranked best first (exact name, then prefix, then "
        "substring; definitions in tests and vendored code last), each with its location "
        "and the defining line. Use grep for usages and free text."
    )
    params = CodeSearchParams
    read_only = True

    def approval_subject(self, args: CodeSearchParams) -> str:
        return args.query

    async def run(self, args: CodeSearchParams, ctx: ToolContext) -> ToolResult:
        name = _SPLIT.split(args.query.strip())[-1]
        if not _QUERY.match(name):
            raise InvalidParams(
                f"codesearch: {args.query!r} is not a symbol name; give an identifier such as "
                "parse_config or UserService, or use grep for free text"
            )
        target = ctx.workspace.resolve(args.path)
        if not target.exists():
            raise ToolFailure(f"no such file or directory: {ctx.workspace.relative(target)}")
        rel = ctx.workspace.relative(target)
        langs = [lang for lang in LANGUAGES if not args.language or lang.name == args.language]
        argv = base_args()
        for lang in langs:
            for glob in lang.globs:
                argv += ["--glob", glob]
        for pattern in dict.fromkeys(_rg_pattern(t, name) for lang in langs for _, t in lang.rules):
            argv += ["--regexp", pattern]
        if rel != ".":
            argv += ["--", rel]
        ranker = _Ranker(name, args.kind, args.exact)
        outcome = await run_rg(argv, ctx.workspace.root, ranker.feed)
        if outcome.returncode == 2 and not ranker.hits:
            raise ToolFailure(f"codesearch failed: {outcome.stderr.strip() or 'ripgrep failed'}")
        hits = ranker.ranked()
        if not hits:
            return ToolResult(
                f"No definitions matching {name!r} found in {'the workspace' if rel == '.' else rel}"
                f"{' (kind ' + args.kind + ')' if args.kind != 'any' else ''}. "
                "Try a shorter part of the name, or grep for usages.",
                metadata={"count": 0, "truncated": False},
            )
        shown = hits[: args.limit]
        lines = [f"Definitions matching {name!r} ({len(hits)} found, best first):"]
        for hit in shown:
            lines.append(f"{hit.path}:{hit.line}  [{hit.kind}] {hit.name}")
            lines.append(f"    {hit.text}")
        if len(hits) > args.limit:
            lines.append(f"[{len(hits) - args.limit} more; raise limit or narrow kind/language/path]")
        if outcome.stopped:
            lines.append(f"[search stopped after {MAX_CANDIDATES} candidate lines; the query is very broad]")
        meta: dict[str, Any] = {
            "count": len(hits),
            "truncated": len(hits) > args.limit or outcome.stopped,
            "results": [{"path": h.path, "line": h.line, "kind": h.kind, "name": h.name} for h in shown],
        }
        return ToolResult("\n".join(lines), metadata=meta)


def _name_pattern(name: str) -> str:
    return r"[\w$]*(?i:" + name.replace("$", r"\$") + r")[\w$]*"


def _rg_pattern(template: str, name: str) -> str:
    # rg joins all patterns into one regex, where repeated group names are an error.
    plain = template.replace("(?P<kw>", "(?:")
    return plain.replace("{name}", _name_pattern(name))


@lru_cache(maxsize=64)
def _compiled(lang: Lang, name: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
    named = "(?P<name>" + _name_pattern(name) + ")"
    return tuple((kind, re.compile(template.replace("{name}", named))) for kind, template in lang.rules)


@dataclass(slots=True)
class _Hit:
    path: str
    line: int
    kind: str
    name: str
    text: str
    score: float


@dataclass
class _Ranker:
    query: str
    kind: str
    exact: bool
    hits: list[_Hit] = field(default_factory=list)
    seen: int = 0

    def feed(self, message: dict[str, Any]) -> bool:
        if message.get("type") != "match":
            return True
        self.seen += 1
        if self.seen > MAX_CANDIDATES:
            return False
        data = message.get("data") or {}
        path = printable(text_of(data.get("path")))
        text = text_of(data.get("lines")).rstrip("\r\n")
        lang = language_for(path)
        if lang is None or len(text) > 1000:
            return True
        hit = self._classify(lang, path, int(data.get("line_number") or 0), text)
        if hit is not None:
            self.hits.append(hit)
        return True

    def _classify(self, lang: Lang, path: str, line: int, text: str) -> _Hit | None:
        best: _Hit | None = None
        for kind, regex in _compiled(lang, self.query):
            match = regex.search(text)
            if match is None:
                continue
            name = match.group("name")
            if name in _KEYWORDS:
                continue
            groups = match.groupdict()
            found = _refine(lang.name, groups.get("kw") or kind, text)
            if self.kind != "any" and found not in KIND_GROUPS[self.kind]:
                continue
            if self.exact and name.lower() != self.query.lower():
                continue
            score = _score(self.query, name, found, path)
            if best is None or score > best.score:
                best = _Hit(path, line, found, name, printable(text.strip())[:200], score)
        return best

    def ranked(self) -> list[_Hit]:
        return sorted(self.hits, key=lambda h: (-h.score, h.path.count("/"), h.path, h.line))


def _refine(lang: str, kind: str, text: str) -> str:
    kind = kind.lower().split()[0]
    if lang == "python" and kind == "function" and text[:1].isspace():
        return "method"
    if lang == "javascript" and kind == "variable" and _ARROW.search(text):
        return "function"
    if lang == "go" and kind == "type":
        for word in ("struct", "interface"):
            if re.search(rf"\b{word}\b", text):
                return word
    if kind in ("def", "defp", "defmacro"):
        return "macro" if kind == "defmacro" else "function"
    if kind == "procedure":
        return "function"
    return kind


def _score(query: str, name: str, kind: str, path: str) -> float:
    lowered, q = name.lower(), query.lower()
    if name == query:
        score = 100.0
    elif lowered == q:
        score = 90.0
    elif lowered.startswith(q):
        score = 70.0
    elif lowered.endswith(q):
        score = 60.0
    else:
        score = 50.0
    score += 10.0 * len(query) / max(len(name), 1)  # closer in length, closer in meaning
    score += _KIND_BONUS.get(kind, 3)
    if _TESTY.search(path):
        score -= 15
    if _VENDORED.search(path):
        score -= 20
    return score
