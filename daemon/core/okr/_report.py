"""OKR reports: plain text, JSON, or one self-contained HTML page.

The HTML page has its CSS inline and loads nothing (no scripts, fonts or images), so
it can be mailed or archived as one file; every text in it is escaped, since titles,
evidence and reasons come from users and models.
"""

from __future__ import annotations

import html
import json
import time

import msgspec

from ...wire.okr import (
    CommandEvidence,
    Evidence,
    FileEvidence,
    KeyResult,
    OkrExport,
    QuestionEvidence,
    TestsEvidence,
    UrlEvidence,
)

__all__ = ["describe_evidence", "kr_progress", "render_report"]


def describe_evidence(ev: Evidence) -> str:
    """One line saying what proves a key result."""
    if isinstance(ev, CommandEvidence):
        return f"command `{ev.command}`" + (f" value /{ev.value_regex}/" if ev.value_regex else "")
    if isinstance(ev, TestsEvidence):
        return f"tests `{ev.command}`"
    if isinstance(ev, FileEvidence):
        return f"file {ev.path}"
    if isinstance(ev, UrlEvidence):
        return f"url {ev.url}"
    assert isinstance(ev, QuestionEvidence)
    return f"question: {ev.question}"


def kr_progress(export: OkrExport, kr: KeyResult) -> float | None:
    """A key result's progress as its latest measured run has it, else its last outcome's."""
    for run in export.runs:  # newest first
        if kr.id in run.kr_progress:
            return run.kr_progress[kr.id]
    return kr.outcomes[-1].progress if kr.outcomes else None


def render_report(exports: list[OkrExport], fmt: str) -> str:
    """``exports`` (OKRs with their runs, newest run first) as ``fmt``: text, json or html."""
    if fmt == "json":
        return json.dumps(msgspec.to_builtins(exports), indent=2, ensure_ascii=False) + "\n"
    if fmt == "html":
        return _html(exports)
    return _text(exports)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{round(x * 100)}%"


def _text(exports: list[OkrExport]) -> str:
    if not exports:
        return "no OKRs yet\n"
    out: list[str] = []
    for e in exports:
        o = e.okr
        meta = [f"owner {o.owner}" if o.owner else "", f"tags {', '.join(o.tags)}" if o.tags else "",
                f"target {o.target_date}" if o.target_date else ""]
        out.append(f"{o.id}  {o.title}  [{o.status}]" + "".join(f"  {m}" for m in meta if m))
        if o.description:
            out.append(f"  {o.description}")
        for kr in o.key_results:
            unit = f" {kr.unit}" if kr.unit else ""
            out.append(f"  - {kr.title}  {kr.current_value:g}/{kr.target_value:g}{unit} ({kr.metric_type})"
                       f"  progress {_pct(kr_progress(e, kr))}  [{describe_evidence(kr.evidence)}]")
            if kr.outcomes:
                last = kr.outcomes[-1]
                out.append(f"      last: {'pass' if last.passed else 'fail'} — {last.evidence}")
        if e.runs:
            counts: dict[str, int] = {}
            for run in e.runs:
                counts[run.status] = counts.get(run.status, 0) + 1
            latest = e.runs[0]
            out.append(f"  runs: {len(e.runs)} ({', '.join(f'{n} {s}' for s, n in sorted(counts.items()))});"
                       f" latest {latest.id} {latest.status}, {latest.iterations} iterations")
            if latest.approval is not None:
                a = latest.approval
                out.append(f"    {a.decision} by {a.approver}" + (f": {a.reason}" if a.reason else ""))
        out.append("")
    return "\n".join(out)


_CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:60rem;
color:#1d2330;background:#fafbfc;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin:0 0 .3rem}
section{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:1rem 1.2rem;margin:1rem 0}
.meta{color:#5b6473;font-size:.9rem}.status{display:inline-block;padding:0 .5rem;border-radius:9px;
background:#e8edf5;font-size:.8rem;margin-left:.4rem}
table{width:100%;border-collapse:collapse;margin:.6rem 0}td,th{text-align:left;padding:.3rem .4rem;
border-bottom:1px solid #eef1f5;vertical-align:top}th{font-size:.8rem;color:#5b6473;font-weight:600}
.bar{background:#e8edf5;border-radius:4px;height:.6rem;width:8rem}.bar i{display:block;height:100%;
border-radius:4px;background:#2f7d4f}.fail{color:#a12a2a}.pass{color:#2f7d4f}code{font-size:.85rem}
"""


def _html(exports: list[OkrExport]) -> str:
    e = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<title>OKR report</title>", f"<style>{_CSS}</style></head><body>",
             f"<h1>OKR report</h1><p class=\"meta\">{e(time.strftime('%Y-%m-%d %H:%M:%S %Z'))}"
             f" · {len(exports)} OKR{'s' if len(exports) != 1 else ''}</p>"]
    if not exports:
        parts.append("<p>No OKRs yet.</p>")
    for x in exports:
        o = x.okr
        meta = " · ".join(m for m in (o.id, f"owner {o.owner}" if o.owner else "",
                                      f"tags {', '.join(o.tags)}" if o.tags else "",
                                      f"target {o.target_date}" if o.target_date else "") if m)
        parts.append(f"<section><h2>{e(o.title)}<span class=\"status\">{e(o.status)}</span></h2>"
                     f"<p class=\"meta\">{e(meta)}</p>")
        if o.description:
            parts.append(f"<p>{e(o.description)}</p>")
        parts.append("<table><tr><th>Key result</th><th>Value</th><th>Progress</th><th>Evidence</th>"
                     "<th>Last outcome</th></tr>")
        for kr in o.key_results:
            p = kr_progress(x, kr)
            width = 0 if p is None else round(p * 100)
            last = kr.outcomes[-1] if kr.outcomes else None
            last_html = "—" if last is None else (
                f"<span class=\"{'pass' if last.passed else 'fail'}\">{'pass' if last.passed else 'fail'}</span>"
                f" {e(last.evidence)}")
            parts.append(f"<tr><td>{e(kr.title)}</td><td>{kr.current_value:g}/{kr.target_value:g} {e(kr.unit)}"
                         f" <span class=\"meta\">{e(kr.metric_type)}</span></td>"
                         f"<td><div class=\"bar\"><i style=\"width:{width}%\"></i></div>{_pct(p)}</td>"
                         f"<td><code>{e(describe_evidence(kr.evidence))}</code></td><td>{last_html}</td></tr>")
        parts.append("</table>")
        if x.runs:
            parts.append("<table><tr><th>Run</th><th>Status</th><th>Iterations</th><th>Approval</th>"
                         "<th>Error</th></tr>")
            for run in x.runs:
                a = run.approval
                approval = "" if a is None else f"{a.decision} by {a.approver}" + (f": {a.reason}" if a.reason else "")
                parts.append(f"<tr><td><code>{e(run.id)}</code></td><td>{e(run.status)}</td>"
                             f"<td>{run.iterations}</td><td>{e(approval)}</td><td>{e(run.error or '')}</td></tr>")
            parts.append("</table>")
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
