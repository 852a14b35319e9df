"""The VS Code extension's own suite (clients/vscode: unit tests on a fake ``vscode``
module, end-to-end tests driving the real ``codetether lsp`` over stdio), run from pytest
so ``make test`` covers it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXTENSION = Path(__file__).resolve().parents[2] / "clients" / "vscode"


def _npm(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODETETHER_")}
    env["CODETETHER_PYTHON"] = sys.executable  # the servers under test run on this interpreter
    return subprocess.run(["npm", *args], cwd=EXTENSION, env=env, text=True, capture_output=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.mark.timeout(900)
def test_vscode_extension_suite() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for the VS Code extension's tests")
    if not (EXTENSION / "node_modules" / ".package-lock.json").is_file():
        installed = _npm("ci", "--no-audit", "--no-fund", timeout=600)
        assert installed.returncode == 0, f"npm ci failed:\n{installed.stdout[-3000:]}\n{installed.stderr[-3000:]}"
    result = _npm("test", timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "ℹ fail 0" in output, output[-3000:]
    # The end-to-end part skips (with its reason) only when codetether.lsp cannot run.
    assert "ℹ skipped 0" in output, output[-3000:]
