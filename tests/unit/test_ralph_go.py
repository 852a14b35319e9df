"""``/go`` in a git workspace runs its independent stories (one per key result) as one
Ralph stage: each in its own worktree, merged back, both key results measured."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from codetether.daemon.api import CallContext, build_api
from codetether.daemon.api.okr import okr_store
from codetether.daemon.app import App
from codetether.daemon.core.ralph import RalphStore, prd_id
from codetether.daemon.wire import api
from codetether.daemon.wire.events import ApprovalRequested


def _ctx() -> CallContext:
    return CallContext(transport="inproc", peer={"uid": os.getuid()}, principal=f"uid:{os.getuid()}")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


async def test_go_runs_independent_key_results_as_one_stage(tmp_path: Path, scripted_app: Any) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    for args in (("init", "-q", "-b", "main"), ("config", "user.email", "t@example.com"), ("config", "user.name", "t"),
                 ("commit", "-q", "--allow-empty", "-m", "base")):
        _git(repo, *args)
    draft = {"title": "Two files", "description": "a and b", "key_results": [
        {"title": f"{n}.txt exists", "metric_type": "binary", "evidence": {"kind": "file", "path": f"{n}.txt"}}
        for n in ("a", "b")]}
    # the two writes are interchangeable between the parallel agents (checks run after the merges)
    app: App = scripted_app(tmp_path / "home", [
        {"text": "```json\n" + json.dumps(draft) + "\n```"},
        {"tool": "write_file", "arguments": {"path": "a.txt", "content": "a\n"}},
        {"tool": "write_file", "arguments": {"path": "b.txt", "content": "b\n"}}],
        fallback="done", config='[permissions]\nmode = "auto"\n')
    try:
        table = build_api(app)
        sid = (await table.call("session/create", {"workspace": str(repo)}, _ctx())).id
        result = None
        body: dict[str, Any] = {}
        async for item in table.stream("session/prompt", {"session_id": sid, "text": "/go two files"}, _ctx()):
            if isinstance(item, api.PromptResult):
                result = item
            elif isinstance(item.event, ApprovalRequested) and item.event.tool == "okr":
                body = json.loads(item.event.arguments)
                await table.call("approval/decide", {"approval_id": item.event.approval_id, "decision": "allow"},
                                 _ctx())
        assert result is not None and result.text.startswith("/go completed: Two files"), result
        run = await okr_store(app).get_run(body["run_id"])
        assert run.status == "completed" and set(run.kr_progress.values()) == {1.0}
        state = RalphStore(app.paths.data_dir / "ralph").get(prd_id(Path(run.prd_path or "")))
        assert state is not None and state.parallel == 2 and state.iteration == 1
        assert [(r.story_id, r.outcome, r.merge) for r in state.iterations] == [
            ("KR-1", "passed", "merged"), ("KR-2", "passed", "merged")]
        assert (repo / "a.txt").exists() and (repo / "b.txt").exists()
        assert _git(repo, "status", "--porcelain") == "" and "codetether/" not in _git(repo, "branch", "--list")
    finally:
        await app.aclose()
