"""Pure conversions between daemon data and LSP types (tested without a server)."""

from __future__ import annotations

import re
from typing import Any

from lsprotocol import types as t
from pygls.uris import from_fs_path, to_fs_path

__all__ = [
    "changed_range",
    "file_edit",
    "parse_review",
    "path_to_uri",
    "proposal_actions",
    "status_text",
    "uri_to_path",
]


def path_to_uri(path: str) -> str:
    return from_fs_path(path) or f"file://{path}"


def uri_to_path(uri: str) -> str:
    return to_fs_path(uri) or uri


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _span(before: str, after: str) -> tuple[int, int, int]:
    """(first differing line, end line in before, end line in after), exclusive ends."""
    a, b = _lines(before), _lines(after)
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    end_a, end_b = len(a), len(b)
    while end_a > start and end_b > start and a[end_a - 1] == b[end_b - 1]:
        end_a, end_b = end_a - 1, end_b - 1
    return start, end_a, end_b


def changed_range(before: str, after: str) -> t.Range:
    """The lines of ``before`` an edit replaces (for code actions and diagnostics)."""
    start, end_a, _ = _span(before, after)
    return t.Range(t.Position(start, 0), t.Position(max(start, end_a), 0))


def file_edit(file: dict[str, Any], version: int | None) -> list[Any]:
    """documentChanges for one proposed file: the smallest line range that changed, so
    the editor's undo and cursor behave as after a normal edit."""
    uri = path_to_uri(file["path"])
    before, after = file.get("before"), file.get("after")
    if after is None:
        return [t.DeleteFile(uri=uri)]
    if before is None:
        return [t.CreateFile(uri=uri, options=t.CreateFileOptions(overwrite=False, ignore_if_exists=True)),
                t.TextDocumentEdit(text_document=t.OptionalVersionedTextDocumentIdentifier(uri=uri, version=None),
                                   edits=[t.TextEdit(range=t.Range(t.Position(0, 0), t.Position(0, 0)),
                                                     new_text=after)])]
    start, end_a, end_b = _span(before, after)
    new_text = "".join(_lines(after)[start:end_b])
    edit = t.TextEdit(range=t.Range(t.Position(start, 0), t.Position(end_a, 0)), new_text=new_text)
    return [t.TextDocumentEdit(
        text_document=t.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version), edits=[edit])]


_FINDING = re.compile(r"^\s*[-*]?\s*(?:line\s*)?(\d+)\s*[:\-)]\s*(?:(error|warning|info|hint)\s*[:\-]\s*)?(.+)$",
                      re.IGNORECASE)
_SEVERITY = {"error": t.DiagnosticSeverity.Error, "warning": t.DiagnosticSeverity.Warning,
             "info": t.DiagnosticSeverity.Information, "hint": t.DiagnosticSeverity.Hint}


def parse_review(text: str, line_count: int) -> list[t.Diagnostic]:
    """Findings written as ``LINE: [severity:] message`` become diagnostics."""
    found = []
    for raw in text.splitlines():
        m = _FINDING.match(raw)
        if not m:
            continue
        line = min(max(int(m.group(1)) - 1, 0), max(line_count - 1, 0))
        severity = _SEVERITY.get((m.group(2) or "warning").lower(), t.DiagnosticSeverity.Warning)
        found.append(t.Diagnostic(range=t.Range(t.Position(line, 0), t.Position(line + 1, 0)),
                                  message=m.group(3).strip(), severity=severity, source="codetether"))
    return found


def status_text(status: dict[str, Any]) -> str:
    tokens = status.get("input_tokens", 0) + status.get("output_tokens", 0)
    ctx = status.get("context") or {}
    level = f" ctx {ctx.get('percent', 0):.0f}% {ctx.get('level', '')}" if ctx else ""
    return f"ct {tokens / 1000:.1f}k tok {status.get('cost', '')}{level}".strip()


def proposal_actions(pending: dict[str, dict[str, Any]], uri: str) -> list[t.CodeAction]:
    """Apply / Reject / Show diff for each open edit proposal touching ``uri``."""
    actions = []
    for pid, gate in pending.items():
        if gate["kind"] != "edit":
            continue
        for f in gate["files"]:
            if f["uri"] != uri:
                continue
            rng = f["range"]
            for title, command in (("Apply agent edit", "codetether.approve"),
                                   ("Reject agent edit", "codetether.reject"),
                                   ("Show diff", "codetether.showDiff")):
                actions.append(t.CodeAction(
                    title=f"{title} ({gate['tool']})", kind=t.CodeActionKind.QuickFix,
                    diagnostics=[t.Diagnostic(range=rng, message="agent edit proposal",
                                              source="codetether")],
                    command=t.Command(title=title, command=command, arguments=[{"id": pid}])))
    return actions
