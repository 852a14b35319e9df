"""``@path`` mentions in a prompt: attach those workspace files to the message.

Like the file mentions of other coding agents: ``explain @src/app.py`` sends the
file's text along with the prompt, so even a model that never calls a tool
answers from the real file. Paths go through the workspace confinement; a
mention that escapes it, or names no file, is left as plain text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from ..errors import CodetetherError
from .tools.base import Workspace

__all__ = ["expand_mentions"]

_MENTION = re.compile(r"(?<![\w@])@([\w./~+-]+)")
_MAX_FILE_CHARS = 20_000
_MAX_FILES = 8


def expand_mentions(text: str, workspace: Workspace,
                    on_read: Callable[[Path], None] | None = None) -> str:
    attached: list[str] = []
    seen: set[Path] = set()
    for match in _MENTION.finditer(text):
        raw = match.group(1).rstrip(".,:;)")
        try:
            path = workspace.resolve(raw)
        except CodetetherError:
            continue
        if path in seen or not path.is_file() or len(seen) >= _MAX_FILES:
            continue
        try:
            body = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        seen.add(path)
        if on_read is not None:
            on_read(path)
        if len(body) > _MAX_FILE_CHARS:
            body = body[:_MAX_FILE_CHARS] + f"\n[... truncated at {_MAX_FILE_CHARS} characters]"
        attached.append(f'<file path="{workspace.relative(path)}">\n{body.rstrip()}\n</file>')
    if not attached:
        return text
    return text + "\n\n" + "\n\n".join(attached)
