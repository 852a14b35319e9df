"""edit and multiedit."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from codetether.daemon.core.tools import ToolContext, ToolResult
from codetether.daemon.errors import InvalidParams, ToolFailure, WorkspaceEscape

CallTool = Callable[..., Awaitable[ToolResult]]

SOURCE = """\
class Greeter:
    def hello(self):
        return "hello"

    def bye(self):
        return "bye"
"""


@pytest.fixture
def module(tool_root: Path) -> Path:
    path = tool_root / "greet.py"
    path.write_text(SOURCE)
    return path


async def test_exact_edit(module: Path, call_tool: CallTool) -> None:
    result = await call_tool("edit", path="greet.py", old_string='return "hello"', new_string='return "hi"')
    assert module.read_text() == SOURCE.replace('"hello"', '"hi"')
    assert result.metadata["match"] == {"path": "greet.py", "strategy": "exact", "count": 1, "lines": [3]}
    assert result.metadata["files_affected"] == ["greet.py"]
    change = result.metadata["changes"][0]
    assert change["kind"] == "modify" and (change["additions"], change["deletions"]) == (1, 1)
    assert '-        return "hello"\n+        return "hi"\n' in change["diff"]
    assert "Edited greet.py: 1 replacement at line 3." in result.output
    assert '     3\t        return "hi"' in result.output


async def test_ambiguous_match_is_refused_unless_replace_all(module: Path, call_tool: CallTool) -> None:
    with pytest.raises(ToolFailure, match=r"occurs 2 times in greet.py \(at lines 2, 5\).*replace_all"):
        await call_tool("edit", path="greet.py", old_string="def ", new_string="async def ")
    assert module.read_text() == SOURCE
    result = await call_tool("edit", path="greet.py", old_string="def ", new_string="async def ", replace_all=True)
    assert module.read_text().count("async def ") == 2
    assert result.metadata["match"]["count"] == 2


async def test_not_found_points_at_the_closest_text(module: Path, call_tool: CallTool) -> None:
    with pytest.raises(ToolFailure) as info:
        await call_tool("edit", path="greet.py", old_string='def hello(self):\n    return "helo"', new_string="x")
    message = info.value.message
    assert "old_string was not found in greet.py" in message
    assert "is at line 2" in message and '     3\t        return "hello"' in message
    assert module.read_text() == SOURCE


async def test_whitespace_tolerant_match_reindents(module: Path, call_tool: CallTool) -> None:
    # Quoted without the class-level indentation and with trailing spaces.
    old = 'def bye(self):  \n    return "bye"\n'
    new = 'def bye(self, name):\n    if name:\n        return f"bye {name}"\n    return "bye"\n'
    result = await call_tool("edit", path="greet.py", old_string=old, new_string=new)
    assert module.read_text() == SOURCE.replace(
        '    def bye(self):\n        return "bye"\n',
        '    def bye(self, name):\n        if name:\n            return f"bye {name}"\n        return "bye"\n',
    )
    assert result.metadata["match"]["strategy"] == "whitespace"
    assert "matched ignoring whitespace" in result.output


async def test_whitespace_tolerant_match_can_be_ambiguous(tool_root: Path, call_tool: CallTool) -> None:
    (tool_root / "a.py").write_text("if a:\n    x = 1\nif b:\n        x = 1\n")
    with pytest.raises(ToolFailure, match="occurs 2 times"):
        await call_tool("edit", path="a.py", old_string="  x = 1 ", new_string="x = 2")


async def test_crlf_files_keep_their_line_endings(tool_root: Path, call_tool: CallTool) -> None:
    path = tool_root / "win.txt"
    path.write_bytes(b"one\r\ntwo\r\nthree\r\n")
    await call_tool("edit", path="win.txt", old_string="one\ntwo", new_string="one\n2\n2b")
    assert path.read_bytes() == b"one\r\n2\r\n2b\r\nthree\r\n"


async def test_empty_old_string_creates_a_file(tool_root: Path, call_tool: CallTool, module: Path) -> None:
    result = await call_tool("edit", path="pkg/new.py", old_string="", new_string="x = 1\n")
    assert (tool_root / "pkg/new.py").read_text() == "x = 1\n"
    assert result.metadata["changes"][0]["kind"] == "create"
    with pytest.raises(ToolFailure, match="already has content"):
        await call_tool("edit", path="greet.py", old_string="", new_string="x")


async def test_edit_errors(module: Path, call_tool: CallTool, tool_ctx: ToolContext) -> None:
    with pytest.raises(InvalidParams, match="identical"):
        await call_tool("edit", path="greet.py", old_string="bye", new_string="bye")
    with pytest.raises(ToolFailure, match="no such file: nope.py"):
        await call_tool("edit", path="nope.py", old_string="a", new_string="b")
    with pytest.raises(WorkspaceEscape):
        await call_tool("edit", path="../outside/secret.txt", old_string="top", new_string="x")
    tool_ctx.state["plan_mode"] = True
    with pytest.raises(ToolFailure, match="plan mode"):
        await call_tool("edit", path="greet.py", old_string="bye", new_string="ciao")
    assert module.read_text() == SOURCE


async def test_edit_through_symlink_outside_is_refused(
    tool_root: Path, outside: Path, call_tool: CallTool
) -> None:
    os.symlink(outside / "secret.txt", tool_root / "s.txt")
    with pytest.raises(WorkspaceEscape):
        await call_tool("edit", path="s.txt", old_string="top", new_string="no")
    assert (outside / "secret.txt").read_text() == "top secret\n"


async def test_edit_applies_to_the_unsaved_buffer(
    module: Path, tool_ctx: ToolContext, call_tool: CallTool
) -> None:
    tool_ctx.read_override = lambda p: "buffer text\n" if p == module else None
    await call_tool("edit", path="greet.py", old_string="buffer", new_string="edited")
    assert module.read_text() == "edited text\n"


async def test_multiedit_across_files(module: Path, tool_root: Path, call_tool: CallTool) -> None:
    (tool_root / "b.txt").write_text("alpha\nbeta\n")
    result = await call_tool(
        "multiedit",
        edits=[
            {"path": "greet.py", "old_string": "hello", "new_string": "hi", "replace_all": True},
            {"path": "b.txt", "old_string": "beta", "new_string": "gamma"},
            {"path": "b.txt", "old_string": "gamma", "new_string": "delta"},  # sees the previous edit
        ],
    )
    assert "hello" not in module.read_text()
    assert (tool_root / "b.txt").read_text() == "alpha\ndelta\n"
    assert result.metadata["files_affected"] == ["greet.py", "b.txt"]
    assert [e["count"] for e in result.metadata["edits"]] == [2, 1, 1]


async def test_multiedit_is_atomic_when_an_edit_fails(module: Path, tool_root: Path, call_tool: CallTool) -> None:
    (tool_root / "b.txt").write_text("alpha\n")
    with pytest.raises(ToolFailure) as info:
        await call_tool(
            "multiedit",
            edits=[
                {"path": "greet.py", "old_string": "hello", "new_string": "hi", "replace_all": True},
                {"path": "b.txt", "old_string": "missing", "new_string": "x"},
            ],
        )
    assert info.value.message.startswith("edit 2 of 2 (b.txt) failed: old_string was not found")
    assert "No file was changed" in info.value.message
    assert info.value.data == {"edit_index": 1, "path": "b.txt"}
    assert module.read_text() == SOURCE
    assert (tool_root / "b.txt").read_text() == "alpha\n"


async def test_multiedit_restores_files_when_a_write_fails(
    module: Path, tool_root: Path, call_tool: CallTool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from codetether.daemon.core.tools import _util

    real = _util.atomic_write
    calls: list[Path] = []

    def flaky(path: Path, data: bytes, mode: int | None = None) -> None:
        calls.append(path)
        if path.name == "b.txt" and len(calls) == 2:
            raise OSError(5, "Input/output error")
        real(path, data, mode)

    monkeypatch.setattr(_util, "atomic_write", flaky)
    (tool_root / "b.txt").write_text("alpha\n")
    with pytest.raises(ToolFailure, match="writing b.txt failed: Input/output error; no file was changed"):
        await call_tool(
            "multiedit",
            edits=[
                {"path": "greet.py", "old_string": "hello", "new_string": "hi", "replace_all": True},
                {"path": "b.txt", "old_string": "alpha", "new_string": "beta"},
                {"path": "new/c.txt", "old_string": "", "new_string": "c"},
            ],
        )
    assert module.read_text() == SOURCE  # restored
    assert (tool_root / "b.txt").read_text() == "alpha\n"
    assert not (tool_root / "new").exists()


async def test_multiedit_escape_refuses_everything(module: Path, call_tool: CallTool) -> None:
    with pytest.raises(WorkspaceEscape):
        await call_tool(
            "multiedit",
            edits=[
                {"path": "greet.py", "old_string": "hello", "new_string": "hi", "replace_all": True},
                {"path": "../outside/secret.txt", "old_string": "top", "new_string": "x"},
            ],
        )
    assert module.read_text() == SOURCE


@pytest.mark.parametrize(
    ("paths", "subject"),
    [
        (["src/a.py", "src/a.py"], "src/a.py"),
        (["src/a.py", "src/sub/b.py"], "src"),
        (["src/a.py", "secrets/key"], "."),
    ],
)
def test_multiedit_approval_subject_covers_every_path(paths: list[str], subject: str) -> None:
    from codetether.daemon.core.tools import default_registry

    tool = default_registry().get("multiedit")
    assert tool is not None
    args = tool.parse({"edits": [{"path": p, "old_string": "x", "new_string": "y"} for p in paths]})
    assert tool.approval_subject(args) == subject
