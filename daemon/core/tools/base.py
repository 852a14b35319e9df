"""The tool contract, the tool registry, and workspace confinement.

A tool declares its parameters as a msgspec Struct; the JSON Schema offered to the
model is derived from that Struct, and the model's arguments are validated by
decoding into it, so schema and validation can never drift apart.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import msgspec

from ...errors import InvalidParams, ToolFailure, WorkspaceEscape

__all__ = [
    "Tool",
    "ToolContext",
    "ToolRegistry",
    "ToolResult",
    "Workspace",
]


class Workspace:
    """A session's workspace root; every file tool resolves paths through it.

    ``..`` components and symlinks that lead outside the root are refused with
    :class:`WorkspaceEscape`. The root itself is resolved once (it may be a symlink).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve(strict=True)

    def resolve(self, path: str, *, must_exist: bool = False) -> Path:
        if not path:
            raise InvalidParams("path must not be empty")
        candidate = Path(path)
        if not candidate.is_absolute():
            candidate = self.root / candidate
        # resolve() follows every symlink that exists, so a link pointing outside
        # is caught here just like a literal "../".
        resolved = candidate.resolve(strict=False)
        if resolved != self.root and self.root not in resolved.parents:
            raise WorkspaceEscape(
                f"path {path!r} resolves outside the workspace {str(self.root)!r}",
                data={"path": path, "workspace": str(self.root)},
            )
        if must_exist and not resolved.exists():
            raise ToolFailure(f"no such file or directory: {self.relative(resolved)}")
        return resolved

    def relative(self, path: Path) -> str:
        try:
            rel = path.relative_to(self.root)
        except ValueError:
            return str(path)
        return str(rel) or "."


@dataclass(slots=True)
class ToolResult:
    output: str
    is_error: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)


# ask_user(question, options) -> answer; supplied by the session so the `question`
# tool can reach whichever client is attached.
AskUser = Callable[[str, list[str]], Awaitable[str]]


@dataclass(slots=True)
class ToolContext:
    """What a running tool may touch. One per tool call."""

    workspace: Workspace
    session_id: str
    call_id: str = ""
    ask_user: AskUser | None = None
    # Session-scoped state the todo and plan tools read and write; the session
    # persists it after each tool call.
    state: dict[str, Any] = field(default_factory=dict)
    # Files read in this session (absolute path -> mtime), watched for changes.
    on_file_read: Callable[[Path], None] | None = None
    # Buffer-true reads for editor sessions: returns unsaved text or None.
    read_override: Callable[[Path], str | None] | None = None
    registry: ToolRegistry | None = None  # for `batch`
    started: float = field(default_factory=time.monotonic)

    @property
    def plan_mode(self) -> bool:
        return bool(self.state.get("plan_mode"))


class Tool:
    """Base class. Subclasses set the class attributes and implement ``run``."""

    name: ClassVar[str]
    description: ClassVar[str]
    params: ClassVar[type[msgspec.Struct]]
    #: Read-only tools may run in parallel, are allowed in plan mode and by default.
    read_only: ClassVar[bool] = False

    def schema(self) -> dict[str, Any]:
        return _schema_for(self.params)

    def parse(self, arguments: str | bytes | dict[str, Any]) -> msgspec.Struct:
        """Validate the model's arguments; raise InvalidParams with a precise message."""
        try:
            if isinstance(arguments, dict):
                return msgspec.convert(arguments, self.params)
            return msgspec.json.decode(arguments or b"{}", type=self.params)
        except msgspec.DecodeError as exc:
            raise InvalidParams(f"{self.name}: malformed arguments: {exc}") from exc
        except msgspec.ValidationError as exc:
            raise InvalidParams(f"{self.name}: {exc}") from exc

    def approval_subject(self, args: Any) -> str:
        """The string policy patterns match against: a path, a command, a URL."""
        for attr in ("path", "file_path", "command", "url", "pattern"):
            value = getattr(args, attr, None)
            if isinstance(value, str):
                return value
        return ""

    async def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        raise NotImplementedError


_SCHEMAS: dict[type, dict[str, Any]] = {}


def _schema_for(params: type[msgspec.Struct]) -> dict[str, Any]:
    cached = _SCHEMAS.get(params)
    if cached is None:
        (cached,), components = msgspec.json.schema_components([params])
        # Inline the single $ref msgspec produces so providers get a flat object schema.
        ref = cached.get("$ref", "")
        if ref:
            cached = dict(components[ref.rsplit("/", 1)[-1]])
        cached.pop("title", None)
        _SCHEMAS[params] = cached
    return cached


class ToolRegistry:
    def __init__(self, tools: list[Tool] | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools or []:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} registered twice")
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return sorted(self._tools)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._tools[name] for name in self.names())
