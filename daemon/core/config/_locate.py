"""Line numbers for TOML keys, and dotted-key parsing and formatting.

tomllib returns plain dicts without positions, yet every config error must name
its line. :func:`key_lines` re-scans text that tomllib has already accepted and
records the line on which each key (and each array element) first appears,
tracking ``[table]`` / ``[[array]]`` headers, dotted keys, inline tables, arrays
and multi-line strings. It is best-effort by design: on anything it does not
understand it stops and returns what it has, and callers fall back to the
nearest enclosing key that has a line.
"""

from __future__ import annotations

import contextlib
import json
import re
import tomllib
from typing import Any

from ._schema import KeyPath

__all__ = ["format_key", "key_lines", "line_of", "parse_key"]

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR_END = frozenset(",]}\n#")


def format_key(path: KeyPath) -> str:
    """``("permissions", "rules", "bash", "git push*")`` -> ``permissions.rules.bash."git push*"``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        text = part if _BARE.fullmatch(part) else json.dumps(part, ensure_ascii=False)
        out += f".{text}" if out else text
    return out


def parse_key(key: str) -> tuple[str, ...]:
    """Parse a dotted TOML key (``a.b."c d"``) into its parts; ValueError if invalid."""
    try:
        doc: Any = tomllib.loads(f"{key} = 0")
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"invalid key {key!r}") from exc
    parts: list[str] = []
    while isinstance(doc, dict):
        if len(doc) != 1:
            raise ValueError(f"invalid key {key!r}")
        ((name, doc),) = doc.items()
        parts.append(name)
    return tuple(parts)


def line_of(lines: dict[KeyPath, int], path: KeyPath) -> int | None:
    """The line of ``path``, or of its nearest enclosing key that has one."""
    for end in range(len(path), 0, -1):
        line = lines.get(path[:end])
        if line is not None:
            return line
    return None


def key_lines(text: str) -> dict[KeyPath, int]:
    """Map every key path in ``text`` (valid TOML) to the 1-based line it first appears on."""
    scanner = _Scanner(text)
    # Best-effort: on a surprise, keep what was recorded before it.
    with contextlib.suppress(IndexError, ValueError, tomllib.TOMLDecodeError):
        scanner.document()
    return scanner.lines


class _Scanner:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.line = 1
        self.lines: dict[KeyPath, int] = {}
        self._aot_counts: dict[KeyPath, int] = {}

    # -- low level ------------------------------------------------------------------

    def _peek(self, n: int = 0) -> str:
        j = self.i + n
        return self.s[j] if j < len(self.s) else ""

    def _at(self, token: str) -> bool:
        return self.s.startswith(token, self.i)

    def _advance(self, n: int = 1) -> None:
        self.line += self.s.count("\n", self.i, self.i + n)
        self.i = min(self.i + n, len(self.s))

    def _skip_to(self, j: int) -> None:
        self._advance(max(j, self.i) - self.i)

    def _skip_blank(self, newlines: bool) -> None:
        while self.i < len(self.s):
            c = self.s[self.i]
            if c in " \t" or (newlines and c in "\r\n"):
                self._advance()
            elif c == "#":
                end = self.s.find("\n", self.i)
                self._skip_to(len(self.s) if end < 0 else end)
            else:
                return

    def _record(self, path: KeyPath) -> None:
        self.lines.setdefault(path, self.line)

    # -- grammar --------------------------------------------------------------------

    def document(self) -> None:
        table: KeyPath = ()
        while True:
            self._skip_blank(newlines=True)
            if self.i >= len(self.s):
                return
            if self._peek() == "[":
                table = self._header()
            else:
                key = self._key()
                self._record_key(table, key)
                self._skip_blank(newlines=False)
                if self._peek() != "=":
                    raise ValueError("expected '='")
                self._advance()
                self._skip_blank(newlines=False)
                self._value((*table, *key))

    def _header(self) -> KeyPath:
        array = self._at("[[")
        self._advance(2 if array else 1)
        self._skip_blank(newlines=False)
        path: KeyPath = self._key()
        self._skip_blank(newlines=False)
        self._advance(2 if array else 1)
        if array:
            index = self._aot_counts.get(path, 0)
            self._aot_counts[path] = index + 1
            self._record(path)
            path = (*path, index)
        self._record_key((), path)
        return path

    def _record_key(self, base: KeyPath, key: KeyPath) -> None:
        # A dotted key also defines each enclosing table on this line.
        for end in range(1, len(key) + 1):
            self._record((*base, *key[:end]))

    def _key(self) -> tuple[str, ...]:
        parts: list[str] = []
        while True:
            self._skip_blank(newlines=False)
            c = self._peek()
            if c in "\"'":
                start = self.i
                self._string()
                parts.append(tomllib.loads(f"k = {self.s[start:self.i]}")["k"])
            else:
                m = _BARE.match(self.s, self.i)
                if not m:
                    raise ValueError("expected a key")
                parts.append(m.group())
                self._skip_to(m.end())
            self._skip_blank(newlines=False)
            if self._peek() != ".":
                return tuple(parts)
            self._advance()

    def _string(self) -> None:
        """Skip one string of any of TOML's four kinds."""
        for delim in ('"""', "'''"):
            if self._at(delim):
                self._advance(3)
                while not self._at(delim):
                    if self.i >= len(self.s):
                        raise ValueError("unterminated string")
                    self._advance(2 if delim == '"""' and self._peek() == "\\" else 1)
                self._advance(3)
                while self._peek() == delim[0]:  # up to two quotes may close the content
                    self._advance()
                return
        quote = self._peek()
        self._advance()
        while self._peek() != quote:
            if self.i >= len(self.s) or self._peek() == "\n":
                raise ValueError("unterminated string")
            self._advance(2 if quote == '"' and self._peek() == "\\" else 1)
        self._advance()

    def _value(self, path: KeyPath) -> None:
        c = self._peek()
        if c in "\"'":
            self._string()
        elif c == "[":
            self._advance()
            index = 0
            while True:
                self._skip_blank(newlines=True)
                if self._peek() in ("]", ""):
                    self._advance()
                    return
                self._record((*path, index))
                self._value((*path, index))
                index += 1
                self._skip_blank(newlines=True)
                if self._peek() == ",":
                    self._advance()
        elif c == "{":
            self._advance()
            while True:
                self._skip_blank(newlines=True)
                if self._peek() in ("}", ""):
                    self._advance()
                    return
                key = self._key()
                self._record_key(path, key)
                self._skip_blank(newlines=False)
                self._advance()  # '='
                self._skip_blank(newlines=False)
                self._value((*path, *key))
                self._skip_blank(newlines=True)
                if self._peek() == ",":
                    self._advance()
        else:
            start = self.i
            while self.i < len(self.s) and self.s[self.i] not in _SCALAR_END:
                self._advance()
            if self.i == start:
                raise ValueError("expected a value")
