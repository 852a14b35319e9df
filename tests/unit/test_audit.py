"""The audit trail: records, queries, the hash chain, torn tails, redaction, degraded writes."""

from __future__ import annotations

import errno
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from codetether.daemon.core.records.audit import AuditEntry, AuditLog, VerifyResult, digest, seal, verify_file
from codetether.daemon.core.records.audit import _read as _audit_read
from codetether.daemon.core.records.audit import _trail as audit_mod
from codetether.daemon.core.storage import _jsonl
from codetether.daemon.errors import InvalidParams, Unavailable

CANARY = "sk-canary-0123456789abcdef"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "audit" / "audit.jsonl"


def _fill(log: AuditLog, n: int = 6) -> None:
    for i in range(n):
        log.record("tool" if i % 2 else "api", "bash" if i % 2 else "session/prompt",
                   principal=f"uid:{1000 + i % 3}", outcome="failure" if i == 4 else "success",
                   resource=f"/ws/src/file{i}.py", session_id=f"s{i % 2}", detail={"i": i})


def _actions(path: Path) -> list[str]:
    with AuditLog(path) as log:
        return [e.action for e in log.recent()]


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def _write_lines(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(lines))


def test_record_returns_the_sealed_entry_and_recent_is_newest_first(path: Path) -> None:
    with AuditLog(path) as log:
        first = log.record("api", "session/prompt", principal="uid:1000", outcome="success",
                           duration_ms=3, okr_id="okr-1", okr_run_id="run-1", relay_id="r-1",
                           session_id="s-1")
        assert (first.seq, first.prev, first.duration_ms) == (1, "", 3.0)
        assert len(first.hash) == 64
        _fill(log)
        recent = log.recent(limit=3)
        assert [e.seq for e in recent] == [7, 6, 5]
        assert log.recent()[-1] == first
    assert path.stat().st_mode & 0o777 == 0o600
    assert msgspec.json.decode(_lines(path)[0])["okr_run_id"] == "run-1"


def test_query_filters_and_orders(path: Path) -> None:
    with AuditLog(path) as log:
        _fill(log)
        seqs = lambda **kw: [e.seq for e in log.query(**kw)]  # noqa: E731
        assert seqs(principal="uid:1000") == [4, 1]
        assert seqs(action="bash") == [6, 4, 2]
        assert seqs(category="api") == [5, 3, 1]
        assert seqs(outcome="failure") == [5]
        assert seqs(session_id="s1") == [6, 4, 2]
        assert seqs(resource="/ws/src/file[12].py") == [3, 2]
        assert seqs(resource="/ws/*") == [6, 5, 4, 3, 2, 1]
        assert seqs(resource="src/*") == []
        assert seqs(action="bash", principal="uid:1001", limit=1) == [2]
        assert seqs(limit=2) == [6, 5]
        entries = log.recent()
        t3, t5 = entries[3].ts, entries[1].ts  # seq 3 and seq 5
        assert seqs(since=t3, until=t5) == [4, 3]
        assert seqs(since=entries[0].ts + 1) == []
        with pytest.raises(InvalidParams):
            log.query(limit=0)


def test_chain_continues_across_reopen(path: Path) -> None:
    with AuditLog(path) as log:
        _fill(log, 3)
    with AuditLog(path) as log:
        entry = log.record("daemon", "start", principal="daemon", outcome="success")
    assert entry.seq == 4
    result = verify_file(path)
    assert (result.ok, result.entries, result.first_bad_line, result.reason) == (True, 4, None, "ok")
    assert result.head == digest(_lines(path)[-1].rstrip(b"\n"))
    assert verify_file(path.parent / "none.jsonl").ok


def _tampered(path: Path, edit: Callable[[list[bytes]], object]) -> VerifyResult:
    with AuditLog(path) as log:
        _fill(log)
        assert log.verify().ok
    lines = _lines(path)
    edit(lines)
    _write_lines(path, lines)
    return verify_file(path)


def test_verify_reports_an_edited_field_at_its_line(path: Path) -> None:
    def edit(lines: list[bytes]) -> None:
        lines[2] = lines[2].replace(b'"outcome":"success"', b'"outcome":"failure"')
    result = _tampered(path, edit)
    assert (result.ok, result.first_bad_line, result.entries) == (False, 3, 2)
    assert "hash mismatch" in result.reason


def test_verify_reports_a_non_canonical_rewrite(path: Path) -> None:
    def edit(lines: list[bytes]) -> None:
        lines[1] = json.dumps(json.loads(lines[1]), indent=1).replace("\n", "").encode() + b"\n"
    result = _tampered(path, edit)
    assert (result.first_bad_line, "canonical" in result.reason) == (2, True)


def test_verify_reports_a_deleted_line_at_the_next_one(path: Path) -> None:
    result = _tampered(path, lambda lines: lines.pop(3))
    assert (result.ok, result.first_bad_line) == (False, 4)
    assert "prev mismatch" in result.reason


