"""The built-in tool set."""

from __future__ import annotations

from .a2a_delegate import A2ADelegateTool
from .base import Tool, ToolRegistry
from .batch import BatchTool
from .codesearch import CodeSearchTool
from .edit import EditTool, MultiEditTool
from .fs import ReadFileTool, WriteFileTool
from .listing import GlobTool, ListDirTool
from .patch import ApplyPatchTool
from .search import GrepTool
from .session_tools import (
    PlanEnterTool,
    PlanExitTool,
    QuestionTool,
    TodoReadTool,
    TodoWriteTool,
)
from .shell import BashTool, ShellLimits
from .subagent import TaskTool
from .web import WebFetchTool, WebSearchTool

__all__ = ["builtin_tools", "default_registry"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    import httpx


def builtin_tools(
    *,
    shell_limits: ShellLimits | None = None,
    http_transport: httpx.AsyncBaseTransport | None = None,
) -> list[Tool]:
    """A fresh instance of every built-in tool.

    ``shell_limits`` bounds the bash tool's commands; ``http_transport`` replaces
    the network for webfetch and websearch (tests pass ``httpx.MockTransport``).
    """
    return [
        ReadFileTool(),
        WriteFileTool(),
        EditTool(),
        MultiEditTool(),
        ApplyPatchTool(),
        GlobTool(),
        ListDirTool(),
        GrepTool(),
        CodeSearchTool(),
        BashTool(shell_limits),
        BatchTool(),
        TodoReadTool(),
        TodoWriteTool(),
        QuestionTool(),
        PlanEnterTool(),
        PlanExitTool(),
        WebFetchTool(http_transport),
        WebSearchTool(http_transport),
        A2ADelegateTool(),
        TaskTool(),
    ]


def default_registry(
    *,
    shell_limits: ShellLimits | None = None,
    http_transport: httpx.AsyncBaseTransport | None = None,
) -> ToolRegistry:
    """A registry holding every built-in tool (see :func:`builtin_tools`)."""
    return ToolRegistry(builtin_tools(shell_limits=shell_limits, http_transport=http_transport))
