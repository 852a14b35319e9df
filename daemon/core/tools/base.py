"""The tool contract, the tool registry, and workspace confinement.

A tool declares its parameters as a msgspec Struct; the JSON Schema offered to the
model is derived from that Struct, and the model's arguments are validated by
decoding into it, so schema and validation can never drift apart.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import msgspec

from ...errors import InvalidParams, ToolFailure, WorkspaceEscape
from ...wire.events import SessionEvent

__all__ = [
    "AskUser",
    "Authorize",
    "Emit",
    "Recheck",
    "SubagentOutcome",
    "SubagentSpec",
    "Subagents",
    "Tool",
    "ToolContext",
    "ToolRegistry",
    "ToolResult",
    "Workspace",
    "struct_schema",
]


class Workspace:
    """A session's workspace root; every file tool resolves paths through it.

    ``..`` components and symlinks that lead outside the root are refused with
    :class:`WorkspaceEscape`. The root itself is resolved once (it may be a symlink).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve(strict=True)

    def resolve(self, path: str, *, must_exist: bool = False) -> Path:
        """Return the absolute, symlink-free path for ``path`` inside the root.

        Relative paths are taken from the root. Raises :class:`WorkspaceEscape`
        when the result lies outside, :class:`InvalidParams` for an empty or
        malformed path, and :class:`ToolFailure` if ``must_exist`` and it does not.
        """
        if not path:
            raise InvalidParams("path must not be empty")
        if "\x00" in path:
            raise InvalidParams(f"path {path!r} contains a NUL byte")
        candidate = Path(path)
        if not candidate.is_absolute():
            candidate = self.root / candidate
        # resolve() follows every symlink that exists (and dangling ones too), so a
        # link pointing outside is caught here just like a literal "../".
        try:
            resolved = candidate.resolve(strict=False)
        except (OSError, RuntimeError) as exc:  # symlink loop, name too long
            raise InvalidParams(f"cannot resolve path {path!r}: {exc}") from exc
        if resolved != self.root and self.root not in resolved.parents:
            raise WorkspaceEscape(
                f"path {path!r} resolves outside the workspace {str(self.root)!r}",
                data={"path": path, "workspace": str(self.root)},
            )
        if must_exist and not resolved.exists():
            raise ToolFailure(f"no such file or directory: {self.relative(resolved)}")
        return resolved

    def rule_subject(self, path: str) -> str:
        """The subject approval rules judge for ``path``: where it really leads.

        Inside the root that is the workspace-relative, ``..``- and symlink-free path,
        so ``src/../protected/x`` and ``src/lnk/x`` (``src/lnk -> ../protected``) are
        both judged as ``protected/x`` (S3). Outside, it is the absolute resolved path,
        which no workspace-relative rule matches (the tool refuses it anyway). A path
        that cannot be resolved at all stays as given; the tool rejects it when run.
        """
        try:
            return self.relative(self.resolve(path))
        except WorkspaceEscape:
            candidate = Path(path) if Path(path).is_absolute() else self.root / path
            try:
                return str(candidate.resolve(strict=False))
            except (OSError, RuntimeError):
                return path
        except InvalidParams:
            return path

    def relative(self, path: Path) -> str:
        try:
            rel = path.relative_to(self.root)
        except ValueError:
            return str(path)
        return str(rel) or "."


@dataclass(slots=True)
class ToolResult:
    """What a tool hands back: text for the model, and metadata for the session.

    ``metadata`` is JSON-serialisable. File-changing tools fill ``files_affected``
    (relative paths) and ``changes`` (``[{path, kind: create|modify|delete, diff,
    additions, deletions}]``); telemetry and the editor clients consume it.
    """

    output: str
    is_error: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)


# ask_user(question, options) -> answer; supplied by the session so the `question`
# tool can reach whichever client is attached.
AskUser = Callable[[str, list[str]], Awaitable[str]]

