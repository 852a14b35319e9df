"""grep, glob, list_dir and codesearch."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from codetether.daemon.core.tools import ToolResult
from codetether.daemon.core.tools.listing import expand_braces
from codetether.daemon.errors import InvalidParams, ToolFailure, WorkspaceEscape

CallTool = Callable[..., Awaitable[ToolResult]]


@pytest.fixture
def tree(tool_root: Path) -> Path:
    files = {
        ".gitignore": "build/\n*.log\n!keep.log\n",
        "README.md": "# Demo\nTODO: write docs\n",
        "src/app.py": "import os\n\n\ndef main():\n    # TODO: parse args\n    return run()\n\n\ndef run():\n    return 0\n",
        "src/util.ts": "export function helper(x: number) {\n  return x // TODO\n}\n",
        "src/sub/.gitignore": "generated.py\n",
        "src/sub/generated.py": "TODO = 'generated'\n",
        "src/sub/kept.py": "value = 1\n",
        "build/out.py": "TODO = 'built'\n",
        "debug.log": "TODO in log\n",
        "keep.log": "TODO kept\n",
        ".git/config": "TODO in git\n",
    }
    for rel, text in files.items():
        path = tool_root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    # Distinct mtimes, newest last in this list.
    for age, rel in enumerate(["src/sub/kept.py", "README.md", "src/util.ts", "src/app.py"]):
        os.utime(tool_root / rel, (1_000_000 + age, 1_000_000 + age))
    return tool_root


async def test_grep_respects_gitignore(tree: Path, call_tool: CallTool) -> None:
    result = await call_tool("grep", pattern="TODO")
    assert result.output.splitlines() == [
        "README.md:",
        "  2: TODO: write docs",
        "keep.log:",
        "  1: TODO kept",
        "src/app.py:",
        "  5:     # TODO: parse args",
        "src/util.ts:",
        "  2:   return x // TODO",
    ]
    assert result.metadata == {"matches": 4, "files": 4, "truncated": False}


async def test_grep_include_context_and_files_mode(tree: Path, call_tool: CallTool) -> None:
    result = await call_tool("grep", pattern=r"def \w+", include="*.py", context=1)
    assert result.output.splitlines() == [
        "src/app.py:",
        "  3- ",
        "  4: def main():",
        "  5-     # TODO: parse args",
        "  --",
        "  8- ",
        "  9: def run():",
        "  10-     return 0",
    ]
    files = await call_tool("grep", pattern="todo", ignore_case=True, output="files", path="src")
    assert files.output.splitlines() == ["src/app.py", "src/util.ts"]


async def test_grep_limit_fixed_strings_and_no_match(tree: Path, call_tool: CallTool) -> None:
    limited = await call_tool("grep", pattern="TODO", limit=2)
    assert limited.metadata["truncated"] is True and limited.metadata["matches"] == 2
    assert "[stopped at 2 matches" in limited.output
    fixed = await call_tool("grep", pattern="run()", fixed_strings=True)
    assert fixed.metadata["matches"] == 2 and "  9: def run():" in fixed.output
    with pytest.raises(InvalidParams):
        await call_tool("grep", pattern="run(", fixed_strings=False)
    none = await call_tool("grep", pattern="nothing-here")
    assert none.output == "No matches for 'nothing-here' in the workspace."


async def test_grep_errors(tree: Path, call_tool: CallTool) -> None:
    with pytest.raises(InvalidParams, match="invalid regular expression"):
        await call_tool("grep", pattern="(unclosed")
    with pytest.raises(WorkspaceEscape):
        await call_tool("grep", pattern="secret", path="../outside")
    with pytest.raises(ToolFailure, match="no such file or directory: nope"):
        await call_tool("grep", pattern="x", path="nope")


async def test_grep_does_not_follow_symlinks_out(tree: Path, outside: Path, call_tool: CallTool) -> None:
    os.symlink(outside, tree / "src" / "link")
    result = await call_tool("grep", pattern="top secret")
    assert result.metadata["matches"] == 0


async def test_glob_sorted_by_mtime_and_gitignore_aware(tree: Path, call_tool: CallTool) -> None:
    result = await call_tool("glob", pattern="**/*.{py,ts}")
    assert result.output.splitlines() == ["src/app.py", "src/util.ts", "src/sub/kept.py"]
    logs = await call_tool("glob", pattern="*.log")
    assert logs.output == "keep.log"
    anchored = await call_tool("glob", pattern="*.py", path="src")
    assert anchored.output.splitlines() == ["src/app.py", "src/sub/kept.py"]
    only_top = await call_tool("glob", pattern="/*.py", path="src")
    assert only_top.output == "src/app.py"


async def test_glob_limit_and_errors(tree: Path, call_tool: CallTool) -> None:
    result = await call_tool("glob", pattern="**/*", limit=2)
    assert "[showing 2 of" in result.output
    assert result.metadata["truncated"] is True
    none = await call_tool("glob", pattern="*.rs")
    assert none.output == "No files match '*.rs' under .."
    with pytest.raises(InvalidParams, match="may not contain"):
        await call_tool("glob", pattern="../*")
    with pytest.raises(WorkspaceEscape):
        await call_tool("glob", pattern="*", path="..")
    with pytest.raises(ToolFailure, match="is a file"):
        await call_tool("glob", pattern="*", path="README.md")


def test_expand_braces() -> None:
    assert expand_braces("src/*.{js,ts}") == ["src/*.js", "src/*.ts"]
    assert expand_braces("{a,b}/{c,d}") == ["a/c", "a/d", "b/c", "b/d"]
    assert expand_braces("plain/*.py") == ["plain/*.py"]


async def test_list_dir_tree(tree: Path, call_tool: CallTool) -> None:
    result = await call_tool("list_dir")
    assert result.output.splitlines() == [
        "ws/ (workspace root)",
        "  .gitignore",
        "  README.md",
        "  keep.log",
        "  src/",
        "    app.py",
        "    sub/",
        "    util.ts",
    ]
    deep = await call_tool("list_dir", path="src", depth=3, ignore=["*.ts"])
    assert deep.output.splitlines() == [
        "src/", "  app.py", "  sub/", "    .gitignore", "    kept.py",
    ]


async def test_list_dir_limit_symlinks_and_errors(tree: Path, outside: Path, call_tool: CallTool) -> None:
    os.symlink(outside, tree / "ext")
    result = await call_tool("list_dir", depth=1)
    assert f"  ext -> {outside}" in result.output.splitlines()
    capped = await call_tool("list_dir", depth=5, limit=3)
    assert len(capped.output.splitlines()) == 5 and "[stopped after 3 entries" in capped.output
    with pytest.raises(WorkspaceEscape):
        await call_tool("list_dir", path="ext")
    with pytest.raises(ToolFailure, match="no such directory"):
        await call_tool("list_dir", path="missing")


CODE = {
    "pkg/config.py": (
        "import os\n\nDEFAULT_CONFIG = {}\n\n\nclass ConfigLoader:\n    def load_config(self, path):\n"
        "        return parse_config(path)\n\n\ndef parse_config(text):\n    return {}\n\n\n"
        "async def parse_config_async(text):\n    return parse_config(text)\n"
    ),
    "tests/test_config.py": "def parse_config(text):\n    return None\n",
    "web/app.ts": (
        "export interface ParseConfigOptions { strict: boolean }\n"
        "export const parseConfig = (text: string) => ({})\n"
        "export class ConfigService {\n  loadConfig(path: string): Config {\n    return parseConfig(path)\n  }\n}\n"
        "export type Config = Record<string, string>\n"
    ),
    "cmd/main.go": (
        "package main\n\ntype Config struct {\n\tName string\n}\n\n"
        "func (c *Config) ParseConfig(b []byte) error {\n\treturn nil\n}\n\nfunc main() {}\n"
    ),
    "src/lib.rs": (
        "pub struct Config {\n    name: String,\n}\n\nimpl Config {\n    pub fn parse_config(s: &str) -> Self {\n"
        "        todo!()\n    }\n}\n\npub(crate) async fn load() {}\n"
        "extern \"C\" fn parse_config_c() {}\n"
    ),
    "native/cfg.c": "#define CONFIG_MAX 10\n\nstatic int parse_config(const char *s)\n{\n    return 0;\n}\n\nint x = parse_config(\"a\");\n",
}


@pytest.fixture
def code(tool_root: Path) -> Path:
    for rel, text in CODE.items():
        path = tool_root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tool_root


async def test_codesearch_ranks_exact_definitions_first(code: Path, call_tool: CallTool) -> None:
    result = await call_tool("codesearch", query="parse_config")
    hits = [(r["path"], r["kind"], r["name"]) for r in result.metadata["results"]]
    exact = {("pkg/config.py", "function", "parse_config"), ("native/cfg.c", "function", "parse_config"),
             ("src/lib.rs", "function", "parse_config")}
    assert set(hits[:3]) == exact
    assert ("tests/test_config.py", "function", "parse_config") in hits[3:]  # tests rank lower
    # Calls and usages are not definitions.
    assert all("return parse_config" not in line for line in result.output.splitlines())
    assert "int x = parse_config" not in result.output
    assert "pkg/config.py:11  [function] parse_config\n    def parse_config(text):" in result.output


async def test_codesearch_languages_and_kinds(code: Path, call_tool: CallTool) -> None:
    result = await call_tool("codesearch", query="config", limit=100)
    found = {(r["path"], r["kind"], r["name"]) for r in result.metadata["results"]}
    assert {
        ("pkg/config.py", "class", "ConfigLoader"),
        ("pkg/config.py", "method", "load_config"),
        ("pkg/config.py", "variable", "DEFAULT_CONFIG"),
        ("web/app.ts", "interface", "ParseConfigOptions"),
        ("web/app.ts", "function", "parseConfig"),
        ("web/app.ts", "class", "ConfigService"),
        ("web/app.ts", "method", "loadConfig"),
        ("web/app.ts", "type", "Config"),
        ("cmd/main.go", "struct", "Config"),
        ("cmd/main.go", "method", "ParseConfig"),
        ("src/lib.rs", "struct", "Config"),
        ("src/lib.rs", "impl", "Config"),
        ("src/lib.rs", "function", "parse_config_c"),
        ("native/cfg.c", "macro", "CONFIG_MAX"),
    } <= found
    classes = await call_tool("codesearch", query="Config", kind="class", language="go")
    assert [(r["path"], r["kind"]) for r in classes.metadata["results"]] == [("cmd/main.go", "struct")]
    exact = await call_tool("codesearch", query="Config", exact=True)
    assert {r["name"] for r in exact.metadata["results"]} == {"Config"}
    assert exact.metadata["results"][0]["kind"] in {"struct", "type"}


async def test_codesearch_qualified_query_and_errors(code: Path, call_tool: CallTool) -> None:
    result = await call_tool("codesearch", query="ConfigLoader.load_config")
    assert result.metadata["results"][0]["name"] == "load_config"
    with pytest.raises(InvalidParams, match="not a symbol name"):
        await call_tool("codesearch", query="load config")
    none = await call_tool("codesearch", query="nonexistent_symbol")
    assert none.output.startswith("No definitions matching 'nonexistent_symbol' found in the workspace.")
    with pytest.raises(WorkspaceEscape):
        await call_tool("codesearch", query="x", path="/etc")
