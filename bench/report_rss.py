"""Daemon memory across 10 ``telemetry/report`` calls [goal: VmRSS growth <= 10 MB] (R2).

The daemon's telemetry is seeded with 3,000 token and 3,000 tool records (4 models,
6 tools) before it starts; then the report is written 10 times over the socket and
VmRSS read from /proc/<pid>/status after start, after the first report (one-off
imports) and after the tenth. For comparison, in the same run: the same 10 pages
drawn inside one Python process (what the daemon would do without the child), and
the plotly figure from the finding (30 -> 147 MB over 10 reports, never released).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from ._util import PYTHON, BenchResult, child_env, heading, print_rows, temp_daemon

NAME = "report_rss"
GOAL_MB = 10.0
REPORTS = 10
MODELS = ("anthropic/claude-sonnet-4-20250514", "openai/gpt-4o", "moonshotai/kimi-k2.5", "embedded/smollm2-135m")
TOOLS = ("read_file", "grep", "bash", "edit", "write_file", "list_dir")
PLOTLY_BEFORE = (30.0, 147.0)  # the finding's figure (R2), plotly in the daemon


def _seed(home: Path, records: int) -> None:
    from codetether.daemon.core.records.telemetry import Telemetry, TokenCounts, ToolExecution

    clock = [1_700_000_000.0]
    with Telemetry(home / "data" / "telemetry", clock=lambda: clock[0]) as tel:
        for i in range(records):
            clock[0] += 7
            tel.record_tokens(MODELS[i % len(MODELS)], "chat", TokenCounts(800 + i % 500, 60 + i % 90))
            e = ToolExecution.start(TOOLS[i % len(TOOLS)], {"path": f"src/f{i % 40}.py"})
            tel.record_tool(e.complete_success("ok", 5 + i % 300) if i % 13 else e.complete_error("no", 900))


def _rss(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _in_process(records: int, out: Path) -> list[float]:
    """RSS after each of REPORTS pages drawn in this process (a child, so ours stays clean)."""
    code = f"""
import json, sys
from pathlib import Path
from codetether.daemon.core.records.telemetry import Telemetry
from codetether.daemon.core.records.telemetry._report import report_spec
from codetether.daemon.core.records.telemetry._charts import write_page
def rss():
    return next(int(l.split()[1]) / 1024 for l in open('/proc/self/status') if l.startswith('VmRSS:'))
with Telemetry(Path({str(out)!r})) as tel:
    records = list(tel.store.records(None))
readings = [rss()]
for i in range({REPORTS}):
    write_page(report_spec(records), Path({str(out)!r}) / f"r{{i}}.html")
    readings.append(rss())
print(json.dumps(readings))
"""
    done = subprocess.run([PYTHON, "-c", code], env=child_env(), capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-600:])
    return json.loads(done.stdout)


def run(quick: bool = False) -> BenchResult:
    from codetether.daemon.client import Client

    result = BenchResult(NAME)
    records = 1000 if quick else 3000
    times: list[float] = []
    with temp_daemon(prepare=lambda home: _seed(home, records)) as daemon:
        start = _rss(daemon.pid)
        readings = []
        with Client(daemon.paths, autostart=False) as client:
            for i in range(REPORTS):
                target = daemon.home / f"report{i}.html"
                t0 = time.perf_counter()
                client.call("telemetry/report", {"path": str(target)})
                times.append(time.perf_counter() - t0)
                readings.append(_rss(daemon.pid))
        size = (daemon.home / "report0.html").stat().st_size
        seed_dir = daemon.home / "data" / "telemetry"
        inproc = _in_process(records, seed_dir)
    print(f"{records} token + {records} tool records; page {size / 1024:.0f} KB; "
          f"report time {min(times) * 1e3:.0f}-{max(times) * 1e3:.0f} ms")
    print_rows([
        ["daemon (chart in a child process)", f"{start:.1f}", f"{readings[0]:.1f}", f"{readings[-1]:.1f}",
         f"{readings[-1] - start:+.1f}"],
        ["in-process pygal (for comparison)", f"{inproc[0]:.1f}", f"{inproc[1]:.1f}", f"{inproc[-1]:.1f}",
         f"{inproc[-1] - inproc[0]:+.1f}"],
        ["plotly in the daemon (finding R2)", f"{PLOTLY_BEFORE[0]:.0f}", "", f"{PLOTLY_BEFORE[1]:.0f}",
         f"{PLOTLY_BEFORE[1] - PLOTLY_BEFORE[0]:+.0f}"],
    ], ["", "VmRSS before MB", "after 1", f"after {REPORTS}", "growth"])
    result.figure(f"daemon VmRSS growth over {REPORTS} reports", readings[-1] - start, "MB", GOAL_MB)
    result.figure(f"in-process VmRSS growth over {REPORTS} reports (comparison)", inproc[-1] - inproc[0], "MB")
    result.figure("report page size", size / 1024, "KB")
    result.figure("report time (median)", sorted(times)[len(times) // 2] * 1e3, "ms")
    result.note(f"plotly in the daemon before (finding R2): {PLOTLY_BEFORE[0]:.0f} -> {PLOTLY_BEFORE[1]:.0f} MB")
    return result


if __name__ == "__main__":
    heading(NAME)
    run()
