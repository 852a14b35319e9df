"""Approval round trip in real Neovim: from the daemon's edit proposal reaching the
editor to the change in the buffer after approve (20 proposals, real daemon, real
language server, headless nvim 0.11). The scenario lives in tests/e2e/test_neovim.py;
this runs it and reads the figures it prints."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from ._util import BenchResult, Skip

NAME = "neovim_approval"
GOAL_MS = 200.0
ROOT = Path(__file__).resolve().parents[1]


def run(quick: bool = False) -> BenchResult:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:randomly",
         "tests/e2e/test_neovim.py", "-k", "approval_round_trip and real"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    match = re.search(r"p50 ([\d.]+) ms, min ([\d.]+) ms, max ([\d.]+) ms", proc.stdout)
    if proc.returncode != 0 or match is None:
        if "skipped" in proc.stdout:
            raise Skip("the Neovim scenario was skipped (no nvim?)")
        raise RuntimeError(f"the Neovim scenario failed:\n{proc.stdout[-2000:]}{proc.stderr[-1000:]}")
    p50, low, high = (float(x) for x in match.groups())
    print(f"neovim approval round trip over 20 proposals: p50 {p50} ms (min {low}, max {high})")
    result = BenchResult(NAME)
    result.figure("approval round trip p50 (proposal -> buffer changed)", p50, "ms", GOAL_MS)
    result.figure("approval round trip max", high, "ms")
    return result
