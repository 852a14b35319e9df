"""``python -m bench [--only NAME] [--quick]``: run the benchmarks, print a table, save JSON.

The exit code is 0 unless a benchmark crashed: a missed goal is a figure to read,
not a failure.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from . import BENCHES
from ._util import PYCACHE, BenchResult, Skip, fmt, heading, print_rows

RESULTS = Path(__file__).resolve().parent.parent / ".bench" / "results.json"


def _select(only: list[str]) -> list[str]:
    if not only:
        return list(BENCHES)
    chosen: list[str] = []
    for raw in only:
        for name in filter(None, (n.strip() for n in raw.split(","))):
            matches = ([b for b in BENCHES if b == name] or [b for b in BENCHES if b.startswith(name)]
                       or [b for b in BENCHES if name in b])
            if len(matches) != 1:
                raise SystemExit(f"--only {name!r}: expected one of {', '.join(BENCHES)} (or a unique part)")
            if matches[0] not in chosen:
                chosen.append(matches[0])
    return chosen


def _order(name: str) -> int:
    return BENCHES.index(name) if name in BENCHES else len(BENCHES)


def _run_one(name: str, quick: bool) -> BenchResult:
    load = os.getloadavg()[0]
    if load > 0.5 * (os.cpu_count() or 1):
        print(f"  (1-minute load average {load:.2f} on {os.cpu_count()} cpus: expect noisy figures)")
    started = time.perf_counter()
    try:
        module = importlib.import_module(f"{__package__}.{name}")
        result: BenchResult = module.run(quick=quick)
    except Skip as exc:
        result = BenchResult(name, skipped=str(exc))
        print(f"  skipped: {exc}", flush=True)
    except Exception as exc:  # noqa: BLE001 - report and go on with the next benchmark
        traceback.print_exc()
        result = BenchResult(name, error=f"{type(exc).__name__}: {exc}")
    result.seconds = time.perf_counter() - started
    result.loadavg = load
    return result


def _summary(results: list[BenchResult]) -> None:
    heading("summary")
    rows = []
    for r in results:
        if r.skipped or r.error:
            rows.append([r.bench, "SKIPPED" if r.skipped else "ERROR", "", "",
                         (r.skipped or r.error or "").splitlines()[0][:70]])
            continue
        for i, f in enumerate(r.figures):
            goal = f"<= {fmt(f.goal, f.unit)}" if f.goal is not None else ""
            rows.append([r.bench if i == 0 else "", f.name, fmt(f.value, f.unit), goal, f.status])
    print_rows(rows, ["bench", "figure", "value", "goal", ""])


def _save(results: list[BenchResult], quick: bool) -> None:
    """Merge into results.json: a partial run (--only) keeps the other benchmarks' last entries."""
    try:
        data: dict[str, Any] = json.loads(RESULTS.read_text())
    except (OSError, ValueError):
        data = {}
    benches = data.get("benches", {}) if isinstance(data.get("benches"), dict) else {}
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    for r in results:
        benches[r.bench] = dict(r.to_json(), at=now, quick=quick)
    benches = {name: benches[name] for name in sorted(benches, key=_order)}
    data = {
        "updated_at": now,
        "host": {"python": sys.version.split()[0], "platform": platform.platform(),
                 "cpus": os.cpu_count()},
        "benches": benches,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run the codetether benchmarks, print a summary table, save .bench/results.json.")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help=f"run only these (repeat or comma-separate; a unique part will do): {', '.join(BENCHES)}")
    parser.add_argument("--quick", action="store_true", help="fewer samples, for a fast look")
    args = parser.parse_args(argv)
    names = _select(args.only)
    print(f"codetether benchmarks{' (quick)' if args.quick else ''}: python {sys.version.split()[0]}, "
          f"{os.cpu_count()} cpus, {platform.platform()}")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print(f"note: PYTHONDONTWRITEBYTECODE is set here; processes we time keep bytecode in "
              f"{os.path.relpath(PYCACHE)} instead (PYTHONPYCACHEPREFIX), as a user's install would")
    results = []
    for name in names:
        heading(name)
        results.append(_run_one(name, args.quick))
    _summary(results)
    _save(results, args.quick)
    print(f"\nresults written to {os.path.relpath(RESULTS)}")
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
