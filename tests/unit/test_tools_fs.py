"""read_file and write_file."""

from __future__ import annotations

import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from codetether.daemon.core.tools import ToolContext, ToolResult
from codetether.daemon.errors import InvalidParams, ToolFailure, WorkspaceEscape

CallTool = Callable[..., Awaitable[ToolResult]]


async def test_read_file_numbers_lines_like_cat_n(tool_root: Path, call_tool: CallTool) -> None:
    (tool_root / "a.py").write_text("first\nsecond\n")
    result = await call_tool("read_file", path="a.py")
    assert result.output == "     1\tfirst\n     2\tsecond"
    assert result.metadata == {
        "path": "a.py", "source": "disk", "total_lines": 2, "lines": [1, 2], "truncated": False,
    }


async def test_read_file_window_and_continuation_note(tool_root: Path, call_tool: CallTool) -> None:
    (tool_root / "big.txt").write_text("".join(f"line {i}\n" for i in range(1, 101)))
    result = await call_tool("read_file", path="big.txt", offset=10, limit=5)
    assert result.output.splitlines()[0] == "    10\tline 10"
    assert "    14\tline 14" in result.output and "line 15" not in result.output
    assert "[showing lines 10-14 of 100; read on with offset=15]" in result.output
    assert result.metadata["truncated"] is True


async def test_read_file_caps_long_lines_and_huge_output(tool_root: Path, call_tool: CallTool) -> None:
    (tool_root / "wide.txt").write_text("x" * 5000 + "\n" + ("y" * 1000 + "\n") * 1500)
    result = await call_tool("read_file", path="wide.txt")
    first = result.output.splitlines()[0]
    assert "line cut, 3000 more characters" in first
    assert len(result.output) < 110_000
    assert "read on with offset=" in result.output


async def test_read_file_refuses_binary_and_directories(tool_root: Path, call_tool: CallTool) -> None:
    (tool_root / "img.bin").write_bytes(b"\x89PNG\x00\x00\x01")
    with pytest.raises(ToolFailure, match="binary"):
        await call_tool("read_file", path="img.bin")
    (tool_root / "d").mkdir()
    with pytest.raises(ToolFailure, match="is a directory; use list_dir"):
        await call_tool("read_file", path="d")


async def test_read_file_missing_suggests_close_names(tool_root: Path, call_tool: CallTool) -> None:
    (tool_root / "config.toml").write_text("x = 1\n")
    with pytest.raises(ToolFailure, match=r"no such file: confg.toml \(did you mean: config.toml\?\)"):
        await call_tool("read_file", path="confg.toml")


async def test_read_file_empty_and_past_end(tool_root: Path, call_tool: CallTool) -> None:
    (tool_root / "empty").write_text("")
    assert (await call_tool("read_file", path="empty")).output == "(empty is empty)"
    (tool_root / "two").write_text("a\nb\n")
    with pytest.raises(ToolFailure, match="offset 5 is past the end of two, which has 2 lines"):
        await call_tool("read_file", path="two", offset=5)


async def test_read_file_keeps_undecodable_bytes_readable(tool_root: Path, call_tool: CallTool) -> None:
    (tool_root / "latin.txt").write_bytes(b"caf\xe9\r\n")
    result = await call_tool("read_file", path="latin.txt")
    assert result.output == "     1\tcaf\ufffd"


async def test_read_file_hooks_and_unsaved_buffers(
    tool_root: Path, tool_ctx: ToolContext, call_tool: CallTool
) -> None:
    (tool_root / "a.py").write_text("on disk\n")
    seen: list[Path] = []
    tool_ctx.on_file_read = seen.append
    tool_ctx.read_override = lambda p: "unsaved\nbuffer\n" if p.name == "a.py" else None
    result = await call_tool("read_file", path="a.py")
    assert result.output == "     1\tunsaved\n     2\tbuffer"
    assert result.metadata["source"] == "buffer"
    assert seen == [tool_root / "a.py"]


