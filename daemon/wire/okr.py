"""OKRs on the wire: objectives, key results and their evidence, runs, approval
decisions, measured outcomes, and the ``okr/*`` params and results.

An :class:`Okr` is an objective with measurable :class:`KeyResult` s. Each key result
names its own **evidence** (what proves progress), one of, tagged by ``kind``::

    {"kind": "command", "command": "make check", "value_regex": "coverage (\\d+)%"}
    {"kind": "tests", "command": "pytest -q tests/unit"}     value = passed / total
    {"kind": "file", "path": "docs/**/*.md"}                 a path or glob in the workspace
    {"kind": "url", "url": "http://localhost:8000/health"}   must answer 2xx; value = ms
    {"kind": "question", "question": "Is the design approved?"}   asked to the user

An :class:`OkrRun` is one attempt at an OKR, moved through the run state machine
(:data:`RUN_TRANSITIONS`). Timestamps are Unix time in seconds.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

__all__ = [
    "EVIDENCE_KINDS",
    "METRIC_TYPES",
    "OKR_STATUSES",
    "REPORT_FORMATS",
    "RUN_STATUSES",
    "RUN_TRANSITIONS",
    "TERMINAL_RUN_STATUSES",
    "ApprovalDecision",
    "CommandEvidence",
    "Evidence",
    "FileEvidence",
    "KeyResult",
    "KrOutcome",
    "MetricType",
    "Okr",
    "OkrCreateParams",
    "OkrDeleted",
    "OkrExport",
    "OkrIdParams",
    "OkrListParams",
    "OkrMeasureParams",
    "OkrReport",
    "OkrReportParams",
    "OkrRun",
    "OkrRunCreateParams",
    "OkrRunIdParams",
    "OkrRunsParams",
    "OkrStats",
    "OkrStatus",
    "OkrTransitionParams",
    "OkrUpdateParams",
    "QuestionEvidence",
    "ReportFormat",
    "RunStatus",
    "TestsEvidence",
    "UrlEvidence",
    "check_key_result",
]

OkrStatus = Literal["draft", "active", "completed", "archived", "cancelled"]
OKR_STATUSES: tuple[str, ...] = ("draft", "active", "completed", "archived", "cancelled")

MetricType = Literal["progress", "count", "binary", "latency", "quality"]
METRIC_TYPES: tuple[str, ...] = ("progress", "count", "binary", "latency", "quality")

EVIDENCE_KINDS: tuple[str, ...] = ("command", "tests", "file", "url", "question")

RunStatus = Literal["draft", "pending_approval", "approved", "denied", "running", "paused",
                    "waiting_approval", "completed", "failed", "cancelled"]
RUN_STATUSES: tuple[str, ...] = ("draft", "pending_approval", "approved", "denied", "running", "paused",
                                 "waiting_approval", "completed", "failed", "cancelled")

#: The run state machine: each status and the statuses it may move to. ``denied → draft``
#: is a re-draft (the reason goes back to whoever drafts); a run can be cancelled from
#: any status that is not terminal.
RUN_TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"pending_approval", "cancelled"}),
    "pending_approval": frozenset({"approved", "denied", "cancelled"}),
    "approved": frozenset({"running", "cancelled"}),
    "denied": frozenset({"draft", "cancelled"}),
    "running": frozenset({"completed", "failed", "cancelled", "paused", "waiting_approval"}),
    "paused": frozenset({"running", "cancelled"}),
    "waiting_approval": frozenset({"running", "denied", "cancelled"}),
    "completed": frozenset(),
    "failed": frozenset(),
    "cancelled": frozenset(),
}
TERMINAL_RUN_STATUSES: frozenset[str] = frozenset({"completed", "failed", "cancelled"})

ReportFormat = Literal["text", "json", "html"]
REPORT_FORMATS: tuple[str, ...] = ("text", "json", "html")

Seconds = Annotated[float, Meta(gt=0, le=3600)]
Limit = Annotated[int, Meta(ge=1, le=10_000)]


# -- evidence -------------------------------------------------------------------------


class CommandEvidence(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="command"):
    """A check command run by ``/bin/sh`` in the workspace: it passes when it exits 0.
    ``value_regex`` (its first group, or the whole match) reads a number from the output."""

    command: str
    value_regex: str | None = None
    timeout: Seconds = 120.0


class TestsEvidence(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="tests"):
    """A test selection command (pytest's or unittest's summary is read): the value is
    passed / total; it passes when every test passed and there was at least one."""

    __test__ = False  # not a pytest test class, whatever its name says

    command: str
    timeout: Seconds = 600.0


class FileEvidence(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="file"):
    """A relative path or glob that must match at least one file in the workspace; the
    value is the number of matches."""

    path: str


class UrlEvidence(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="url"):
    """An http(s) URL that must answer a GET with 2xx; the value is the time it took, in ms."""

    url: str
    timeout: Seconds = 5.0


class QuestionEvidence(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="question"):
    """A question for the user: never measured automatically (its outcome says so)."""

    question: str


Evidence = CommandEvidence | TestsEvidence | FileEvidence | UrlEvidence | QuestionEvidence


# -- objectives -----------------------------------------------------------------------


class KrOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """One measurement of a key result: ``type`` is its evidence kind, ``evidence`` says
    what was seen, ``value`` the number read (if any), ``progress`` 0..1 by the key
    result's metric type."""

    kr_id: str
    type: str
    evidence: str
    passed: bool
    at: float
    value: float | None = None
    progress: float = 0.0


