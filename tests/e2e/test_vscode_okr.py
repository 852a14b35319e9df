"""`/go`'s OKR gate in real VS Code (issue 11): the packaged extension in code-server, driven in
headless Chromium (tests/e2e/vscode/drive.cjs, mode "okr"), with the real language server and
daemon and a scripted model. `/go` typed in the codetether chat → a modal with the objective and
both key results → Deny with a reason → the re-drafted objective's modal → Approve → "/go
completed" in the chat; the daemon's OKR run is completed and done.txt exists.

It also measures the gate's round trip over every gate it passes: the daemon's approval request
to the modal visible in the page, plus the decision leaving the page (the click, or Enter in the
reason box) to the daemon recording it; the driver's own time between the two is left out.
``CODETETHER_VSCODE_OKR_ROUNDS`` (default 1) sets how many `/go`s (two gates each) it runs.
Needs scripts/vscode-e2e-setup.sh, as tests/e2e/test_vscode_real.py does.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
from pathlib import Path
from typing import Any

import pytest
from codetether.daemon.client import Client
from codetether.daemon.paths import get_paths
from codetether.daemon.testing import ScriptedVendorServer, Turn

# root and vsix are the real-VS-Code test's fixtures: a short temp root, the packaged .vsix.
from .test_vscode_real import CLI, _code_server, _drive, _env, root, vsix

__all__ = ["root", "vsix"]

ROUNDS = int(os.environ.get("CODETETHER_VSCODE_OKR_ROUNDS") or "1")


def _draft(title: str) -> Turn:
    return Turn.text(json.dumps({
        "title": title, "description": "a file that says it is done",
        "key_results": [
            {"title": "done.txt exists", "metric_type": "binary", "evidence": {"kind": "file", "path": "done.txt"}},
            {"title": "it says done", "metric_type": "binary",
             "evidence": {"kind": "command", "command": "grep -q done done.txt"}}]}))


def _turns(rounds: int) -> list[Turn]:
    """Per `/go`: the first draft (denied), the re-draft (approved), then the PRD loop's two
    stories: KR-1 writes done.txt and says so, KR-2 finds it holds."""
    turns: list[Turn] = []
    for r in range(1, rounds + 1):
        turns += [_draft(f"Too vague {r}"), _draft(f"Ship done.txt {r}"),
                  Turn.tool("write_file", {"path": "done.txt", "content": "done\n"}), Turn.text("wrote it"),
                  Turn.text("holds")]
    return turns


def _gates(output: str) -> list[dict[str, Any]]:
    return [json.loads(line.split("gate ", 1)[1]) for line in output.splitlines() if line.startswith("[drive] gate ")]


def _p50(values: list[float]) -> float:
    return round(statistics.median(values), 1)


@pytest.mark.timeout(900)
async def test_go_okr_gate_in_code_server(vsix: Path, root: Path) -> None:
    home, workspace = root / "h", root / "ws"
    (home / "config").mkdir(parents=True)
    env = _env(home)
    turns = _turns(ROUNDS)
    try:
        async with ScriptedVendorServer(turns, fallback="(no more turns)") as model:
            (home / "config" / "config.toml").write_text(
                '[default]\nprovider = "loopback"\nmodel = "scripted-model"\n\n'
                f'[providers.loopback]\nbase_url = "{model.openai_base_url}"\n\n'
                '[permissions]\nmode = "auto"\n')
            # The stories run in the session's approval mode: auto, so only the gate asks.
            settings = {"codetether.serverCommand": [CLI, "lsp"], "codetether.approvalMode": "auto"}
            async with _code_server(root, workspace, vsix, env, settings) as url:
                output = await _drive(root, url, workspace, {**env, "DRIVE_OKR_ROUNDS": str(ROUNDS)},
                                           mode="okr")
            assert len(model.requests_for("openai")) == len(turns)  # each draft and story once

        assert (workspace / "done.txt").read_text() == "done\n"
        runs = json.loads(subprocess.run([CLI, "okr", "runs", "--json"], env=env, text=True, check=True,
                                         capture_output=True, timeout=60).stdout)
        assert [r["status"] for r in runs] == ["completed"] * ROUNDS
        assert all(r["approval"]["decision"] == "approve" for r in runs)
        assert all(set(r["kr_progress"].values()) == {1.0} for r in runs)

        # The daemon's own record of each gate: when it asked, when the decision arrived, and why.
        with Client(get_paths(env), autostart=False) as client:
            records = client.call("approval/list", {"include_decided": True})
        by_subject = {r["subject"]: r for r in records if r["tool"] == "okr"}
        gates = _gates(output)
        assert [g["title"] for g in gates] == [t for r in range(1, ROUNDS + 1)
                                               for t in (f"Too vague {r}", f"Ship done.txt {r}")]
        shown, decided = [], []
        for gate in gates:
            record = by_subject[gate["title"]]
            assert record["status"] == ("deny" if gate["decision"] == "deny" else "allow")
            if gate["decision"] == "deny":
                assert record["reason"].startswith("say which file, round ")
            shown.append(gate["shown"] - record["created_at"] * 1000)
            decided.append(record["decided_at"] * 1000 - gate["decided"])
        trips = [a + b for a, b in zip(shown, decided, strict=True)]
        print(f"vscode okr gate round trip over {len(trips)} gates: p50 {_p50(trips)} ms, "
              f"min {min(trips):.1f} ms, max {max(trips):.1f} ms; request -> modal visible p50 {_p50(shown)} ms; "
              f"decision -> recorded p50 {_p50(decided)} ms")
        print("per gate (request -> modal visible + decision -> recorded, ms): "
              + ", ".join(f"{g['decision']} {a:.0f}+{b:.0f}" for g, a, b in zip(gates, shown, decided, strict=True)))
    finally:
        subprocess.run([CLI, "daemon", "stop"], env=env, capture_output=True, timeout=60)