def test_verify_reports_a_reordered_pair(path: Path) -> None:
    def edit(lines: list[bytes]) -> None:
        lines[1], lines[2] = lines[2], lines[1]
    result = _tampered(path, edit)
    assert (result.ok, result.first_bad_line) == (False, 2)


def test_verify_reports_inserted_forged_lines(path: Path) -> None:
    def naive(lines: list[bytes]) -> None:
        lines.insert(2, lines[1].replace(b"uid:1001", b"uid:0"))
    result = _tampered(path, naive)
    assert (result.first_bad_line, "hash mismatch" in result.reason) == (3, True)

    def careful(lines: list[bytes]) -> None:
        # A forger who recomputes the hash and chains to line 2: the chain only
        # notices at the entry that used to follow line 2.
        draft = AuditEntry(0, 1.0, "approval", "approve", "uid:0", "success")
        _, forged = seal(draft, 3, digest(lines[1].rstrip(b"\n")))
        lines.insert(2, forged + b"\n")
    path.unlink()
    result = _tampered(path, careful)
    assert (result.first_bad_line, "prev mismatch" in result.reason) == (4, True)


def test_verify_rejects_json_that_is_not_an_entry_and_a_stray_non_json_line(path: Path) -> None:
    result = _tampered(path, lambda lines: lines.insert(1, b'{"hello":1}\n'))
    assert (result.first_bad_line, "not an audit entry" in result.reason) == (2, True)
    path.unlink()
    result = _tampered(path, lambda lines: lines.insert(1, b"garbage\n"))
    assert (result.first_bad_line, "no torn_tail_recovered" in result.reason) == (2, True)


def test_torn_tail_is_named_by_a_recovery_entry_and_verify_accepts_exactly_that(path: Path) -> None:
    with AuditLog(path) as log:
        _fill(log, 3)
    size = path.stat().st_size
    half = _lines(path)[0][:40]
    with path.open("ab") as fh:
        fh.write(half)  # the crash: half a line, no newline
    before = verify_file(path)
    assert (before.ok, before.entries) == (True, 3)
    assert f"torn tail of 40 bytes at offset {size}" in before.reason

    with AuditLog(path) as log:
        recovery = log.recent(1)[0]
        after = log.record("api", "ping", principal="uid:1000", outcome="success")
        assert [e.seq for e in log.recent()] == [5, 4, 3, 2, 1]
    assert (recovery.seq, recovery.category, recovery.action) == (4, "daemon", "torn_tail_recovered")
    assert recovery.detail == {"offset": size, "length": 41,
                               "sha256": digest(half + b"\n")}
    assert after.seq == 5
    assert path.read_bytes()[size:size + 41] == half + b"\n"  # kept, not truncated
    result = verify_file(path)
    assert (result.ok, result.entries, result.reason) == (True, 5, "ok")

    # The recovery entry must name exactly the torn bytes.
    lines = _lines(path)
    lines[3] = b"x" + lines[3]
    _write_lines(path, lines)
    result = verify_file(path)
    assert (result.ok, result.first_bad_line) == (False, 4)
    assert "do not match" in result.reason


def test_a_whole_entry_missing_only_its_newline_is_completed(path: Path) -> None:
    with AuditLog(path) as log:
        _fill(log, 2)
    path.write_bytes(path.read_bytes()[:-1])
    with AuditLog(path) as log:
        assert log.record("api", "ping", principal="p", outcome="success").seq == 3
    assert _actions(path)[:1] == ["ping"]
    assert verify_file(path).entries == 3


def test_secrets_never_reach_the_file(path: Path) -> None:
    secrets = ["", CANARY]
    with AuditLog(path, secrets=lambda: secrets, max_chars=100) as log:
        entry = log.record(
            "tool", f"bash {CANARY}", principal="uid:1000", outcome="success",
            resource=f"/home/u/.env:{CANARY}",
            detail={"cmd": f"curl -H 'Authorization: Bearer {CANARY}'",
                    "nested": {"argv": ["x", CANARY, b"bytes " + CANARY.encode()], CANARY: 1},
                    "path": Path(CANARY), "long": "a" * 99 + CANARY})
        assert entry.resource == "/home/u/.env:[REDACTED]"
        assert entry.detail["nested"]["argv"][1] == "[REDACTED]"
        assert entry.detail["long"].startswith("a" * 99 + "[")
        assert "more chars" in entry.detail["long"]
    data = path.read_bytes()
    assert CANARY.encode() not in data and CANARY[3:20].encode() not in data
    assert data.count(b"[REDACTED]") >= 6
    assert verify_file(path).ok


