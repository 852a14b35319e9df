"""The audit trail: one hash-chained JSONL record per API call and agent action, queryable.
"""

from ._entry import (
    OUTCOMES,
    AuditEntry,
    Outcome,
    Redactor,
    VerifyResult,
    decoder,
    digest,
    scrub_surrogates,
    seal,
    unseal,
)
from ._read import (
    Filter,
    TailState,
    iter_entries_reverse,
    iter_lines_reverse,
    scan_tail,
    verify_file,
)
from ._trail import (
    AuditLog,
)

__all__ = [
    "AuditEntry",
    "AuditLog",
    "Filter",
    "OUTCOMES",
    "Outcome",
    "Redactor",
    "TailState",
    "VerifyResult",
    "decoder",
    "digest",
    "iter_entries_reverse",
    "iter_lines_reverse",
    "scan_tail",
    "scrub_surrogates",
    "seal",
    "unseal",
    "verify_file",
]
