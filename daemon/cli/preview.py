"""What an approval prompt shows before it asks (C15): the diff an edit would make, or
the command a bash call would run. Pure functions over the request's arguments and the
files as they are now; nothing here writes."""

from __future__ import annotations

import difflib
import json
import os
from typing import Any

__all__ = ["approval_preview"]

MAX_LINES = 80  # a prompt is not a pager: the rest is counted, not shown
_EDIT_TOOLS = ("write_file", "edit", "multiedit", "apply_patch")


def approval_preview(tool: str, arguments: str, workspace: str | None) -> str:
    """The lines to show above "Allow ...?", or "" when there is nothing to add."""
    try:
        args = json.loads(arguments) if arguments else {}
    except ValueError:
        return ""
    if not isinstance(args, dict):
        return ""
    if tool == "bash" and isinstance(args.get("command"), str):
        return "\n".join("  $ " + line if i == 0 else "    " + line
                         for i, line in enumerate(args["command"].splitlines() or [""]))
    if tool not in _EDIT_TOOLS:
        return ""
    try:
        diff = _diff(tool, args, workspace)
    except (TypeError, KeyError, AttributeError):  # arguments the tool itself will refuse
        return ""
    return _clip(diff)


def _diff(tool: str, args: dict[str, Any], workspace: str | None) -> list[str]:
    if tool == "apply_patch":
        return str(args["patch"]).splitlines()
    if tool == "write_file":
        path = str(args["path"])
        return _unified(path, _current(workspace, path), str(args["content"]))
    edits = [args] if tool == "edit" else list(args["edits"])
    lines: list[str] = []
    after: dict[str, str | None] = {}
    order: list[str] = []
    for spec in edits:
        path = str(spec["path"])
        if path not in after:
            after[path] = _current(workspace, path)
            order.append(path)
        text = after[path]
        old, new = str(spec["old_string"]), str(spec["new_string"])
        if text is None or old not in text:  # the tool will report it; show the intent
            lines += _unified(path, old, new)
            continue
        after[path] = text.replace(old, new) if spec.get("replace_all") else text.replace(old, new, 1)
    for path in order:
        before, new_text = _current(workspace, path), after[path]
        if before is not None and new_text is not None and new_text != before:
            lines += _unified(path, before, new_text)
    return lines


def _current(workspace: str | None, path: str) -> str | None:
    """The file as it is now, if it is inside the workspace and readable as text."""
    if workspace is None:
        return None
    root = os.path.realpath(workspace)
    full = os.path.realpath(os.path.join(root, path))
    if full != root and not full.startswith(root + os.sep):
        return None  # the tool refuses escapes; do not read outside for a preview either
    try:
        with open(full, encoding="utf-8") as fh:
            return fh.read(1 << 20)
    except (OSError, UnicodeDecodeError):
        return None


def _unified(path: str, before: str | None, after: str) -> list[str]:
    old = [] if before is None else before.splitlines(keepends=True)
    return [line.rstrip("\n") for line in difflib.unified_diff(
        old, after.splitlines(keepends=True), "/dev/null" if before is None else f"a/{path}",
        f"b/{path}", n=2)]


def _clip(lines: list[str]) -> str:
    if len(lines) > MAX_LINES:
        lines = lines[:MAX_LINES] + [f"… {len(lines) - MAX_LINES} more lines"]
    return "\n".join("  " + line for line in lines)
