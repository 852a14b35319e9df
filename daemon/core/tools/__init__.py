"""The agent's tools: the contract (``base``) and the built-in set (``builtin``).

Read-only tools (may run in parallel, allowed in plan mode): read_file, glob,
list_dir, grep, codesearch, todo_read, todo_write (session state only),
question, plan_enter, plan_exit, batch, task (its child's calls are each gated)
(which gates each sub-call itself). Everything else changes files, runs
commands, writes session state or talks to the network, and goes through
approval: write_file, edit, multiedit, apply_patch, bash, webfetch, a2a_delegate,
websearch.
"""

from ._limits import ShellLimits
from .base import (
    AskUser,
    Authorize,
    SubagentOutcome,
    Subagents,
    SubagentSpec,
    Tool,
    ToolContext,
    ToolRegistry,
    ToolResult,
    Workspace,
    struct_schema,
)
from .builtin import builtin_tools, default_registry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .subagent import TaskTool

__all__ = [
    "AskUser",
    "Authorize",
    "ShellLimits",
    "SubagentOutcome",
    "SubagentSpec",
    "Subagents",
    "TaskTool",
    "Tool",
    "ToolContext",
    "ToolRegistry",
    "ToolResult",
    "Workspace",
    "builtin_tools",
    "default_registry",
    "struct_schema",
]


def __getattr__(name: str) -> object:
    # TaskTool's module (with the tools it imports) loads with the built-in set, on first use.
    if name == "TaskTool":
        from .subagent import TaskTool

        return TaskTool
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
