"""The agent's tools: the contract (``base``) and the built-in set (``builtin``).

Read-only tools (may run in parallel, allowed in plan mode): read_file, glob,
list_dir, grep, codesearch, todo_read, todo_write (session state only),
question, plan_enter, plan_exit, batch
(which gates each sub-call itself). Everything else changes files, runs
commands, writes session state or talks to the network, and goes through
approval: write_file, edit, multiedit, apply_patch, bash, webfetch, a2a_delegate,
websearch.
"""

from .base import (
    AskUser,
    Authorize,
    Tool,
    ToolContext,
    ToolRegistry,
    ToolResult,
    Workspace,
)
from .builtin import builtin_tools, default_registry
from .shell import ShellLimits

__all__ = [
    "AskUser",
    "Authorize",
    "ShellLimits",
    "Tool",
    "ToolContext",
    "ToolRegistry",
    "ToolResult",
    "Workspace",
    "builtin_tools",
    "default_registry",
]