# authorize(tool, args) -> recheck, or raises ApprovalDenied. Supplied by the agent
# loop so `batch` can put its non-read-only sub-calls through the same approval
# gate as direct calls; without it, batch runs read-only tools only. The returned
# recheck (None: nothing to re-judge) is awaited right before the sub-call runs and
# raises ApprovalDenied if its paths now lead elsewhere (S3: a link made meanwhile).
Recheck = Callable[[], Awaitable[None]]
Authorize = Callable[["Tool", Any], Awaitable[Recheck | None]]
ReportSubcall = Callable[[str, str, str, "ToolResult", float], Awaitable[None]]
Propose = Callable[[list[dict[str, Any]]], Awaitable[bool]]
# emit(event): the session's event stream (SessionRuntime.emit), for tools whose
# output should reach clients while they run (bash's ToolOutput).
Emit = Callable[[SessionEvent], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class SubagentSpec:
    """A child agent the ``task`` tool asks for. ``mode`` is what the model asked
    ("inherit" or a mode name); the runner narrows it to the parent's, never wider."""

    name: str
    prompt: str
    mode: str = "inherit"
    model: str | None = None
    max_steps: int | None = None
    timeout: float = 600.0
    tools: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class SubagentOutcome:
    """How a child's run ended: its session, its last answer, its cost."""

    session_id: str
    name: str
    stop_reason: str  # the agent's ("end_turn", "max_steps", ...) or "timeout"
    text: str
    steps: int
    mode: str
    input_tokens: int = 0
    output_tokens: int = 0
    resumed: bool = False


class Subagents(Protocol):
    """Runs a child agent for a tool call (supplied by the daemon; see ``task``)."""

    async def run(self, ctx: ToolContext, spec: SubagentSpec) -> SubagentOutcome: ...


@dataclass(slots=True)
class ToolContext:
    """What a running tool may touch. One per tool call.

    Tools read ``state`` keys ``todos``, ``plan_mode``, ``plan`` (written by the
    session tools) and ``websearch_url``, ``bash_timeout``, ``bash_max_output``
    (the session's ``[tools]`` configuration).
    """

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
    # Configuration the tools read (bash_timeout, bash_max_output, websearch_url):
    # kept apart from ``state`` so it is never saved into the session.
    settings: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    authorize: Authorize | None = None  # for `batch`; see Authorize
    #: report(call_id, tool, arguments_json, result, duration_ms): a tool that runs
    #: other tools (``batch``) reports each sub-call, so it is recorded with its parent.
    report_subcall: ReportSubcall | None = None
    #: Editor sessions: propose(files) shows the change to the user instead of writing
    #: it; returns True if the editor applied it, False if the tool should write it;
    #: raises ToolFailure if the user rejected it. See ``_util.commit_changes``.
    propose: Propose | None = None
    #: The session's event stream; None when the tool runs outside a session.
    emit: Emit | None = None
    #: The approval mode of the run this call belongs to ("plan" in plan mode): a child
    #: agent started by the call gets at most this.
    approval_mode: str = "ask"
    #: Starts child agents (the ``task`` tool); None where there is no daemon to run them.
    subagents: Subagents | None = None
    #: The asking client's key and Vault variables the run leases its provider with: a
    #: child agent runs with the same (C5), not the daemon's own.
    env: dict[str, str] | None = None

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
            if isinstance(arguments, str) and not arguments.strip():
                arguments = "{}"
            return msgspec.json.decode(arguments or b"{}", type=self.params)
        except msgspec.ValidationError as exc:
            raise InvalidParams(f"{self.name}: invalid arguments: {exc}") from exc
        except msgspec.DecodeError as exc:
            text = arguments.decode("utf-8", "replace") if isinstance(arguments, bytes) else str(arguments)
            excerpt = text if len(text) <= 200 else text[:200] + "..."
            raise InvalidParams(
                f"{self.name}: arguments are not valid JSON ({exc}); "
                f"send one JSON object matching the tool's schema. Got: {excerpt}"
            ) from exc

    def approval_subject(self, args: Any) -> str:
        """The string policy patterns match against: a path, a command, a URL.

        For file tools this is the path as the model wrote it; the gate judges
        :meth:`rule_subjects` instead, which resolves it."""
        for attr in ("path", "file_path", "command", "url", "pattern"):
            value = getattr(args, attr, None)
            if isinstance(value, str):
                return value
        return ""

    def describe(self, args: Any) -> str:
        """One short line for a status bar or spinner while the call runs:
        ``Progress(phase="tool", detail=tool.describe(args))`` (C15)."""
        subject = " ".join(self.approval_subject(args).split())  # one line, however long
        if len(subject) > _DESCRIBE_CHARS:
            subject = subject[: _DESCRIBE_CHARS - 1] + "\u2026"
        return f"{self.name} {subject}" if subject else self.name

    def approval_paths(self, args: Any) -> list[str] | None:
        """Every path this call reads or writes, as given; None if the tool's
        subject is not a path (a command, a URL, a question)."""
        for attr in ("path", "file_path"):
            value = getattr(args, attr, None)
            if isinstance(value, str):
                return [value]
        return None

    def rule_subjects(self, args: Any, workspace: Workspace) -> list[str]:
        """What approval rules judge for this call: for a file tool, each path it
        touches, resolved and workspace-relative (the decision is the strictest over
        all of them); otherwise the one :meth:`approval_subject`."""
        paths = self.approval_paths(args)
        if paths is None:
            return [self.approval_subject(args)]
        subjects = list(dict.fromkeys(workspace.rule_subject(p) for p in paths))
        return subjects or [""]  # nothing to resolve (an unparsable patch): judged as ""

    async def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        raise NotImplementedError


#: Characters of the subject in :meth:`Tool.describe`.
_DESCRIBE_CHARS = 60

_SCHEMAS: dict[type, dict[str, Any]] = {}


def struct_schema(params: type[msgspec.Struct]) -> dict[str, Any]:
    """A Struct's JSON Schema as one self-contained object (every ``$ref`` inlined, no
    class names): what tools offer the model, and what structured output asks for."""
    return _schema_for(params)


def _schema_for(params: type[msgspec.Struct]) -> dict[str, Any]:
    cached = _SCHEMAS.get(params)
    if cached is None:
        (top,), components = msgspec.json.schema_components([params])
        # Inline every $ref so providers get one self-contained object schema
        # (several vendors reject $defs); the top-level docstring is dropped
        # because the tool's description already says it.
        cached = _inline(top, components)
        cached.pop("description", None)
        _SCHEMAS[params] = cached
    return cached


def _inline(node: Any, components: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_inline(item, components) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        merged = dict(components[ref.rsplit("/", 1)[-1]])
        merged.update({k: v for k, v in node.items() if k != "$ref"})
        node = merged
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title":  # the Struct's class name: noise for the model
            continue
        if key == "properties":  # field names, not keywords: a field may be called "title"
            out[key] = {name: _inline(spec, components) for name, spec in value.items()}
        else:
            out[key] = _inline(value, components)
    # msgspec emits a bare {"enum": [...]} for Literal; Gemini wants a "type" too.
    enum = out.get("enum")
    if isinstance(enum, list) and "type" not in out and enum and all(isinstance(v, str) for v in enum):
        out["type"] = "string"
    return out


class ToolRegistry:
    """Tools by name; iteration is in name order so the offered tool list is stable.

    ``load``, when given, makes more tools on first use (any lookup, listing or
    registration) instead of now: the built-in set is made that way, so a daemon that
    has not run a tool yet has not imported the tools' modules (and what they import).
    """

    def __init__(self, tools: list[Tool] | None = None, *, load: Callable[[], list[Tool]] | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        self._load = None  # set after: registering ``tools`` must not make the lazy ones yet
        for tool in tools or []:
            self.register(tool)
        self._load = load

    def _loaded(self) -> dict[str, Tool]:
        if self._load is not None:
            made = self._load()  # if it fails, the next use tries again
            self._load = None  # before register(), which comes back here
            for tool in made:
                self.register(tool)
        return self._tools

    def register(self, tool: Tool) -> None:
        tools = self._loaded()
        if tool.name in tools:
            raise ValueError(f"tool {tool.name!r} registered twice")
        tools[tool.name] = tool

    def get(self, name: str) -> Tool | None:
        return self._loaded().get(name)

    def names(self) -> list[str]:
        return sorted(self._loaded())

    def __contains__(self, name: object) -> bool:
        return name in self._loaded()

    def __len__(self) -> int:
        return len(self._loaded())

    def __iter__(self) -> Iterator[Tool]:
        tools = self._loaded()
        return iter([tools[name] for name in sorted(tools)])
