"""The built-in tool set."""

from __future__ import annotations

from ._limits import ShellLimits
from .base import Tool, ToolRegistry

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
    # The tools' modules load here, on the first run that needs its tools, not at start.
    from .a2a_delegate import A2ADelegateTool
    from .batch import BatchTool
    from .codesearch import CodeSearchTool
    from .edit import EditTool, MultiEditTool
    from .fs import ReadFileTool, WriteFileTool
    from .listing import GlobTool, ListDirTool
    from .patch import ApplyPatchTool
    from .search import GrepTool
    from .session_tools import PlanEnterTool, PlanExitTool, QuestionTool, TodoReadTool, TodoWriteTool
    from .shell import BashTool
    from .subagent import TaskTool
    from .web import WebFetchTool, WebSearchTool

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
    """A registry holding every built-in tool (see :func:`builtin_tools`), made on its first use."""
    return ToolRegistry(load=lambda: builtin_tools(shell_limits=shell_limits, http_transport=http_transport))
