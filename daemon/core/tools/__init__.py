"""The agent's tools: the contract (``base``) and the built-in set (``builtin``).

Read-only tools (may run in parallel, allowed in plan mode): read_file, glob,
list_dir, grep, codesearch, todo_read, todo_write (session state only),
question, plan_enter, plan_exit, batch, task (its child's calls are each gated)
(which gates each sub-call itself). Everything else changes files, runs
commands, writes session state or talks to the network, and goes through
approval: write_file, edit, multiedit, apply_patch, bash, webfetch, a2a_delegate,
websearch.
"""

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
from .shell import ShellLimits
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
