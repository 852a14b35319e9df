"""Fixtures for the tool tests: a temp workspace, a context and a way to call tools
the way the agent loop does (parse the model's arguments, then run)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from codetether.daemon.core.tools import ToolContext, ToolResult, Workspace, default_registry

CallTool = Callable[..., Awaitable[ToolResult]]


@pytest.fixture
def tool_root(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the workspace that no tool may touch."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "secret.txt").write_text("top secret\n")
    return path


@pytest.fixture
def tool_ctx(tool_root: Path) -> ToolContext:
    return ToolContext(
        workspace=Workspace(tool_root),
        session_id="session-1",
        call_id="call-1",
        registry=default_registry(),
    )


@pytest.fixture
def call_tool(tool_ctx: ToolContext) -> CallTool:
    async def call(name: str, **arguments: Any) -> ToolResult:
        assert tool_ctx.registry is not None
        tool = tool_ctx.registry.get(name)
        assert tool is not None, name
        return await tool.run(tool.parse(arguments), tool_ctx)

    return call


MakeApp = Callable[..., Any]


@pytest.fixture
def scripted_app() -> MakeApp:
    """``scripted_app(home, turns, *, fallback=None, config="")``: an App under ``home``
    (CODETETHER_HOME) whose default model is the scripted provider playing ``turns``;
    ``config`` is appended to its config.toml. The caller closes it (``await app.aclose()``)."""
    import json

    from codetether.daemon.app import App
    from codetether.daemon.core.config import load_config
    from codetether.daemon.core.providers import ModelResolver
    from codetether.daemon.core.secrets import SecretStore
    from codetether.daemon.paths import get_paths

    def make(home: Path, turns: list[Any], *, fallback: str | None = None, config: str = "") -> App:
        script = home.parent / f"script-{home.name}.json"
        script.write_text(json.dumps({"turns": turns, **({"fallback": fallback} if fallback else {})}))
        config_file = home / "config" / "config.toml"
        config_file.parent.mkdir(parents=True, exist_ok=True)
        config_file.write_text(f'[default]\nprovider = "scripted"\nmodel = "scripted"\n\n'
                               f'[providers.scripted]\nscript = "{script}"\n\n{config}')
        paths = get_paths({"CODETETHER_HOME": str(home)})
        loaded = load_config(paths.config_file)
        return App(paths, loaded, ModelResolver(loaded.config, SecretStore(loaded.config.secrets)))

    return make


def git(repo: Path, *args: str) -> str:
    """``git -C repo args``: its stdout (a failure fails the test)."""
    import subprocess

    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with one commit (README), on branch main, with an identity."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "t")
    (root / "README").write_text("base\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    return root
