"""Contract of :class:`~codetether.daemon.core.storage.AppendLog`, run against every backend.

One backend today (:class:`JsonlLog`), under each torn-tail rule a record store uses:
``terminate`` (telemetry: end the torn line with a newline, readers skip it),
``set_aside`` (event streams: move the torn bytes to a side file, cut them) and
``cut`` (drop them). Failures are real: ``RLIMIT_FSIZE`` fills the "disk" part way
through a line (see :func:`disk_full`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import resource
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from codetether.daemon.core.storage import AppendLog, JsonlLog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

RULES = ["terminate", "set_aside", "cut"]


@contextlib.contextmanager
def disk_full(at: int) -> Iterator[None]:
    """Inside the block, a write that would take any file of this process past byte ``at``
    writes what fits and then fails with ``EFBIG``, like a disk filling up mid-line
    (``RLIMIT_FSIZE``; ``SIGXFSZ`` ignored so the write fails instead of killing us)."""
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (at, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)

POSITIONED = {"terminate": False, "set_aside": True, "cut": True}


def _lines(n: int, start: int = 0) -> list[bytes]:
    return [json.dumps({"seq": i, "text": "x" * (i % 7)}).encode() + b"\n" for i in range(start, start + n)]


def make_log(path: Path, rule: str, **options: Any) -> JsonlLog[bytes]:
    """A JsonlLog of bytes lines repairing its tail by ``rule``, opened."""
    holder: list[JsonlLog[bytes]] = []

    def repair() -> None:
        log = holder[0]
        offset = log.torn_tail()
        if rule == "terminate":
            log.terminate()
        elif offset is not None and rule == "set_aside":
            log.set_aside(offset, path.with_suffix(".torn"), b"# torn\n")
        elif offset is not None:
            log.cut(offset)

    def write(line: bytes) -> None:
        holder[0].write(line)

    log: JsonlLog[bytes] = JsonlLog(path, write, positioned=POSITIONED[rule], on_open=repair,
                                    close_on_failure=rule == "terminate", **options)
    holder.append(log)
    log.open()
    return log


def whole_lines(data: bytes) -> list[bytes]:
    """The lines of ``data`` that are valid JSON, newline included."""
    out = []
    for line in data.splitlines(keepends=True):
        try:
            json.loads(line)
        except ValueError:
            continue
        if line.endswith(b"\n"):
            out.append(line)
    return out


@pytest.fixture(params=RULES)
def rule(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "logs" / "log.jsonl"


@pytest.fixture
def opened(path: Path, rule: str) -> Iterator[JsonlLog[bytes]]:
    log = make_log(path, rule)
    yield log
    log.close()


def test_it_is_an_append_log(opened: JsonlLog[bytes]) -> None:
    log: AppendLog[bytes] = opened  # checked by mypy: the backend offers the interface
    assert not log.degraded and log.health() == (True, None)


def test_appends_are_whole_lines_in_order_and_survive_reopening(path: Path, rule: str,
                                                                opened: JsonlLog[bytes]) -> None:
    lines = _lines(50)
    assert [opened.append(line) for line in lines] == ["written"] * 50
    assert opened.end == path.stat().st_size == sum(map(len, lines))
    assert opened.close() == 0
    assert path.read_bytes() == b"".join(lines)
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    again = make_log(path, rule)
    again.append(b'{"after":1}\n')
    again.close()
    assert path.read_bytes() == b"".join(lines) + b'{"after":1}\n'


def test_a_torn_tail_of_every_length_is_repaired_and_appends_land_after_it(path: Path, rule: str) -> None:
    lines = _lines(3)
    whole = b"".join(lines)
    last = lines[-1]
    for cut in range(1, len(last)):  # every torn length of the last line
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(whole[: len(whole) - len(last) + cut])
        path.with_suffix(".torn").unlink(missing_ok=True)
        log = make_log(path, rule)
        assert log.torn_tail() is None  # repaired on open
        log.append(b'{"after":1}\n')
        log.close()
        data = path.read_bytes()
        # "terminate" keeps a line cut just before its newline: it is a whole record.
        kept = lines if rule == "terminate" and cut == len(last) - 1 else lines[:-1]
        assert whole_lines(data) == kept + [b'{"after":1}\n'], cut
        assert data.endswith(b'\n{"after":1}\n')
        if rule == "set_aside":
            assert last[:cut] in path.with_suffix(".torn").read_bytes()
        if rule != "terminate":
            assert data == b"".join(lines[:-1]) + b'{"after":1}\n'


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(min_value=0, max_value=12), cut=st.integers(min_value=0, max_value=10_000),
       rule=st.sampled_from(RULES))
def test_any_truncation_of_a_valid_file_opens_and_keeps_every_whole_line(
        tmp_path: Path, n: int, cut: int, rule: str) -> None:
    path = tmp_path / f"prop-{rule}" / "log.jsonl"
    path.parent.mkdir(exist_ok=True)
    whole = b"".join(_lines(n))
    prefix = whole[: min(cut, len(whole))]
    path.write_bytes(prefix)
    log = make_log(path, rule)
    log.append(b'{"after":1}\n')
    log.close()
    data = path.read_bytes()
    kept = [line for line in prefix.splitlines(keepends=True) if line.endswith(b"\n")]
    if rule == "terminate" and prefix and not prefix.endswith(b"\n"):
        kept = whole_lines(prefix + b"\n")  # a line cut just before its newline is whole
    assert whole_lines(data) == kept + [b'{"after":1}\n']
    assert data.endswith(b"\n")


def _fill(log: JsonlLog[bytes], lines: list[bytes]) -> list[str]:
    return [log.append(line) for line in lines]


def test_a_full_disk_degrades_holds_in_order_and_recovers(path: Path, rule: str,
                                                          opened: JsonlLog[bytes]) -> None:
    first = _lines(5)
    _fill(opened, first)
    size = path.stat().st_size
    held = _lines(4, start=5)
    with disk_full(size + 10):  # the next line gets 10 bytes in, then EFBIG
        assert _fill(opened, held) == ["held"] * 4
        assert opened.degraded and opened.error is not None and opened.error.errno == errno.EFBIG
        ok, why = opened.health("lines")
        assert not ok and why is not None and "4 lines held" in why
        assert list(opened.held) == held
    assert opened.append(b'{"after":1}\n') == "written"
    assert not opened.degraded and opened.health() == (True, None) and not opened.held
    opened.close()
    data = path.read_bytes()
    assert whole_lines(data) == first + held + [b'{"after":1}\n']
    if rule != "terminate":  # positioned logs cut the partial line back
        assert data == b"".join(first + held) + b'{"after":1}\n'


@pytest.mark.parametrize("drop", ["oldest", "newest"])
def test_the_backlog_is_bounded_and_drops_are_counted(path: Path, rule: str, drop: str) -> None:
    log = make_log(path, rule, backlog_limit=3, drop=drop)
    with disk_full(0):
        outcomes = _fill(log, _lines(5))
        assert log.dropped == 2 and len(log.held) == 3
        assert "2 dropped" in (log.health()[1] or "")
    if drop == "newest":
        assert outcomes == ["held"] * 3 + ["dropped"] * 2
        kept = _lines(3)
    else:
        assert outcomes == ["held"] * 5
        kept = _lines(5)[2:]
    assert log.flush() and log.close() == 0
    assert whole_lines(path.read_bytes()) == kept


def test_retries_wait_for_retry_seconds(path: Path, rule: str) -> None:
    now = [100.0]
    log = make_log(path, rule, retry_seconds=5.0, clock=lambda: now[0])
    with disk_full(0):
        log.append(b'{"a":1}\n')
    assert log.append(b'{"b":1}\n') == "held"  # the disk is back, but no retry is due yet
    now[0] += 5
    assert log.append(b'{"c":1}\n') == "written"
    log.close()
    assert path.read_bytes() == b'{"a":1}\n{"b":1}\n{"c":1}\n'


def test_close_reports_what_could_not_be_written(path: Path, rule: str) -> None:
    log = make_log(path, rule)
    with disk_full(0):
        _fill(log, _lines(2))
        assert log.close() == 2
    assert log.fd is None


def test_an_unopenable_log_degrades_until_its_directory_appears(tmp_path: Path, rule: str) -> None:
    blocker = tmp_path / "logs"
    blocker.write_text("not a directory")
    log: JsonlLog[bytes] = JsonlLog(blocker / "log.jsonl", lambda line: log.write(line),
                                    positioned=POSITIONED[rule])
    with pytest.raises(OSError):
        log.open()
    log.fail(OSError(errno.ENOTDIR, "not a directory"))
    assert log.append(b'{"a":1}\n') == "held" and log.degraded
    blocker.unlink()
    assert log.append(b'{"b":1}\n') == "written" and not log.degraded
    log.close()
    assert (blocker / "log.jsonl").read_bytes() == b'{"a":1}\n{"b":1}\n'