class KeyResult(msgspec.Struct, kw_only=True):
    """One measurable result. An empty ``id`` gets one when the OKR is stored."""

    title: str
    evidence: Evidence
    id: str = ""
    target_value: float = 1.0
    current_value: float = 0.0
    unit: str = ""
    metric_type: MetricType = "binary"
    outcomes: list[KrOutcome] = msgspec.field(default_factory=list)


class Okr(msgspec.Struct, kw_only=True):
    """An objective and its key results."""

    id: str
    title: str
    description: str = ""
    status: OkrStatus = "draft"
    key_results: list[KeyResult] = msgspec.field(default_factory=list)
    owner: str = ""
    tags: list[str] = msgspec.field(default_factory=list)
    target_date: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0


class ApprovalDecision(msgspec.Struct, frozen=True, kw_only=True):
    """A human's decision at the gate."""

    decision: Literal["approve", "deny"]
    reason: str
    approver: str
    decided_at: float


class OkrRun(msgspec.Struct, kw_only=True):
    """One attempt at an OKR. ``kr_progress`` maps each key result's id to 0..1 as last
    measured from its own evidence; ``checkpoint`` is whatever the executor needs to go on
    after a restart; ``workspace`` is where evidence is measured."""

    id: str
    okr_id: str
    status: RunStatus = "draft"
    session_id: str | None = None
    relay_id: str | None = None
    swarm_id: str | None = None
    prd_path: str | None = None
    workspace: str | None = None
    kr_progress: dict[str, float] = msgspec.field(default_factory=dict)
    approval: ApprovalDecision | None = None
    outcomes: list[KrOutcome] = msgspec.field(default_factory=list)
    iterations: int = 0
    checkpoint: dict[str, object] = msgspec.field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0
    error: str | None = None


# -- checks shared by the CLI and the store -------------------------------------------


