"""S3 through the real daemon and CLI: a rule on ``src/**`` does not cover a path that
only looks like it is under src/ (``src/../protected/x``, ``src/lnk/x`` with
``src/lnk -> ../protected``). apply_patch and multiedit must ask for those, as
write_file always did; without a terminal the ask is a deny, so nothing is written."""

from __future__ import annotations

import json


def _patch(path: str) -> str:
    return f"--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-a\n+b\n"


def _edit(path: str) -> dict[str, object]:
    return {"edits": [{"path": path, "old_string": "a", "new_string": "b"}]}


def test_patch_and_multiedit_are_judged_on_the_resolved_path(home):  # S3
    ws = home.workspace
    (ws / "protected").mkdir()
    (ws / "protected" / "x").write_text("a\n")
    (ws / "src").mkdir()
    (ws / "src" / "ok.txt").write_text("a\n")
    (ws / "src" / "lnk").symlink_to("../protected")
    home.script(
        {"tool": "multiedit", "arguments": _edit("src/../protected/x")},
        {"tool": "multiedit", "arguments": _edit("src/lnk/x")},
        {"tool": "apply_patch", "arguments": {"patch": _patch("src/../protected/x")}},
        {"tool": "apply_patch", "arguments": {"patch": _patch("src/lnk/x")}},
        {"tool": "apply_patch", "arguments": {"patch": _patch("src/ok.txt")}},  # really under src/
        {"text": "done"},
    )
    home.config_file.write_text(home.config_file.read_text()
                                + '\n[permissions]\nmode = "ask"\n\n[permissions.rules."*"]\n"src/**" = "allow"\n')
    proc = home.cli("run", "--json", "edit them")
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    asked = [(e["tool"], e["subject"]) for e in events if e["type"] == "approval_request"]
    assert asked == [("multiedit", "protected/x"), ("multiedit", "protected/x"),
                     ("apply_patch", "protected/x"), ("apply_patch", "protected/x")]
    ends = [e for e in events if e["type"] == "tool_call_end"]
    assert [e["is_error"] for e in ends] == [True, True, True, True, False]
    assert all("Permission denied" in e["output"] for e in ends[:4])
    assert (ws / "protected" / "x").read_text() == "a\n"
    assert (ws / "src" / "ok.txt").read_text() == "b\n"
