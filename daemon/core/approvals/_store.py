"""The durable approval store: an append-only JSON Lines file of approval records.

A decision appends the updated record, so the file is both the durable pending list
(it survives a daemon restart) and the receipt log of every decision.
"""

from __future__ import annotations

import asyncio
import builtins
import os
import time
import uuid
from pathlib import Path
from typing import Literal

import msgspec

from ...errors import Conflict, NotFound
from ...wire.api import ApprovalRecord
from ...wire.messages import ToolCall
from ..secrets import redact_json
from ._policy import PolicyDecision

__all__ = ["ApprovalStore"]


class ApprovalStore:
    """The :class:`~._backend.ApprovalBackend` on one JSON Lines file (fsynced per record;
    a torn last line is skipped on load). ``_records`` is the folded state of the log, ``_by_call``
    indexes user-decided records by (session, call id); ``_waiters``
    maps an approval id to the futures awaiting its decision. Both are touched only
    from the event loop thread."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "approvals.jsonl"
        self._records: dict[str, ApprovalRecord] = {}
        self._by_call: dict[tuple[str, str], ApprovalRecord] = {}
        self._waiters: dict[str, list[asyncio.Future[ApprovalRecord]]] = {}
        self._encoder = msgspec.json.Encoder()
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        decoder = msgspec.json.Decoder(ApprovalRecord)
        with self.path.open("rb") as fh:
            for line in fh:
                try:
                    record = decoder.decode(line)
                except (msgspec.DecodeError, msgspec.ValidationError):
                    continue  # a torn last line after a crash
                self._index(record)

    def _append(self, record: ApprovalRecord) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Arguments may hold what a model echoed: redacted like every other record (S4).
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "ab") as fh:
            fh.write(redact_json(self._encoder.encode(record)) + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        self._index(record)

    def _index(self, record: ApprovalRecord) -> None:
        self._records[record.id] = record
        if record.decided_by != "policy":
            self._by_call[(record.session_id, record.call_id)] = record

    def create(self, *, session_id: str, call_id: str, tool: str, subject: str,
               arguments: str) -> ApprovalRecord:
        record = ApprovalRecord(
            id=uuid.uuid4().hex[:12], session_id=session_id, call_id=call_id, tool=tool,
            subject=subject, arguments=arguments, created_at=time.time())
        self._append(record)
        return record

    def record_policy(self, *, session_id: str, call_id: str, tool: str, subject: str,
                      arguments: str, decision: PolicyDecision) -> ApprovalRecord:
        """A receipt for a decision the policy made without asking anyone."""
        now = time.time()
        record = ApprovalRecord(
            id=uuid.uuid4().hex[:12], session_id=session_id, call_id=call_id, tool=tool,
            subject=subject, arguments=arguments, created_at=now,
            status="allow" if decision.action == "allow" else "deny", decided_at=now,
            decided_by="policy", reason=decision.rule)
        self._append(record)
        return record

    def get(self, approval_id: str) -> ApprovalRecord:
        try:
            return self._records[approval_id]
        except KeyError:
            raise NotFound(f"no approval {approval_id!r}") from None

    def find_for_call(self, session_id: str, call: ToolCall) -> ApprovalRecord | None:
        """The user's approval record for exactly this call: same id, tool and arguments."""
        record = self._by_call.get((session_id, call.id))
        if record is None or record.tool != call.name or record.arguments != call.arguments:
            return None
        return self._records.get(record.id)

    def withdraw_session(self, session_id: str, *, by: str) -> None:
        for record in self.list(session_id):
            self.decide(record.id, "deny", by=by, reason="the session was deleted")

    def list(self, session_id: str | None = None, *,
             include_decided: bool = False) -> builtins.list[ApprovalRecord]:
        return sorted(
            (r for r in self._records.values()
             if (session_id is None or r.session_id == session_id)
             and (include_decided or r.status == "pending")),
            key=lambda r: r.created_at)

    def decide(self, approval_id: str, decision: Literal["allow", "deny"], *, by: str,
               reason: str = "", applied: bool = False) -> ApprovalRecord:
        record = self.get(approval_id)
        if record.status != "pending":
            raise Conflict(f"approval {approval_id} was already decided: {record.status}")
        decided = msgspec.structs.replace(record, status=decision, decided_at=time.time(),
                                          decided_by=by, reason=reason,
                                          applied=applied and decision == "allow")
        self._append(decided)
        for fut in self._waiters.pop(approval_id, []):
            if not fut.done():
                fut.set_result(decided)
        return decided

    async def wait(self, approval_id: str) -> ApprovalRecord:
        record = self.get(approval_id)
        if record.status != "pending":
            return record
        fut: asyncio.Future[ApprovalRecord] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(approval_id, []).append(fut)
        try:
            return await fut
        finally:
            waiters = self._waiters.get(approval_id)
            if waiters and fut in waiters:
                waiters.remove(fut)
