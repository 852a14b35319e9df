"""Measuring a key result from its own evidence, and its progress by metric type.

:func:`measure` never raises for a failing check: a command that exits non-zero, a
test run with failures, a glob with no match, a URL that does not answer — each is an
outcome with ``passed`` False and ``evidence`` saying what was seen. Commands run by
``/bin/sh`` in the workspace, in their own process group, killed (the whole group)
at their timeout; what they print is kept to its last :data:`OUTPUT_KEPT` bytes.

Progress (0..1) by ``metric_type``, from the outcome's ``value`` when there is one:
``binary`` passed → 1 else 0; ``progress``/``count``/``quality`` value / target, capped
at 1 (a tests outcome's value is its passed ratio, so ``quality`` with target 1 is the
ratio); ``latency`` target / value, capped at 1 (lower is better). Without a value it
is 1 when the check passed, else 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import signal
import time
from pathlib import Path

import msgspec

from ...wire.okr import (
    CommandEvidence,
    FileEvidence,
    KeyResult,
    KrOutcome,
    QuestionEvidence,
    TestsEvidence,
    UrlEvidence,
)

__all__ = ["OUTPUT_KEPT", "measure", "progress_of", "read_test_summary"]

OUTPUT_KEPT = 64 * 1024
#: Matches a file glob may count before it stops looking (a ``**`` over a huge tree).
MAX_MATCHES = 10_000

_PYTEST_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)\b")
_UNITTEST_RAN = re.compile(r"^Ran (\d+) tests? in ", re.M)
_UNITTEST_FAILED = re.compile(r"^FAILED \(([^)]*)\)", re.M)


async def measure(kr: KeyResult, workspace: Path) -> KrOutcome:
    """Measure ``kr`` from its evidence in ``workspace`` (see the module docstring)."""
    ev = kr.evidence
    if isinstance(ev, CommandEvidence):
        kind, text, value, passed = "command", *await _command(ev, workspace)
    elif isinstance(ev, TestsEvidence):
        kind, text, value, passed = "tests", *await _tests(ev, workspace)
    elif isinstance(ev, FileEvidence):
        kind, text, value, passed = "file", *await asyncio.to_thread(_files, ev.path, workspace)
    elif isinstance(ev, UrlEvidence):
        kind, text, value, passed = "url", *await _url(ev)
    else:
        assert isinstance(ev, QuestionEvidence)
        kind, text, value, passed = "question", f"needs answer: {ev.question}", None, False
    outcome = KrOutcome(kr_id=kr.id, type=kind, evidence=text, value=value, passed=passed, at=time.time())
    return msgspec.structs.replace(outcome, progress=progress_of(kr, outcome))


def progress_of(kr: KeyResult, outcome: KrOutcome) -> float:
    """0..1 for ``outcome`` by ``kr.metric_type`` (see the module docstring)."""
    value, target = outcome.value, kr.target_value
    if kr.metric_type == "binary" or value is None or not math.isfinite(value):
        return 1.0 if outcome.passed else 0.0
    if kr.metric_type == "latency":
        if value <= 0:
            return 1.0
        return _cap(target / value) if target > 0 else 0.0
    if target <= 0:
        return 1.0 if outcome.passed else 0.0
    return _cap(value / target)


def _cap(x: float) -> float:
    return round(max(0.0, min(1.0, x)), 6)


# -- commands -------------------------------------------------------------------------


async def _shell(command: str, workspace: Path, timeout: float) -> tuple[int | None, str]:
    """(exit code, or None at the timeout; the output's tail, stdout and stderr merged)."""
    proc = await asyncio.shield(asyncio.create_subprocess_shell(
        command, cwd=workspace, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, start_new_session=True))
    assert proc.stdout is not None
    tail = bytearray()

    async def read() -> None:
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(65536):
            tail.extend(chunk)
            del tail[:-OUTPUT_KEPT]
        await proc.wait()

    try:
        async with asyncio.timeout(timeout):
            await read()
    except TimeoutError:
        _kill_group(proc.pid)
        await proc.wait()
        return None, tail.decode(errors="replace")
    except BaseException:  # cancelled: the check must not outlive us
        _kill_group(proc.pid)
        with contextlib.suppress(Exception):
            await asyncio.shield(proc.wait())
        raise
    return proc.returncode, tail.decode(errors="replace")


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _last_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output)"


