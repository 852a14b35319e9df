"""The audit trail: one hash-chained JSONL record per API call and agent action, queryable.

    AuditTrail   the interface (a Protocol); AuditLog is its JSONL backend
    AuditEntry   one entry, its canonical encoding and chain (seal, unseal, digest)
    verify_file  recompute a file's chain; the torn-tail rule is in ``_read``
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
from ._interface import (
    AuditTrail,
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
    "AuditTrail",
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
