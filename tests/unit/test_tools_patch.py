"""apply_patch."""

from __future__ import annotations

import stat
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from codetether.daemon.core.tools import ToolResult
from codetether.daemon.core.tools.patch import normalize_patch
from codetether.daemon.errors import InvalidParams, ToolFailure, WorkspaceEscape

CallTool = Callable[..., Awaitable[ToolResult]]

LINES = "".join(f"line {i}\n" for i in range(1, 21))


@pytest.fixture
def files(tool_root: Path) -> Path:
    (tool_root / "src").mkdir()
    (tool_root / "src/a.txt").write_text(LINES)
    (tool_root / "b.txt").write_text("alpha\nbeta\ngamma\n")
    (tool_root / "old.txt").write_text("to be removed\n")
    return tool_root


MULTI = """\
diff --git a/src/a.txt b/src/a.txt
--- a/src/a.txt
+++ b/src/a.txt
@@ -2,3 +2,3 @@
 line 2
-line 3
+line three
 line 4
@@ -17,3 +17,4 @@
 line 17
 line 18
+line 18.5
 line 19
diff --git a/b.txt b/b.txt
--- a/b.txt
+++ b/b.txt
@@ -1,3 +1,2 @@
 alpha
-beta
 gamma
diff --git a/new/c.py b/new/c.py
new file mode 100755
--- /dev/null
+++ b/new/c.py
@@ -0,0 +1,2 @@
+#!/bin/sh
+echo c
diff --git a/old.txt b/old.txt
deleted file mode 100644
--- a/old.txt
+++ /dev/null
@@ -1 +0,0 @@
-to be removed
"""


async def test_multi_file_patch(files: Path, call_tool: CallTool) -> None:
    result = await call_tool("apply_patch", patch=MULTI)
    a = (files / "src/a.txt").read_text()
    assert "line three\n" in a and "line 3\n" not in a
    assert "line 18\nline 18.5\nline 19\n" in a
    assert (files / "b.txt").read_text() == "alpha\ngamma\n"
    assert (files / "new/c.py").read_text() == "#!/bin/sh\necho c\n"
    assert stat.S_IMODE((files / "new/c.py").stat().st_mode) == 0o755
    assert not (files / "old.txt").exists()
    kinds = {c["path"]: c["kind"] for c in result.metadata["changes"]}
    assert kinds == {"src/a.txt": "modify", "b.txt": "modify", "new/c.py": "create", "old.txt": "delete"}
    assert result.output.splitlines() == [
        "Applied patch:",
        "M src/a.txt (+2 -1)",
        "M b.txt (+0 -1)",
        "A new/c.py (+2 -0)",
        "D old.txt (+0 -1)",
    ]


async def test_hunk_that_does_not_apply_changes_nothing(files: Path, call_tool: CallTool) -> None:
    bad = MULTI.replace(" alpha\n-beta\n", " alpha\n-BETA\n")
    with pytest.raises(ToolFailure) as info:
        await call_tool("apply_patch", patch=bad)
    message = info.value.message
    assert "hunk 1 of b.txt (@@ -1,3 +1,2 @@) does not apply" in message
    assert "-BETA" not in message and "  BETA" in message
    assert "No file was changed" in message
    assert info.value.data == {"path": "b.txt", "hunk": 1}
    assert (files / "src/a.txt").read_text() == LINES
    assert (files / "b.txt").read_text() == "alpha\nbeta\ngamma\n"
    assert (files / "old.txt").exists() and not (files / "new").exists()


async def test_shifted_hunks_and_wrong_counts_still_apply(files: Path, call_tool: CallTool) -> None:
    # Numbers point 5 lines off and the counts are wrong (a common model mistake).
    patch = "--- a/src/a.txt\n+++ b/src/a.txt\n@@ -12,9 +12,9 @@\n line 7\n-line 8\n+line eight\n line 9\n"
    await call_tool("apply_patch", patch=patch)
    assert "line 7\nline eight\nline 9\n" in (files / "src/a.txt").read_text()


async def test_whitespace_differences_in_context_are_tolerated(tool_root: Path, call_tool: CallTool) -> None:
    (tool_root / "m.py").write_text("def f():\n    a = 1\n    b = 2\n    return a\n")
    patch = "--- m.py\n+++ m.py\n@@ -1,4 +1,4 @@\n def f():\n  a = 1\n-  b = 2\n+    b = 3\n    return a\n"
    await call_tool("apply_patch", patch=patch)
    # Context lines keep the file's own indentation.
    assert (tool_root / "m.py").read_text() == "def f():\n    a = 1\n    b = 3\n    return a\n"