@pytest.mark.parametrize("tool", ["read_file", "write_file"])
async def test_escapes_are_refused(
    tool: str, tool_root: Path, outside: Path, call_tool: CallTool
) -> None:
    os.symlink(outside, tool_root / "link")
    os.symlink(outside / "secret.txt", tool_root / "secret-link")
    extra = {"content": "pwned\n"} if tool == "write_file" else {}
    for path in ("../outside/secret.txt", str(outside / "secret.txt"), "link/secret.txt", "secret-link"):
        with pytest.raises(WorkspaceEscape):
            await call_tool(tool, path=path, **extra)
    with pytest.raises(WorkspaceEscape):
        await call_tool(tool, path="link/new.txt", **extra)
    assert (outside / "secret.txt").read_text() == "top secret\n"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


async def test_write_file_creates_parents(tool_root: Path, call_tool: CallTool) -> None:
    result = await call_tool("write_file", path="src/pkg/mod.py", content="x = 1\ny = 2\n")
    assert (tool_root / "src/pkg/mod.py").read_text() == "x = 1\ny = 2\n"
    assert result.output == "Created src/pkg/mod.py (2 lines)."
    assert result.metadata["files_affected"] == ["src/pkg/mod.py"]
    change = result.metadata["changes"][0]
    assert change["kind"] == "create" and change["additions"] == 2 and change["deletions"] == 0
    assert change["diff"].startswith("--- /dev/null\n+++ b/src/pkg/mod.py\n")


async def test_write_file_overwrites_atomically_keeping_mode(tool_root: Path, call_tool: CallTool) -> None:
    script = tool_root / "run.sh"
    script.write_text("echo old\n")
    script.chmod(0o751)
    inode = script.stat().st_ino
    result = await call_tool("write_file", path="run.sh", content="echo new\n")
    assert script.read_text() == "echo new\n"
    assert stat.S_IMODE(script.stat().st_mode) == 0o751
    assert script.stat().st_ino != inode  # replaced, not rewritten in place
    assert [p.name for p in tool_root.iterdir()] == ["run.sh"]  # no temp file left
    assert result.metadata["changes"][0]["kind"] == "modify"
    assert "-echo old\n+echo new\n" in result.metadata["changes"][0]["diff"]
    assert "+1 -1" in result.output


async def test_write_file_refuses_directories_and_plan_mode(
    tool_root: Path, tool_ctx: ToolContext, call_tool: CallTool
) -> None:
    (tool_root / "d").mkdir()
    with pytest.raises(ToolFailure, match="is a directory"):
        await call_tool("write_file", path="d", content="")
    with pytest.raises(InvalidParams):
        await call_tool("write_file", path="", content="")
    tool_ctx.state["plan_mode"] = True
    with pytest.raises(ToolFailure, match="plan mode is active"):
        await call_tool("write_file", path="new.txt", content="x")
    assert not (tool_root / "new.txt").exists()


async def test_write_file_failure_leaves_nothing_behind(
    tool_root: Path, call_tool: CallTool, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("codetether.daemon.core.tools._util.atomic_write", broken)
    with pytest.raises(ToolFailure, match="writing a/b/c.txt failed: No space left on device; no file was changed"):
        await call_tool("write_file", path="a/b/c.txt", content="x")
    assert list(tool_root.iterdir()) == []


async def test_special_files_are_refused_without_blocking(tool_root: Path, call_tool: CallTool) -> None:
    os.mkfifo(tool_root / "pipe")
    with pytest.raises(ToolFailure, match="not a regular file"):
        await call_tool("read_file", path="pipe")
    with pytest.raises(ToolFailure, match="not a regular file"):
        await call_tool("write_file", path="pipe", content="x")
    with pytest.raises(ToolFailure, match="not a regular file"):
        await call_tool("edit", path="pipe", old_string="a", new_string="b")


async def test_overwriting_an_empty_file_is_a_modification(tool_root: Path, call_tool: CallTool) -> None:
    (tool_root / "empty.txt").write_text("")
    result = await call_tool("write_file", path="empty.txt", content="now\n")
    change = result.metadata["changes"][0]
    assert change["kind"] == "modify"
    assert change["diff"].startswith("--- a/empty.txt\n+++ b/empty.txt\n")
