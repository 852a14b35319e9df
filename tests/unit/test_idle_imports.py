"""The lazy boundaries an idle daemon relies on (see tests/e2e/test_idle_imports.py): each
still works when first used, and loads its modules only then."""

from __future__ import annotations

import subprocess
import sys

import pytest
from codetether.daemon.core.tools import Tool, ToolContext, ToolRegistry, ToolResult


class _Echo(Tool):
    name = "echo"
    description = "says it back"

    async def run(self, args: object, ctx: ToolContext) -> ToolResult:
        return ToolResult("echo")


def _fresh(code: str) -> None:
    """Run ``code`` in a new interpreter (this one has imported everything already)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_a_lazy_registry_makes_its_tools_on_first_use_once() -> None:
    made: list[int] = []

    def load() -> list[Tool]:
        made.append(1)
        return [_Echo()]

    registry = ToolRegistry(load=load)
    assert made == []
    assert "echo" in registry and registry.names() == ["echo"] and len(registry) == 1
    assert [t.name for t in registry] == ["echo"] and registry.get("echo") is not None
    assert made == [1]
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(_Echo())  # the loaded tools count: a duplicate is still refused


def test_a_failed_load_is_tried_again() -> None:
    attempts: list[int] = []

    def load() -> list[Tool]:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("not yet")
        return [_Echo()]

    registry = ToolRegistry(load=load)
    with pytest.raises(OSError):
        registry.names()
    assert registry.names() == ["echo"] and len(attempts) == 2


def test_the_builtin_tools_load_with_the_registry_s_first_use() -> None:
    _fresh("""
import sys
from codetether.daemon.core.tools import ShellLimits, default_registry
registry = default_registry(shell_limits=ShellLimits(output_chars=10))
tools = "codetether.daemon.core.tools."
assert not [m for m in sys.modules if m.startswith(tools) and m[len(tools):] not in
            ("base", "builtin", "_limits")], sorted(m for m in sys.modules if m.startswith(tools))
assert {"bash", "apply_patch", "glob", "webfetch", "task"} <= set(registry.names())
assert registry.get("bash").limits.output_chars == 10
assert tools + "shell" in sys.modules and "pathspec" not in sys.modules
from codetether.daemon.core.tools import TaskTool
assert TaskTool.name == "task"
""")


def test_okr_measure_imports_httpx_only_for_url_evidence() -> None:
    _fresh("""
import sys
import codetether.daemon.core.okr
assert "httpx" not in sys.modules
""")