async def test_no_newline_at_end_of_file(tool_root: Path, call_tool: CallTool) -> None:
    (tool_root / "n.txt").write_text("a\nb")
    patch = (
        "--- a/n.txt\n+++ b/n.txt\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n"
    )
    await call_tool("apply_patch", patch=patch)
    assert (tool_root / "n.txt").read_text() == "a\nc\n"
    patch = "--- a/n.txt\n+++ b/n.txt\n@@ -1,2 +1,2 @@\n a\n-c\n+d\n\\ No newline at end of file\n"
    await call_tool("apply_patch", patch=patch)
    assert (tool_root / "n.txt").read_text() == "a\nd"


async def test_rename_with_changes(files: Path, call_tool: CallTool) -> None:
    patch = (
        "diff --git a/b.txt b/renamed.txt\nsimilarity index 80%\nrename from b.txt\nrename to renamed.txt\n"
        "--- a/b.txt\n+++ b/renamed.txt\n@@ -1,3 +1,3 @@\n alpha\n-beta\n+BETA\n gamma\n"
    )
    result = await call_tool("apply_patch", patch=patch)
    assert not (files / "b.txt").exists()
    assert (files / "renamed.txt").read_text() == "alpha\nBETA\ngamma\n"
    assert "R b.txt -> renamed.txt" in result.output


async def test_crlf_file_and_fenced_patch(tool_root: Path, call_tool: CallTool) -> None:
    (tool_root / "w.txt").write_bytes(b"x\r\ny\r\nz\r\n")
    patch = "```diff\n--- a/w.txt\n+++ b/w.txt\n@@ -1,3 +1,3 @@\n x\n-y\n+Y\n z\n```\n"
    await call_tool("apply_patch", patch=patch)
    assert (tool_root / "w.txt").read_bytes() == b"x\r\nY\r\nz\r\n"


async def test_patch_errors(files: Path, outside: Path, call_tool: CallTool) -> None:
    with pytest.raises(InvalidParams, match="no file changes found"):
        await call_tool("apply_patch", patch="just some text\n")
    with pytest.raises(ToolFailure, match="missing.txt does not exist"):
        await call_tool("apply_patch", patch="--- a/missing.txt\n+++ b/missing.txt\n@@ -1 +1 @@\n-a\n+b\n")
    with pytest.raises(ToolFailure, match="b.txt already exists"):
        await call_tool("apply_patch", patch="--- /dev/null\n+++ b/b.txt\n@@ -0,0 +1 @@\n+x\n")
    with pytest.raises(ToolFailure, match="deletion hunk does not list"):
        await call_tool("apply_patch", patch="--- a/b.txt\n+++ /dev/null\n@@ -1,1 +0,0 @@\n-alpha\n")
    escape = "--- a/../outside/secret.txt\n+++ b/../outside/secret.txt\n@@ -1 +1 @@\n-top secret\n+owned\n"
    with pytest.raises(WorkspaceEscape):
        await call_tool("apply_patch", patch=escape)
    create_outside = f"--- /dev/null\n+++ {outside}/evil.txt\n@@ -0,0 +1 @@\n+x\n"
    with pytest.raises(WorkspaceEscape):
        await call_tool("apply_patch", patch=create_outside)
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "top secret\n"


def test_normalize_patch_recounts_hunks() -> None:
    text = "--- a/x\n+++ b/x\n@@ -1,9 +1,9 @@\n a\n\n-b\n+c\n\n\n"
    assert normalize_patch(text) == "--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n \n-b\n+c\n"
    assert "@@ -1,1 +1,1 @@" in normalize_patch("--- a/x\n+++ b/x\n@@ @@\n-a\n+b\n")


def test_approval_subject_covers_every_file() -> None:
    from codetether.daemon.core.tools import default_registry

    tool = default_registry().get("apply_patch")
    assert tool is not None
    assert tool.approval_subject(tool.parse({"patch": MULTI})) == "."
    one = "--- a/src/x.py\n+++ b/src/x.py\n@@ -1 +1 @@\n-a\n+b\n"
    assert tool.approval_subject(tool.parse({"patch": one})) == "src/x.py"
