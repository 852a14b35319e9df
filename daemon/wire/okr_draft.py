"""How ``/go``'s approval gate carries its draft: an ``approval_request`` event with tool
``okr``, the objective's title as ``subject`` and the draft as JSON in ``arguments``::

    {"okr_id", "run_id", "attempt", "title", "description",
     "key_results": [{"title", "target_value", "unit", "metric_type", "evidence": {"kind", ...}}]}

Every client shows it the same way: :func:`okr_lines` (the CLI's prompt, the language
server's gate detail, the editors' panels).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["okr_draft", "okr_lines"]


def okr_draft(arguments: str) -> dict[str, Any] | None:
    """The draft in an ``okr`` approval's arguments, or None if they are not one."""
    try:
        draft = json.loads(arguments)
    except (ValueError, TypeError):
        return None
    if not isinstance(draft, dict) or not isinstance(draft.get("key_results"), list):
        return None
    return draft


def _evidence(ev: Any) -> str:
    if not isinstance(ev, dict):
        return ""
    kind = str(ev.get("kind") or "")
    value = next((str(ev[k]) for k in ("command", "selection", "path", "url", "question", "value") if ev.get(k)), "")
    return f"{kind}: {value}" if value else kind


def okr_lines(draft: dict[str, Any]) -> list[str]:
    """The draft as lines for a person: the objective, then one line per key result with
    its target and how it is measured."""
    lines = [str(draft.get("title") or "(untitled objective)")]
    if draft.get("description"):
        lines.append(str(draft["description"]))
    for i, kr in enumerate(draft.get("key_results") or [], 1):
        if not isinstance(kr, dict):
            continue
        value = kr.get("target_value", "")
        value = f"{value:g}" if isinstance(value, (int, float)) else str(value)
        target = f"{value} {kr.get('unit') or ''}".strip()
        how = _evidence(kr.get("evidence"))
        lines.append(f"KR{i}. {kr.get('title', '')}"
                     + (f" (target {target}, {kr.get('metric_type', 'progress')})" if target else "")
                     + (f" — measured by {how}" if how else ""))
    return lines
