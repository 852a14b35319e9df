"""``@path`` mentions in a prompt: attach those workspace files to the message.

Like the file mentions of other coding agents: ``explain @src/app.py`` sends the
file's text along with the prompt, so even a model that never calls a tool
answers from the real file. Paths go through the workspace confinement; a
mention that escapes it, or names no file, is left as plain text and reported.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from ...errors import CodetetherError
from ..tools import Workspace

__all__ = ["expand_mentions"]

_MENTION = re.compile(r"(?<![\w@])@([\w./~+-]+)")
_MAX_FILE_CHARS = 20_000
_MAX_FILES = 8


def expand_mentions(text: str, workspace: Workspace,
                    on_read: Callable[[Path], None] | None = None) -> tuple[str, list[str]]:
    """The prompt with the mentioned files attached, and a notice for each mention that
    was refused (outside the workspace, not a readable text file): refusing is right,
    silence is not (C11). A bare ``@word`` that names nothing is just text."""
    attached: list[str] = []
    notices: list[str] = []
    seen: set[Path] = set()
    for match in _MENTION.finditer(text):
        raw = match.group(1).rstrip(".,:;)")
        looks_like_path = "/" in raw or "." in raw
        try:
            path = workspace.resolve(raw)
        except CodetetherError as exc:
            notices.append(f"@{raw} was not attached: {exc.message}")
            continue
        if path in seen:
            continue
        if not path.is_file():
            if looks_like_path:
                what = "is a directory" if path.is_dir() else "no such file in the workspace"
                notices.append(f"@{raw} was not attached: {what}")
            continue
        if len(seen) >= _MAX_FILES:
            notices.append(f"@{raw} was not attached: at most {_MAX_FILES} files per prompt")
            continue
        try:
            body = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = "not a UTF-8 text file" if isinstance(exc, UnicodeDecodeError) else exc.strerror
            notices.append(f"@{raw} was not attached: {why}")
            continue
        seen.add(path)
        if on_read is not None:
            on_read(path)
        if len(body) > _MAX_FILE_CHARS:
            body = body[:_MAX_FILE_CHARS] + f"\n[... truncated at {_MAX_FILE_CHARS} characters]"
        attached.append(f'<file path="{workspace.relative(path)}">\n{body.rstrip()}\n</file>')
    if not attached:
        return text, notices
    return text + "\n\n" + "\n\n".join(attached), notices