def check_key_result(kr: KeyResult) -> str | None:
    """Why ``kr`` cannot be stored, or None: a finite non-negative target, a title, and
    evidence that can be measured (a relative glob, an http(s) URL, a valid regex)."""
    if not kr.title.strip():
        return "a key result needs a title"
    if not math.isfinite(kr.target_value) or kr.target_value < 0:
        return f"key result {kr.title!r}: target_value must be a finite number >= 0"
    if not math.isfinite(kr.current_value):
        return f"key result {kr.title!r}: current_value must be finite"
    ev = kr.evidence
    if isinstance(ev, (CommandEvidence, TestsEvidence)) and not ev.command.strip():
        return f"key result {kr.title!r}: the {ev.__struct_config__.tag} evidence needs a command"
    if isinstance(ev, CommandEvidence) and ev.value_regex is not None:
        try:
            re.compile(ev.value_regex)
        except (re.error, RecursionError, OverflowError) as exc:
            return f"key result {kr.title!r}: value_regex does not compile: {exc}"
    if isinstance(ev, FileEvidence):
        parts = ev.path.replace("\\", "/").split("/")
        if not ev.path.strip() or ev.path.startswith(("/", "~")) or ".." in parts or "\x00" in ev.path:
            return f"key result {kr.title!r}: file evidence must be a relative path inside the workspace"
    if isinstance(ev, UrlEvidence) and not re.match(r"https?://[^\s/]+", ev.url):
        return f"key result {kr.title!r}: url evidence must be an http:// or https:// URL"
    if isinstance(ev, QuestionEvidence) and not ev.question.strip():
        return f"key result {kr.title!r}: the question is empty"
    return None


# -- okr/* params and results ---------------------------------------------------------


class OkrCreateParams(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``okr/create`` (and the shape of an ``okr.json`` file)."""

    title: str
    description: str = ""
    key_results: list[KeyResult] = msgspec.field(default_factory=list)
    owner: str = ""
    tags: list[str] = msgspec.field(default_factory=list)
    target_date: str | None = None
    status: OkrStatus = "draft"


class OkrIdParams(msgspec.Struct, kw_only=True):
    """Params naming one OKR."""

    okr_id: str


class OkrListParams(msgspec.Struct, kw_only=True):
    """``okr/list``: filters (all optional), newest first."""

    status: OkrStatus | None = None
    owner: str | None = None
    tag: str | None = None
    limit: Limit = 1000


class OkrUpdateParams(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``okr/update``: the fields given replace the stored ones."""

    okr_id: str
    title: str | None = None
    description: str | None = None
    status: OkrStatus | None = None
    key_results: list[KeyResult] | None = None
    owner: str | None = None
    tags: list[str] | None = None
    target_date: str | None = None


class OkrDeleted(msgspec.Struct, kw_only=True):
    """``okr/delete``'s answer (its runs go with it)."""

    deleted: bool


class OkrRunsParams(msgspec.Struct, kw_only=True):
    """``okr/runs``: one OKR's runs, or every run; optionally of one status."""

    okr_id: str | None = None
    status: RunStatus | None = None
    limit: Limit = 1000


class OkrRunIdParams(msgspec.Struct, kw_only=True):
    """Params naming one run."""

    run_id: str


class OkrRunCreateParams(msgspec.Struct, kw_only=True):
    """``okr/run_create``: a new run of an OKR, in ``draft``."""

    okr_id: str
    session_id: str | None = None
    relay_id: str | None = None
    swarm_id: str | None = None
    prd_path: str | None = None
    workspace: str | None = None


class OkrTransitionParams(msgspec.Struct, kw_only=True):
    """``okr/transition``: move a run to ``to``. With ``expect`` the move happens only if
    the run is in that status now (a compare-and-set)."""

    run_id: str
    to: RunStatus
    reason: str = ""
    expect: RunStatus | None = None


class OkrMeasureParams(msgspec.Struct, kw_only=True):
    """``okr/measure``: measure every key result of a run now (in ``workspace``, or the
    run's own)."""

    run_id: str
    workspace: str | None = None


class OkrStats(msgspec.Struct, kw_only=True):
    """``okr/stats``: counts, and the mean progress of each OKR's latest measured run."""

    okrs: int
    okrs_by_status: dict[str, int]
    key_results: int
    runs: int
    runs_by_status: dict[str, int]
    mean_progress: float


class OkrExport(msgspec.Struct, kw_only=True):
    """``okr/export``: one OKR with all its runs."""

    okr: Okr
    runs: list[OkrRun]


class OkrReportParams(msgspec.Struct, kw_only=True):
    """``okr/report``: one OKR, or all of them, as text, JSON or a self-contained HTML page."""

    okr_id: str | None = None
    format: ReportFormat = "text"


class OkrReport(msgspec.Struct, kw_only=True):
    """``okr/report``'s answer: the report as one string."""

    format: ReportFormat
    content: str