async def _command(ev: CommandEvidence, workspace: Path) -> tuple[str, float | None, bool]:
    try:
        code, out = await _shell(ev.command, workspace, ev.timeout)
    except OSError as exc:
        return f"could not run {ev.command!r}: {exc}", None, False
    if code is None:
        return f"{ev.command!r} timed out after {ev.timeout:g}s", None, False
    value: float | None = None
    note = ""
    if ev.value_regex:
        m = re.search(ev.value_regex, out)
        if m is None:
            note = "; value not found in the output"
        else:
            try:
                value = float(m.group(1) if m.re.groups else m.group(0))
            except (ValueError, IndexError):
                note = f"; {m.group(0)[:40]!r} is not a number"
    shown = "" if value is None else f", value {value:g}"
    return f"exit {code}{shown}{note}: {_last_line(out)}", value, code == 0


def read_test_summary(output: str) -> tuple[int, int] | None:
    """(passed, total) from pytest's summary line ("3 passed, 1 failed, 1 error in 0.1s")
    or unittest's ("Ran 4 tests" + "FAILED (failures=1, errors=1)"); None if neither."""
    for line in reversed(output.splitlines()):
        counts = {kind.rstrip("s") if kind.startswith("error") else kind: int(n)
                  for n, kind in _PYTEST_COUNT.findall(line)}
        if counts and (" in " in line or line.startswith("=")):
            passed = counts.get("passed", 0) + counts.get("xpassed", 0)
            failed = counts.get("failed", 0) + counts.get("error", 0)
            return passed, passed + failed
    ran = _UNITTEST_RAN.findall(output)
    if ran:
        total = int(ran[-1])
        bad = 0
        if m := _UNITTEST_FAILED.search(output):
            bad = sum(int(n) for k, n in re.findall(r"(\w+)=(\d+)", m.group(1)) if k in ("failures", "errors"))
        return total - bad, total
    return None


async def _tests(ev: TestsEvidence, workspace: Path) -> tuple[str, float | None, bool]:
    try:
        code, out = await _shell(ev.command, workspace, ev.timeout)
    except OSError as exc:
        return f"could not run {ev.command!r}: {exc}", None, False
    if code is None:
        return f"{ev.command!r} timed out after {ev.timeout:g}s", None, False
    summary = read_test_summary(out)
    if summary is None:
        return f"exit {code}, no test summary found: {_last_line(out)}", None, False
    passed, total = summary
    if total == 0:
        return f"exit {code}: no tests ran", 0.0, False
    return f"{passed}/{total} passed (exit {code})", passed / total, passed == total and code == 0


# -- files and URLs -------------------------------------------------------------------


def _files(pattern: str, workspace: Path) -> tuple[str, float | None, bool]:
    parts = pattern.replace("\\", "/").split("/")
    if not pattern.strip() or pattern.startswith(("/", "~")) or ".." in parts or "\x00" in pattern:
        return f"refused {pattern!r}: not a relative path inside the workspace", None, False
    root = workspace.resolve()
    found = 0
    try:
        for path in root.glob(pattern):
            try:
                real = path.resolve()
            except OSError:
                continue
            if real == root or root in real.parents:  # a symlink out of the workspace does not count
                found += 1
                if found >= MAX_MATCHES:
                    break
    except (ValueError, OSError) as exc:
        return f"bad pattern {pattern!r}: {exc}", None, False
    if not found:
        return f"no file matches {pattern!r}", 0.0, False
    return f"{found} match{'es' if found != 1 else ''} for {pattern!r}", float(found), True


async def _url(ev: UrlEvidence) -> tuple[str, float | None, bool]:
    import httpx  # deferred: ~10 MB and 160 modules an idle daemon never needs

    started = time.perf_counter()
    try:
        async with httpx.AsyncClient(timeout=ev.timeout, follow_redirects=True, trust_env=False) as client:
            response = await client.get(ev.url)
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        return f"GET {ev.url} failed: {type(exc).__name__}: {exc}"[:400], None, False
    ms = round((time.perf_counter() - started) * 1000, 3)
    ok = 200 <= response.status_code < 300
    return f"GET {ev.url} -> {response.status_code} in {ms:g} ms", ms, ok