def test_a_failing_secrets_source_keeps_the_last_list(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    calls = iter([[CANARY]])

    with AuditLog(path, secrets=lambda: next(calls)) as log:
        log.record("api", "a", principal="p", outcome="success", detail={"k": CANARY})
        with caplog.at_level(logging.ERROR):
            log.record("api", "b", principal="p", outcome="success", detail={"k": CANARY})
    assert CANARY.encode() not in path.read_bytes()
    assert "secrets source failed" in caplog.text


def _fail_writes(monkeypatch: pytest.MonkeyPatch, partial: int | None = None) -> list[int]:
    """Make every append fail with ENOSPC, optionally after ``partial`` bytes got through."""
    calls: list[int] = []

    def write(fd: int, data: bytes) -> int:
        calls.append(len(data))
        if partial is not None and len(calls) == 1:
            return os.write(fd, bytes(data[:partial]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(_jsonl, "_os_write", write)
    return calls


def test_enospc_degrades_then_writes_the_backlog_in_order(
        path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    with AuditLog(path) as log:
        _fill(log, 2)
        assert log.health() == (True, None)
        _fail_writes(monkeypatch)
        with caplog.at_level(logging.ERROR, logger="codetether.daemon.audit"):
            held = [log.record("api", f"held{i}", principal="p", outcome="success") for i in range(3)]
        assert [e.seq for e in held] == [0, 0, 0]
        ok, why = log.health()
        assert not ok and why is not None and "No space left" in why and "3 entries held" in why
        assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
        assert [e.action for e in log.recent(4)] == ["held2", "held1", "held0", "bash"]

        monkeypatch.undo()
        after = log.record("api", "after", principal="p", outcome="success")
        assert after.seq == 6 and log.health() == (True, None)
    assert _actions(path) == ["after", "held2", "held1", "held0", "bash", "session/prompt"]
    assert verify_file(path).entries == 6 and verify_file(path).ok


@pytest.mark.parametrize("partial", [25, -1])
def test_a_partial_write_is_recovered_or_completed(
        path: Path, monkeypatch: pytest.MonkeyPatch, partial: int) -> None:
    with AuditLog(path) as log:
        _fill(log, 2)
        _fail_writes(monkeypatch, partial)
        log.record("api", "torn", principal="p", outcome="success")
        assert not log.health()[0]
        monkeypatch.undo()
        log.record("api", "after", principal="p", outcome="success")
    actions = _actions(path)
    if partial == -1:  # all but the newline got there: a whole entry, finished
        assert actions[:2] == ["after", "torn"]
    else:
        assert actions[:3] == ["after", "torn", "torn_tail_recovered"]
    result = verify_file(path)
    assert result.ok and result.reason == "ok", result


def test_an_unopenable_log_is_degraded_until_its_directory_appears(path: Path) -> None:
    path.parent.write_text("not a directory")
    log = AuditLog(path)
    held = log.record("daemon", "start", principal="daemon", outcome="success")
    assert held.seq == 0 and not log.health()[0]
    path.parent.unlink()
    path.parent.mkdir()
    assert log.record("api", "ping", principal="p", outcome="success").seq == 2
    log.close()
    assert _actions(path) == ["ping", "start"]


def test_backlog_overflow_is_counted_and_recorded(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with AuditLog(path, backlog_limit=2) as log:
        _fail_writes(monkeypatch)
        for i in range(5):
            log.record("api", f"a{i}", principal="p", outcome="success")
        assert "3 dropped" in (log.health()[1] or "")
        monkeypatch.undo()
        log.record("api", "a5", principal="p", outcome="success")
        entries = log.recent()
    assert [e.action for e in entries] == ["a5", "a4", "a3", "audit_backlog_overflow"]
    assert entries[-1].detail == {"dropped": 3}
    assert verify_file(path).ok


def test_recent_reads_from_the_end_only(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with AuditLog(path) as log:
        for i in range(3000):
            log.record("api", "ping", principal="p", outcome="success", detail={"i": i})
        read: list[int] = []

        def pread(fd: int, n: int, offset: int) -> bytes:
            read.append(n)
            return os.pread(fd, n, offset)

        monkeypatch.setattr(_audit_read, "_pread", pread)
        assert [e.detail["i"] for e in log.recent(3)] == [2999, 2998, 2997]
    assert path.stat().st_size > 500_000 and sum(read) <= 70_000


def test_use_after_close_is_an_error(path: Path) -> None:
    log = AuditLog(path)
    log.close()
    log.close()
    with pytest.raises(Unavailable):
        log.record("api", "x", principal="p", outcome="success")
    with pytest.raises(Unavailable):
        log.recent()
    with AuditLog(path) as again, pytest.raises(ValueError):
        again.record("api", "x", principal="p", outcome="maybe")  # type: ignore[arg-type]


def test_public_surface() -> None:
    assert audit_mod.__all__ == sorted(audit_mod.__all__)
    for name in set(audit_mod.__all__) - {"Outcome"}:  # Outcome is a Literal alias
        assert getattr(audit_mod, name).__doc__, name
