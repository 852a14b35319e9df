"""Telemetry append cost as history grows to 1M records, against the seed's
full-file rewrite per record; event-stream random access in a 1M-event stream,
against a line scan. All in one process, one run."""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import time
from pathlib import Path

from ._util import BenchResult, print_rows, summarize

NAME = "records"
APPEND_GOAL_US = 20.0
READ_GOAL_US = 1000.0  # 1 ms


def run(quick: bool = False) -> BenchResult:
    result = BenchResult(NAME)
    root = Path(tempfile.mkdtemp(prefix="ct", dir="/tmp"))
    try:
        _telemetry(result, root / "telemetry", total=100_000 if quick else 1_000_000)
        _rewrite_baseline(result, root / "rewrite", sizes=(1_000, 5_000) if quick else (1_000, 5_000, 20_000))
        _event_stream(result, root / "events", total=100_000 if quick else 1_000_000)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return result


def _telemetry(result: BenchResult, directory: Path, total: int) -> None:
    from codetether.daemon.core.records.telemetry import Telemetry, TokenCounts, ToolExecution

    telemetry = Telemetry(directory)
    counts = TokenCounts(input=1200, output=300)
    checkpoints = sorted({1_000, 10_000, 100_000, total})
    window = 5_000
    rows = []
    done = 0
    for point in checkpoints:
        fill = point - window - done  # grow the history untimed up to the window
        for i in range(max(0, fill)):
            telemetry.record_tokens("anthropic/claude-sonnet-4", "chat", counts)
        done += max(0, fill)
        samples = []
        for i in range(window):
            if i % 4 == 0:
                ex = ToolExecution.start("read_file", {"path": f"src/m{i}.py"}).with_session("s")
                ex.complete_success("x" * 200, duration_ms=3)
                t0 = time.perf_counter()
                telemetry.record_tool(ex)
            else:
                t0 = time.perf_counter()
                telemetry.record_tokens("anthropic/claude-sonnet-4", "chat", counts)
            samples.append(time.perf_counter() - t0)
        done += window
        st = summarize(samples)
        rows.append([f"{point:,}", f"{st.p50 * 1e6:.1f}", f"{st.mean * 1e6:.1f}", f"{st.p99 * 1e6:.1f}"])
        result.figure(f"telemetry append p50 at {point:,} records", st.p50 * 1e6, "us",
                      APPEND_GOAL_US)
    telemetry.close()
    size = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
    print(f"telemetry: {done:,} records appended; {size / 2**20:.1f} MiB on disk after rotation")
    print_rows(rows, ["history", "p50 us", "mean us", "p99 us"])


def _rewrite_baseline(result: BenchResult, directory: Path, sizes: tuple[int, ...]) -> None:
    """The seed's persistence: the whole JSON file rewritten for every record."""
    directory.mkdir(parents=True)
    path = directory / "telemetry.json"
    record = {"tool_name": "read_file", "input": {"path": "src/m.py"}, "output": "x" * 200,
              "success": True, "duration_ms": 3, "ts": 0.0}
    rows = []
    for size in sizes:
        records = [dict(record, ts=float(i)) for i in range(size)]
        samples = []
        for _ in range(20):
            records.append(dict(record))
            t0 = time.perf_counter()
            path.write_text(json.dumps({"executions": records}))
            samples.append(time.perf_counter() - t0)
        st = summarize(samples)
        rows.append([f"{size:,}", f"{st.p50 * 1e6:.0f}"])
        result.figure(f"seed-style full rewrite per record at {size:,} records", st.p50 * 1e6, "us")
    print("seed-style persistence (rewrite the whole file per record):")
    print_rows(rows, ["history", "p50 us per record"])


def _event_stream(result: BenchResult, directory: Path, total: int) -> None:
    from codetether.daemon.core.records.eventstream import EventStream

    stream = EventStream(directory, "bench-session")
    data = {"text": "a chunk of streamed answer text", "call_id": "c1"}
    t0 = time.perf_counter()
    for i in range(total):
        stream.append("text", data)
    build = time.perf_counter() - t0
    print(f"event stream: {total:,} events appended in {build:.1f} s "
          f"({build / total * 1e6:.1f} us each)")
    rng = random.Random(7)
    samples = []
    for _ in range(2_000):
        n = rng.randrange(total)
        t0 = time.perf_counter()
        record = stream.read(n)
        samples.append(time.perf_counter() - t0)
        assert record.seq == n
    st = summarize(samples)
    result.figure(f"event stream random read p50 ({total:,} events)", st.p50 * 1e6, "us", READ_GOAL_US)
    result.figure(f"event stream random read p99 ({total:,} events)", st.p99 * 1e6, "us", READ_GOAL_US)
    stream.close()
    # The alternative without an index: scan lines up to N.
    log = directory / "bench-session" / "events.jsonl"
    scans = []
    for n in (total // 10, total // 2):
        t0 = time.perf_counter()
        with log.open("rb") as fh:
            for i, _line in enumerate(fh):
                if i == n:
                    break
        scans.append((n, time.perf_counter() - t0))
    for n, secs in scans:
        result.figure(f"line scan to event {n:,} (no index)", secs * 1e3, "ms")
    print_rows([[f"{st.p50 * 1e6:.1f}", f"{st.p99 * 1e6:.1f}",
                 " / ".join(f"{secs * 1e3:.0f} ms to {n:,}" for n, secs in scans)]],
               ["indexed read p50 us", "p99 us", "line scan"])
