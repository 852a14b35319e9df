"""The official A2A TCK (a2aproject/a2a-tck, branch 1.0-dev) against ``codetether serve``,
on all three transports, through ``scripts/run-tck.sh``.

Needs a TCK checkout with its own environment: ``A2A_TCK_DIR`` (and ``TCK_PYTHON`` when
its interpreter is not ``$A2A_TCK_DIR/.venv/bin/python`` or ``/tmp/tck-venv/bin/python``).
Without it the test skips (CI has no GitHub access; the counts measured are in the note).
Passes when every MUST requirement the TCK tested passed on every transport, apart from
the TCK's own known bugs the script lists (with their evidence).

Measured here (TCK 1.0-dev at 357c4a8, requirements passed/tested): JSON-RPC MUST 68/69,
SHOULD 5/5; gRPC MUST 51/53, SHOULD 4/4; HTTP+JSON MUST 65/67, SHOULD 5/5; card MUST 5/5,
SHOULD 2/2. Every failure left is one of the TCK's known bugs (CORE-SEND-003 on all three,
GRPC-ERR-002 and HTTP_JSON-STATUS-001 checked against the v1.0.0 error table).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "run-tck.sh"


@pytest.mark.timeout(1800)
def test_tck_must_requirements_pass_on_every_transport() -> None:
    tck = os.environ.get("A2A_TCK_DIR", "")
    if not tck or not (Path(tck) / "run_tck.py").is_file():
        pytest.skip("no A2A TCK checkout: set A2A_TCK_DIR to a2aproject/a2a-tck (branch 1.0-dev), "
                    "installed with `pip install -e` in its own venv")
    env = {**os.environ, "CODETETHER": os.environ.get("CODETETHER", str(Path(sys.executable).parent / "codetether"))}
    done = subprocess.run(["bash", str(SCRIPT), tck], env=env, capture_output=True, text=True, timeout=1700,
                          check=False)
    print(done.stdout)
    assert done.returncode == 0, f"TCK failures:\n{done.stdout[-6000:]}\n{done.stderr[-2000:]}"
    assert "passed/tested" in done.stdout
