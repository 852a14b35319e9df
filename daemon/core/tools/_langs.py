"""Definition patterns per language, for codesearch.

Each rule is a regex template where ``{name}`` stands for the defined name. The
templates use the common subset of Rust's regex crate (ripgrep) and Python's
``re``: ``\\s \\w \\b (?:...) (?P<kw>...) (?i:...)``, no look-around, so the same
text prefilters in rg and then classifies in Python. A ``kw`` group, when
present, names the kind (``struct``, ``interface``...); otherwise the rule's kind.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KIND_GROUPS", "LANGUAGES", "Lang", "language_for"]


@dataclass(frozen=True, slots=True)
class Lang:
    name: str
    extensions: tuple[str, ...]
    rules: tuple[tuple[str, str], ...]  # (kind, template)

    @property
    def globs(self) -> list[str]:
        return [f"*{ext}" for ext in self.extensions]


_JAVA_MODS = r"(?:(?:public|private|protected|internal|static|final|abstract|sealed|open|data|partial|inner|annotation|override|virtual|async|synchronized|native|readonly|unsafe|extern|new)\s+)"
_RUST_VIS = r"(?:pub(?:\([^)]*\))?\s+)?"
_JS_EXPORT = r"(?:export\s+)?(?:default\s+)?(?:declare\s+)?"

LANGUAGES: tuple[Lang, ...] = (
    Lang("python", (".py", ".pyi"), (
        ("function", r"^\s*(?:async\s+)?def\s+{name}\s*[\(\[]"),
        ("class", r"^\s*class\s+{name}\b"),
        ("type", r"^type\s+{name}\b"),
        ("variable", r"^{name}\s*(?::[^=]+)?=[^=]"),
    )),
    Lang("javascript", (".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts"), (
        ("function", r"^\s*" + _JS_EXPORT + r"(?:async\s+)?function\s*\*?\s*{name}\b"),
        ("class", r"^\s*" + _JS_EXPORT + r"(?:abstract\s+)?(?P<kw>class|interface)\s+{name}\b"),
        ("type", r"^\s*" + _JS_EXPORT + r"type\s+{name}\b[^=]*="),
        ("enum", r"^\s*" + _JS_EXPORT + r"(?:const\s+)?enum\s+{name}\b"),
        ("variable", r"^\s*" + _JS_EXPORT + r"(?:const|let|var)\s+{name}\s*(?::[^=]+)?="),
        ("method", r"^\s+(?:(?:public|private|protected|static|readonly|async|override|abstract|get|set)\s+)*\*?{name}\s*(?:<[^>]*>)?\([^;]*\)\s*(?::\s*[^;{]+)?\{\s*$"),
    )),
    Lang("go", (".go",), (
        ("function", r"^func\s+{name}\s*[\(\[]"),
        ("method", r"^func\s+\([^)]*\)\s*{name}\s*[\(\[]"),
        ("type", r"^\s*type\s+{name}\s+\S"),
        ("variable", r"^\s*(?:const|var)\s+{name}\b"),
    )),
    Lang("rust", (".rs",), (
        ("function", r"^\s*" + _RUST_VIS + r"(?:default\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?(?:extern\s+\"[^\"]*\"\s+)?fn\s+{name}\b"),
        ("type", r"^\s*" + _RUST_VIS + r"(?P<kw>struct|enum|trait|type|union|mod)\s+{name}\b"),
        ("variable", r"^\s*" + _RUST_VIS + r"(?:const|static)\s+(?:mut\s+)?{name}\s*:"),
        ("macro", r"^\s*macro_rules!\s*{name}\b"),
        ("impl", r"^\s*(?:unsafe\s+)?impl(?:<[^>]*>)?\s+(?:[\w:]+(?:<[^>]*>)?\s+for\s+)?{name}\b"),
    )),
    Lang("java", (".java", ".kt", ".kts", ".cs", ".scala", ".groovy", ".dart"), (
        ("class", r"^\s*" + _JAVA_MODS + r"*(?:enum\s+)?(?P<kw>class|interface|enum|record|struct|object|trait|mixin)\s+{name}\b"),
        ("method", r"^\s*" + _JAVA_MODS + r"+[\w<>\[\],.?\s]*?\b{name}\s*\("),
        ("function", r"^\s*" + _JAVA_MODS + r"*(?:suspend\s+|inline\s+|operator\s+)*fun\s+(?:<[^>]*>\s*)?(?:[\w.]+\.)?{name}\s*\("),
        ("function", r"^\s*(?:(?:override|private|protected|final|implicit)\s+)*def\s+{name}\b"),
    )),
    Lang("c", (".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".hxx", ".m", ".mm"), (
        ("class", r"^\s*(?:typedef\s+)?(?:template\s*<[^>]*>\s*)?(?P<kw>class|struct|union|enum)\s+(?:class\s+)?{name}\b[^;]*$"),
        ("function", r"^(?:[\w*&:<>,]+\s+)+[*&]*(?:\w+::)*{name}\s*\([^;]*$"),
        ("macro", r"^\s*#\s*define\s+{name}\b"),
        ("type", r"^\s*typedef\s+[^;]*\b{name}\s*;"),
    )),
    Lang("ruby", (".rb", ".rake"), (
        ("function", r"^\s*def\s+(?:self\.)?{name}\b"),
        ("class", r"^\s*(?P<kw>class|module)\s+(?:[\w:]+::)?{name}\b"),
    )),
    Lang("php", (".php",), (
        ("function", r"^\s*(?:(?:public|private|protected|static|final|abstract)\s+)*function\s+&?{name}\s*\("),
        ("class", r"^\s*(?:(?:abstract|final|readonly)\s+)*(?P<kw>class|interface|trait|enum)\s+{name}\b"),
    )),
    Lang("swift", (".swift",), (
        ("function", r"^\s*(?:(?:public|private|internal|fileprivate|open|static|final|override|mutating|@\w+)\s+)*func\s+{name}\b"),
        ("class", r"^\s*(?:(?:public|private|internal|fileprivate|open|final|@\w+)\s+)*(?P<kw>class|struct|enum|protocol|extension|actor)\s+{name}\b"),
    )),
    Lang("lua", (".lua",), (
        ("function", r"^\s*(?:local\s+)?function\s+(?:[\w.]+[.:])?{name}\s*\("),
        ("function", r"^\s*(?:local\s+)?(?:[\w.]+\.)?{name}\s*=\s*function\b"),
    )),
    Lang("shell", (".sh", ".bash", ".zsh"), (
        ("function", r"^\s*function\s+{name}\b"),
        ("function", r"^\s*{name}\s*\(\)"),
    )),
    Lang("elixir", (".ex", ".exs"), (
        ("function", r"^\s*(?P<kw>def|defp|defmacro)\s+{name}\b"),
        ("module", r"^\s*defmodule\s+(?:[\w.]+\.)?{name}\b"),
    )),
    Lang("sql", (".sql",), (
        ("table", r"^\s*(?i:create)\s+(?i:or\s+replace\s+)?(?i:temp(?:orary)?\s+)?(?i:(?P<kw>function|procedure|table|view|index|type|trigger))\s+(?i:if\s+not\s+exists\s+)?(?:[\w\"]+\.)?\"?{name}\b"),
    )),
)

_BY_EXTENSION = {ext: lang for lang in LANGUAGES for ext in lang.extensions}

#: codesearch's ``kind`` filter: which extracted kinds each choice accepts.
KIND_GROUPS: dict[str, frozenset[str]] = {
    "function": frozenset({"function", "method", "macro", "def", "defp", "defmacro", "procedure"}),
    "class": frozenset({
        "class", "struct", "interface", "trait", "enum", "record", "object", "protocol",
        "module", "union", "actor", "extension", "impl", "mixin", "mod",
    }),
    "type": frozenset({"type", "typedef", "interface", "enum", "struct", "union", "trait", "protocol"}),
    "variable": frozenset({"variable", "const", "static", "table", "view", "index", "trigger"}),
}


def language_for(path: str) -> Lang | None:
    dot = path.rfind(".")
    return _BY_EXTENSION.get(path[dot:].lower()) if dot != -1 else None
