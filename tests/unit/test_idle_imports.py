"""The lazy boundaries an idle daemon relies on (see tests/e2e/test_idle_imports.py): each
still works when first used, and loads its modules only then."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from codetether.daemon.api import API, Method, build_api
from codetether.daemon.core.tools import Tool, ToolContext, ToolRegistry, ToolResult
from codetether.daemon.errors import MethodNotFound


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


def _method(name: str) -> Method:
    async def handler(params: Any, ctx: Any) -> None:
        """Answers nothing."""

    return Method(name, handler, dict, type(None))


def test_a_lazy_domain_loads_on_the_first_lookup_of_any_of_its_names() -> None:
    loads: list[int] = []

    def load() -> list[Method]:
        loads.append(1)
        return [_method("x/a"), _method("x/b")]

    table = API()
    table.add(_method("eager/one"))
    table.add_lazy(("x/a", "x/b"), load)
    assert table.methods() == ["eager/one", "x/a", "x/b"] and loads == []
    assert table.method("x/b").name == "x/b" and table.method("x/a").name == "x/a"
    assert loads == [1] and table.methods() == ["eager/one", "x/a", "x/b"]
    with pytest.raises(MethodNotFound):
        table.method("x/c")
    with pytest.raises(ValueError, match="registered twice"):
        table.add_lazy(("eager/one",), load)
    table.add_lazy(("y/a",), load)
    with pytest.raises(ValueError, match="registered twice"):
        table.add(_method("y/a"))


def test_a_lazy_domain_must_serve_what_it_declared_and_a_failed_load_is_retried() -> None:
    attempts: list[int] = []

    def flaky() -> list[Method]:
        attempts.append(1)
        if len(attempts) == 1:
            raise ImportError("not yet")
        return [_method("x/a")]

    table = API()
    table.add_lazy(("x/a",), flaky)
    with pytest.raises(ImportError):
        table.method("x/a")
    assert table.method("x/a").name == "x/a" and len(attempts) == 2

    table.add_lazy(("z/a", "z/b"), lambda: [_method("z/a")])
    with pytest.raises(RuntimeError, match="declared"):
        table.method("z/a")


async def test_every_lazy_domain_declares_exactly_its_methods(tmp_path: Path, scripted_app: Any) -> None:
    from codetether.daemon import api as api_pkg

    app = scripted_app(tmp_path / "home", [])
    try:
        table = build_api(app)
        for class_name, (module, names) in api_pkg._LAZY.items():
            cls = getattr(api_pkg, class_name)
            assert cls.__module__ == api_pkg.__name__ + module and cls.__name__ == class_name
            assert sorted(m.name for m in cls(app).methods()) == sorted(names), class_name
            assert all(table.method(n).name == n for n in names)
    finally:
        await app.aclose()


def test_the_api_package_imports_no_lazy_domain() -> None:
    _fresh("""
import sys
import codetether.daemon.api as api
lazy = ["agents", "bus", "cluster", "conveniences", "peers", "swarm", "undo"]
assert not [m for m in lazy if "codetether.daemon.api." + m in sys.modules]
assert "codetether.daemon.core.cluster" not in sys.modules and "codetether.daemon.core.peers" not in sys.modules
assert api.SwarmAPI.__name__ == "SwarmAPI" and "codetether.daemon.api.swarm" in sys.modules
""")


def test_a_registry_given_tools_and_a_loader_makes_the_lazy_ones_on_first_use() -> None:
    made: list[int] = []

    class _Other(_Echo):
        name = "other"

    def load() -> list[Tool]:
        made.append(1)
        return [_Other()]

    registry = ToolRegistry([_Echo()], load=load)
    assert made == []
    assert registry.names() == ["echo", "other"] and made == [1]
