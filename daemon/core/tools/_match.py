"""Find-and-replace for the edit tools: exact first, then whitespace-tolerant.

Models often get indentation or trailing spaces slightly wrong when quoting code.
The tolerant pass compares whole lines with surrounding whitespace stripped, and
re-indents the replacement by the difference between the quoted indentation and
the file's, so the new code lands at the file's nesting level.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Literal

from ...errors import ToolFailure

__all__ = ["Replacement", "replace"]

#: The "closest text" hint is skipped for files this long (it is quadratic-ish).
_HINT_MAX_LINES = 20_000


@dataclass(slots=True)
class Replacement:
    text: str
    count: int
    strategy: Literal["exact", "whitespace"]
    lines: list[int] = field(default_factory=list)  # 1-based first line of each match


def replace(content: str, old: str, new: str, *, replace_all: bool, where: str) -> Replacement:
    """Replace ``old`` by ``new`` in ``content`` (all LF line endings).

    Raises :class:`ToolFailure` naming ``where`` when ``old`` is absent, or occurs
    more than once and ``replace_all`` is false.
    """
    starts = _find_all(content, old)
    if starts:
        lines = [content.count("\n", 0, s) + 1 for s in starts]
        if len(starts) > 1 and not replace_all:
            raise _ambiguous(where, lines)
        return Replacement(content.replace(old, new), len(starts), "exact", lines)
    tolerant = _tolerant(content, old, new, replace_all, where)
    if tolerant is not None:
        return tolerant
    raise ToolFailure(f"old_string was not found in {where}.{_hint(content, old)}")


def _find_all(content: str, needle: str) -> list[int]:
    found: list[int] = []
    start = content.find(needle)
    while start != -1:
        found.append(start)
        start = content.find(needle, start + len(needle))
    return found


def _ambiguous(where: str, lines: list[int]) -> ToolFailure:
    shown = ", ".join(str(n) for n in lines[:20])
    return ToolFailure(
        f"old_string occurs {len(lines)} times in {where} (at lines {shown}); include more "
        "surrounding lines to make it unique, or set replace_all to change every occurrence."
    )


def _split(text: str) -> tuple[list[str], bool]:
    lines = text.split("\n")
    trailing = len(lines) > 1 and lines[-1] == ""
    if trailing:
        lines.pop()
    return lines, trailing


def _tolerant(content: str, old: str, new: str, replace_all: bool, where: str) -> Replacement | None:
    old_lines, _ = _split(old)
    if not any(line.strip() for line in old_lines):
        return None
    file_lines, trailing = _split(content)
    key = [line.strip() for line in old_lines]
    keys = [line.strip() for line in file_lines]
    n = len(key)
    matches: list[int] = []
    i = 0
    while i + n <= len(keys):
        if keys[i : i + n] == key:
            matches.append(i)
            i += n
        else:
            i += 1
    if not matches:
        return None
    if len(matches) > 1 and not replace_all:
        raise _ambiguous(where, [m + 1 for m in matches])
    new_lines = _split(new)[0] if new else []
    out: list[str] = []
    cursor = 0
    for start in matches:
        out.extend(file_lines[cursor:start])
        out.extend(_reindent(new_lines, old_lines, file_lines[start : start + n]))
        cursor = start + n
    out.extend(file_lines[cursor:])
    text = "\n".join(out) + ("\n" if trailing and out else "")
    return Replacement(text, len(matches), "whitespace", [m + 1 for m in matches])


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _reindent(new_lines: list[str], old_lines: list[str], matched: list[str]) -> list[str]:
    ref = next(i for i, line in enumerate(old_lines) if line.strip())
    quoted, actual = _indent(old_lines[ref]), _indent(matched[ref])
    if quoted == actual:
        return [line.rstrip() if not line.strip() else line for line in new_lines]
    out: list[str] = []
    for line in new_lines:
        if not line.strip():
            out.append("")
        elif line.startswith(quoted):
            out.append(actual + line[len(quoted) :])
        else:
            out.append(line)  # indented less than the reference line: keep as given
    return out


def _hint(content: str, old: str) -> str:
    """Point at the most similar region so the model can copy the real text."""
    file_lines, _ = _split(content)
    old_lines, _ = _split(old)
    if not file_lines or len(file_lines) > _HINT_MAX_LINES or not old.strip():
        return " Read the file again and copy the text exactly."
    n = max(1, len(old_lines))
    target = "\n".join(line.strip() for line in old_lines)
    keys = [line.strip() for line in file_lines]
    best_ratio, best_start = 0.0, 0
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(target)
    for start in range(0, max(1, len(keys) - n + 1)):
        matcher.set_seq1("\n".join(keys[start : start + n]))
        if matcher.real_quick_ratio() <= best_ratio or matcher.quick_ratio() <= best_ratio:
            continue
        ratio = matcher.ratio()
        if ratio > best_ratio:
            best_ratio, best_start = ratio, start
    if best_ratio < 0.5:
        return " Read the file again and copy the text exactly."
    region = file_lines[best_start : best_start + n][:30]
    snippet = "\n".join(f"{best_start + 1 + k:>6}\t{line}" for k, line in enumerate(region))
    return (
        f" The most similar text ({best_ratio:.0%} alike) is at line {best_start + 1}:\n{snippet}\n"
        "Copy it exactly (without the line numbers) into old_string."
    )
