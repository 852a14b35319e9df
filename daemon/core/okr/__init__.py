"""OKRs: objectives with measurable key results, their runs and the run state machine,
in one SQLite store in the data dir.

:class:`OkrStore` keeps OKRs and runs and moves runs through the state machine
(``wire.okr.RUN_TRANSITIONS``), auditing every transition; :func:`measure` reads one
key result's progress from its own evidence (a command, a test run, a file glob, a
URL, or a question that needs an answer); :func:`measure_run` does so for every key
result of a run and records the outcomes; :func:`render_report` writes text, JSON or
a self-contained HTML page.
"""

from ._machine import check_transition, new_kr_id, new_okr_id, new_run_id
from ._measure import OUTPUT_KEPT, measure, progress_of, read_test_summary
from ._report import describe_evidence, kr_progress, render_report
from ._runs import export_okr, measure_run
from ._store import AuditSink, OkrStore

__all__ = [
    "OUTPUT_KEPT",
    "AuditSink",
    "OkrStore",
    "check_transition",
    "describe_evidence",
    "export_okr",
    "kr_progress",
    "measure",
    "measure_run",
    "new_kr_id",
    "new_okr_id",
    "new_run_id",
    "progress_of",
    "read_test_summary",
    "render_report",
]
