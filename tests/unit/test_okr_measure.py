"""Key results measured from their own evidence against real things: a shell command,
a real pytest run on a tiny test file, a file glob in a workspace, a local HTTP server
on port 0, a question; and progress by metric type."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from codetether.daemon.core.okr import measure, progress_of, read_test_summary
from codetether.daemon.wire.okr import (
    CommandEvidence,
    Evidence,
    FileEvidence,
    KeyResult,
    KrOutcome,
    MetricType,
    QuestionEvidence,
    TestsEvidence,
    UrlEvidence,
)


def _kr(evidence: Evidence, metric: MetricType = "binary", target: float = 1.0) -> KeyResult:
    return KeyResult(id="kr_1", title="t", evidence=evidence, metric_type=metric, target_value=target)


async def test_a_command_passes_on_exit_0_and_reads_a_value(tmp_path: Path) -> None:
    (tmp_path / "cov.txt").write_text("TOTAL coverage 87%\n")
    out = await measure(_kr(CommandEvidence(command="cat cov.txt", value_regex=r"coverage (\d+)%"),
                            "progress", 90), tmp_path)
    assert out.passed and out.value == 87 and out.type == "command" and out.kr_id == "kr_1"
    assert out.progress == pytest.approx(87 / 90) and "exit 0, value 87" in out.evidence
    failed = await measure(_kr(CommandEvidence(command="echo broken >&2; exit 3")), tmp_path)
    assert not failed.passed and failed.progress == 0 and failed.evidence == "exit 3: broken"
    missing = await measure(_kr(CommandEvidence(command="echo x", value_regex=r"(\d+)")), tmp_path)
    assert missing.passed and missing.value is None and "value not found" in missing.evidence


async def test_a_command_runs_in_the_workspace_and_is_killed_at_its_timeout(tmp_path: Path) -> None:
    out = await measure(_kr(CommandEvidence(command="pwd")), tmp_path)
    assert out.evidence.endswith(str(tmp_path.resolve()))
    # the child holds the pipe open too: the whole group must go, or this would hang
    slow = await measure(_kr(CommandEvidence(command="sleep 30 & sleep 30", timeout=0.3)), tmp_path)
    assert not slow.passed and "timed out after 0.3s" in slow.evidence


async def test_a_real_pytest_run_gives_passed_over_total(tmp_path: Path) -> None:
    (tmp_path / "test_tiny.py").write_text(
        "def test_a():\n    assert True\n\ndef test_b():\n    assert True\n\n"
        "def test_c():\n    assert True\n\ndef test_d():\n    assert 1 == 2\n")
    command = f"{sys.executable} -m pytest -q -p no:cacheprovider test_tiny.py"
    out = await measure(_kr(TestsEvidence(command=command), "quality"), tmp_path)
    assert out.type == "tests" and out.value == 0.75 and not out.passed and out.progress == 0.75
    assert out.evidence == "3/4 passed (exit 1)"
    (tmp_path / "test_tiny.py").write_text("def test_a():\n    pass\n")
    ok = await measure(_kr(TestsEvidence(command=command + " -k test_a"), "binary"), tmp_path)
    assert ok.passed and ok.value == 1.0 and ok.progress == 1.0


async def test_tests_without_a_summary_or_without_tests_do_not_pass(tmp_path: Path) -> None:
    out = await measure(_kr(TestsEvidence(command="echo all good")), tmp_path)
    assert not out.passed and "no test summary" in out.evidence and out.value is None
    none = await measure(_kr(TestsEvidence(command="echo '0 passed in 0.01s'")), tmp_path)
    assert not none.passed and none.evidence.endswith("no tests ran")


@pytest.mark.parametrize("output, expected", [
    ("=== 3 passed, 1 failed, 1 error in 0.52s ===", (3, 5)),
    ("12 passed in 1.00s", (12, 12)),
    ("2 failed, 5 passed, 1 skipped, 2 warnings in 3.1s", (5, 7)),
    ("1 passed, 1 xpassed, 2 errors in 0.1s", (2, 4)),
    ("....\nRan 4 tests in 0.003s\n\nFAILED (failures=1, errors=1)\n", (2, 4)),
    ("Ran 1 test in 0.001s\n\nOK\n", (1, 1)),
    ("nothing here", None),
    ("I passed 3 exams", None),
])
def test_test_summaries(output: str, expected: tuple[int, int] | None) -> None:
    assert read_test_summary(output) == expected


async def test_a_file_glob_counts_matches_inside_the_workspace(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "docs" / "sub").mkdir(parents=True)
    (ws / "docs" / "a.md").write_text("a")
    (ws / "docs" / "sub" / "b.md").write_text("b")
    (tmp_path / "secret.md").write_text("outside")
    (ws / "docs" / "escape.md").symlink_to(tmp_path / "secret.md")
    out = await measure(_kr(FileEvidence(path="docs/**/*.md"), "count", 4), ws)
    assert out.passed and out.value == 2 and out.progress == 0.5 and out.evidence == "2 matches for 'docs/**/*.md'"
    one = await measure(_kr(FileEvidence(path="docs/a.md")), ws)
    assert one.passed and one.value == 1
    none = await measure(_kr(FileEvidence(path="*.rs")), ws)
    assert not none.passed and none.value == 0 and none.progress == 0
    for bad in ("../secret.md", "/etc/passwd", "docs/../../secret.md"):
        refused = await measure(_kr(FileEvidence(path=bad)), ws)
        assert not refused.passed and "refused" in refused.evidence


@pytest.fixture
async def server() -> AsyncIterator[str]:
    never = asyncio.Event()

    async def ok(_r: web.Request) -> web.Response:
        return web.Response(text="fine")

    async def missing(_r: web.Request) -> web.Response:
        return web.Response(status=404)

    async def hang(_r: web.Request) -> web.Response:
        await never.wait()
        return web.Response()

    async def moved(_r: web.Request) -> web.Response:
        raise web.HTTPFound("/ok")

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/missing", missing)
    app.router.add_get("/hang", hang)
    app.router.add_get("/moved", moved)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        never.set()
        await runner.cleanup()


async def test_a_url_must_answer_2xx(tmp_path: Path, server: str) -> None:
    out = await measure(_kr(UrlEvidence(url=f"{server}/ok"), "latency", 10_000), tmp_path)
    assert out.passed and out.type == "url" and out.value is not None and out.value > 0
    assert out.progress == 1.0 and out.evidence.startswith(f"GET {server}/ok -> 200 in ")
    moved = await measure(_kr(UrlEvidence(url=f"{server}/moved")), tmp_path)
    assert moved.passed
    missing = await measure(_kr(UrlEvidence(url=f"{server}/missing")), tmp_path)
    assert not missing.passed and "-> 404" in missing.evidence and missing.progress == 0
    hang = await measure(_kr(UrlEvidence(url=f"{server}/hang", timeout=0.2)), tmp_path)
    assert not hang.passed and "ReadTimeout" in hang.evidence


async def test_a_url_nobody_answers(tmp_path: Path, server: str) -> None:
    # a port we held and closed: nothing listens there now
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = await measure(_kr(UrlEvidence(url=f"http://127.0.0.1:{port}/")), tmp_path)
    assert not out.passed and "ConnectError" in out.evidence


async def test_a_question_needs_an_answer(tmp_path: Path) -> None:
    out = await measure(_kr(QuestionEvidence(question="Did users like it?")), tmp_path)
    assert out.type == "question" and not out.passed and out.progress == 0
    assert out.evidence == "needs answer: Did users like it?"


def _outcome(passed: bool, value: float | None) -> KrOutcome:
    return KrOutcome(kr_id="kr_1", type="command", evidence="", passed=passed, at=0.0, value=value)


@pytest.mark.parametrize("metric, target, passed, value, expected", [
    ("binary", 1, True, None, 1.0), ("binary", 1, False, 7.0, 0.0), ("binary", 5, True, 0.0, 1.0),
    ("count", 10, True, 4.0, 0.4), ("count", 10, True, 25.0, 1.0), ("count", 10, False, None, 0.0),
    ("progress", 80, True, 60.0, 0.75), ("progress", 0, True, 3.0, 1.0), ("progress", 10, True, -3.0, 0.0),
    ("latency", 200, True, 400.0, 0.5), ("latency", 200, True, 100.0, 1.0), ("latency", 200, True, 0.0, 1.0),
    ("latency", 200, False, None, 0.0),
    ("quality", 1, False, 0.75, 0.75), ("quality", 0.9, False, 0.45, 0.5), ("quality", 1, True, float("nan"), 1.0),
])
def test_progress_by_metric_type(metric: MetricType, target: float, passed: bool, value: float | None,
                                 expected: float) -> None:
    assert progress_of(_kr(QuestionEvidence(question="q"), metric, target), _outcome(passed, value)) == \
        pytest.approx(expected)
