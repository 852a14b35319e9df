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
