"""`/go`'s OKR gate round trip in real Neovim: from the `codetether/approval` notification
(kind okr) reaching the editor, through `a` pressed in the gate's float, to the daemon
having recorded the decision (`codetether.approve` answered with status allow), over N
gates (one `/go` each, run to completion; real daemon, real language server, headless
nvim 0.11). The scenario lives in tests/e2e/test_neovim_okr.py; this runs it and reads
the figures it prints."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from ._util import BenchResult, Skip

NAME = "neovim_okr_gate"
GOAL_MS = 200.0
ROOT = Path(__file__).resolve().parents[1]


def run(quick: bool = False) -> BenchResult:
    gates = 20 if quick else 100
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:randomly", "-p", "no:cacheprovider",
         "tests/e2e/test_neovim_okr.py", "-k", "okr_gate_round_trip"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "CT_BENCH_OKR_GATES": str(gates)})
    match = re.search(r"(\d+) gates\] p50 ([\d.]+) ms, p99 ([\d.]+) ms, min ([\d.]+) ms, max ([\d.]+) ms",
                      proc.stdout)
    if proc.returncode != 0 or match is None:
        if "skipped" in proc.stdout:
            raise Skip("the Neovim scenario was skipped (no nvim?)")
        raise RuntimeError(f"the Neovim scenario failed:\n{proc.stdout[-2000:]}{proc.stderr[-1000:]}")
    n = int(match.group(1))
    p50, p99, low, high = (float(x) for x in match.groups()[1:])
    print(f"neovim OKR gate round trip over {n} gates: p50 {p50} ms, p99 {p99} ms (min {low}, max {high})")
    result = BenchResult(NAME)
    result.figure(f"OKR gate round trip p50 (notification -> decision recorded, {n} gates)", p50, "ms", GOAL_MS)
    result.figure("OKR gate round trip p99", p99, "ms")
    return result
