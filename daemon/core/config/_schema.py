"""The configuration schema: one fully-defaulted, frozen msgspec Struct tree.

Every field has a default, so an empty (or missing) ``config.toml`` is a valid
configuration. Unknown keys are ignored by msgspec and reported as warnings by the
loader (a newer file must not break an older daemon). Range limits live in
``Meta`` annotations so msgspec reports them with the offending key;
:mod:`.config` adds the line number.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from typing import Annotated, Any, Literal

import msgspec

__all__ = [
    "A2APeer",
    "A2ASection",
    "BusSection",
    "Config",
    "DaemonSection",
    "Decision",
    "DefaultSection",
    "KeyPath",
    "LogLevel",
    "PermissionMode",
    "PermissionsSection",
    "ProviderApi",
    "ProviderSection",
    "RelaySection",
    "SecretsSection",
    "SessionSection",
    "SwarmSection",
    "ToolsSection",
    "UISection",
    "is_known_key",
    "unknown_keys",
]

#: A key in the TOML document: table/key names, and list indices as ints.
KeyPath = tuple[str | int, ...]

Decision = Literal["allow", "ask", "deny"]
PermissionMode = Literal["ask", "auto", "plan"]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class DefaultSection(msgspec.Struct, frozen=True, kw_only=True):
    """``[default]``: what ``codetether run`` uses when nothing else is chosen."""

    provider: str = "embedded"
    model: str = "smollm2-135m"


class SessionSection(msgspec.Struct, frozen=True, kw_only=True):
    """``[session]``: agent-loop limits."""

    auto_save: bool = True
    max_steps: Annotated[int, msgspec.Meta(ge=1)] = 25
    #: Characters of one tool result kept in the transcript.
    tool_output_budget: Annotated[int, msgspec.Meta(ge=256)] = 16000
    #: Fraction of the context window at which the transcript is compacted.
    compact_threshold: Annotated[float, msgspec.Meta(ge=0.1, le=0.99)] = 0.8
    watch_files: bool = True


class PermissionsSection(msgspec.Struct, frozen=True, kw_only=True):
    """``[permissions]``: the approval mode, and per-tool pattern rules.

    ``rules`` maps a tool name (``"*"`` for every tool) to ``{pattern: decision}``,
    e.g. ``bash = { "git push*" = "ask" }``.
    """

    mode: PermissionMode = "ask"
    rules: dict[str, dict[str, Decision]] = {}


class SecretsSection(msgspec.Struct, frozen=True, kw_only=True):
    """``[secrets]``: where provider keys live (Vault / OpenBao KV v2).

    ``VAULT_ADDR``, ``VAULT_MOUNT`` and ``VAULT_SECRETS_PATH`` override these.
    """

    vault_addr: str | None = None
    vault_mount: str = "secret"
    vault_path: str = "codetether/providers"
    #: Fall back to ``OPENAI_API_KEY`` and friends when Vault has no entry.
    allow_env: bool = False
    #: Seconds a key read from Vault is reused; 0 disables the cache.
    cache_ttl: Annotated[float, msgspec.Meta(ge=0)] = 300.0


ProviderApi = Literal["openai", "anthropic", "gemini", "bedrock", "copilot", "embedded", "scripted"]


class ProviderSection(msgspec.Struct, frozen=True, kw_only=True):
    """``[providers.<name>]``: per-provider overrides; every field is optional.

    The first group is common to all providers; the rest are knobs individual
    provider modules read (unset means the provider's own default).
    """

    base_url: str | None = None
    model: str | None = None
    models: list[str] = []
    context_window: Annotated[int, msgspec.Meta(ge=1)] | None = None
    headers: dict[str, str] = {}
    region: str | None = None
    #: Embedded provider: a GGUF file instead of the packaged model.
    model_path: str | None = None
    n_ctx: Annotated[int, msgspec.Meta(ge=1)] | None = None
    #: Scripted provider: the script it replays.
    script: str | None = None

    #: Wire protocol of a custom provider (default: OpenAI-compatible when base_url is set).
    api: ProviderApi | None = None
    max_attempts: Annotated[int, msgspec.Meta(ge=1)] | None = None
    retry_base_delay: Annotated[float, msgspec.Meta(ge=0)] | None = None
    retry_max_delay: Annotated[float, msgspec.Meta(ge=0)] | None = None
    connect_timeout: Annotated[float, msgspec.Meta(gt=0)] | None = None
    read_timeout: Annotated[float, msgspec.Meta(gt=0)] | None = None
    #: Anthropic: extended-thinking token budget (0 or unset: off).
    thinking_budget: Annotated[int, msgspec.Meta(ge=0)] | None = None
    #: GitHub Copilot: API base and integration id.
    github_api: str | None = None
    integration_id: str | None = None
    #: Embedded: CPU threads and sampling.
    n_threads: Annotated[int, msgspec.Meta(ge=1)] | None = None
    temperature: Annotated[float, msgspec.Meta(ge=0)] | None = None
    repeat_penalty: Annotated[float, msgspec.Meta(gt=0)] | None = None


class ToolsSection(msgspec.Struct, frozen=True, kw_only=True):
    """``[tools]``: limits of the built-in tools."""

    bash_timeout: Annotated[float, msgspec.Meta(gt=0)] = 120.0
    bash_max_output: Annotated[int, msgspec.Meta(ge=1)] = 30000
    #: Resource limits of each bash command (rlimits): address space, file size, processes.
    bash_memory_mb: Annotated[int, msgspec.Meta(ge=64)] = 16384
    bash_file_size_mb: Annotated[int, msgspec.Meta(ge=1)] = 4096
    bash_max_processes: Annotated[int, msgspec.Meta(ge=16)] = 4096
    websearch_url: str | None = None


class DaemonSection(msgspec.Struct, frozen=True, kw_only=True):
    """``[daemon]``: transport limits and logging."""

    max_message_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 8 * 1024 * 1024
    log_level: LogLevel = "info"


class TelemetrySection(msgspec.Struct, frozen=True, kw_only=True):
    """``[telemetry]``: what is recorded about tool runs and token use, and how."""

    enabled: bool = True
    persist: bool = True
    max_executions: Annotated[int, msgspec.Meta(ge=1)] = 10_000
    include_file_content: bool = False
    include_tool_args: bool = True
    anonymize_paths: bool = False


class ArchiveSection(msgspec.Struct, frozen=True, kw_only=True):
    """``[archive]``: copy closed event streams to S3-compatible storage (S3, R2, MinIO).
    Credentials come from Vault at ``<path>/archive`` (aws_access_key_id, ...)."""

    enabled: bool = False
    bucket: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    prefix: str = "codetether/events/"


class A2APeer(msgspec.Struct, frozen=True, kw_only=True):
    """``[a2a.peers.<name>]``: another A2A agent this one may call (its token: Vault
    ``<path>/a2a-<name>`` field ``token``, or ``token_env``, the name of a variable)."""

    url: str
    token_env: str | None = None


class A2ASection(msgspec.Struct, frozen=True, kw_only=True):
    """``[a2a]``: serve the A2A protocol (HTTP JSON-RPC + SSE, HTTP+JSON, gRPC) beside the
    socket. Every request needs ``Authorization: Bearer <token>`` (``codetether auth token``)."""

    enabled: bool = False
    #: host:port of the HTTP listener (port 0: any free port).
    listen: str = "127.0.0.1:4096"
    #: host:port of the gRPC listener; "" for none.
    grpc_listen: str = "127.0.0.1:50051"
    #: What a task's tool calls may do for an A2A caller: "plan" (read only), "ask" (a call
    #: that would ask is denied: nobody is there to answer) or "auto".
    approval_mode: PermissionMode = "ask"
    #: Largest request body, in bytes (larger: 413).
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 4 * 1024 * 1024
    #: Push notification URLs allowed (fnmatch patterns, e.g. "https://*.example.com/*"). A
    #: pattern with "://" is matched by part (scheme, host[:port], the rest: a "*" in the host
    #: stays in the host); one without ("*") matches the whole URL. Loopback and private
    #: addresses are refused unless a pattern names the host literally.
    push_allow: list[str] = []
    #: The agent's name and description on its card.
    name: str = "codetether"
    description: str = "An AI coding agent: reads, edits and runs code in its workspace."
    #: The workspace a task works in when its message names none (default: the daemon's cwd).
    workspace: str | None = None
    peers: dict[str, A2APeer] = {}


class BusSection(msgspec.Struct, frozen=True, kw_only=True):
    """``[bus]``: the agent bus. No ``url``: in-process (one machine, nothing to start);
    ``url = "nats://host:4222"``: NATS with JetStream, shared with workers on other hosts."""

    url: str | None = None


class SwarmSection(msgspec.Struct, frozen=True, kw_only=True):
    """``[swarm]``: how ``codetether swarm`` runs its subtasks."""

    #: "local": child agents in this daemon; "cluster": workers pulling from the bus (NATS).
    execution: Literal["local", "cluster"] = "local"
    #: Subtasks a plan may have, by default.
    max_subagents: Annotated[int, msgspec.Meta(ge=1, le=64)] = 8
    #: Subtasks running at once, at most.
    max_concurrency: Annotated[int, msgspec.Meta(ge=1, le=64)] = 4
    #: Seconds one subtask may run.
    subtask_timeout: Annotated[int, msgspec.Meta(ge=10)] = 1800


class UISection(msgspec.Struct, frozen=True, kw_only=True):
    """``[ui]``: the terminal UI (``codetether tui``)."""

    #: The colour theme, hot-reloaded with the config.
    theme: Literal["marketing", "dark", "light", "solarized-dark", "solarized-light"] = "marketing"


class RelaySection(msgspec.Struct, frozen=True, kw_only=True):
    """``[relay]``: the /autochat relay."""

    #: Resume relays a restart cut short when the daemon starts.
    auto_resume: bool = False


class Config(msgspec.Struct, frozen=True, kw_only=True):
    """The whole configuration; ``Config()`` is the all-defaults configuration."""

    default: DefaultSection = msgspec.field(default_factory=DefaultSection)
    session: SessionSection = msgspec.field(default_factory=SessionSection)
    permissions: PermissionsSection = msgspec.field(default_factory=PermissionsSection)
    secrets: SecretsSection = msgspec.field(default_factory=SecretsSection)
    providers: dict[str, ProviderSection] = {}
    tools: ToolsSection = msgspec.field(default_factory=ToolsSection)
    daemon: DaemonSection = msgspec.field(default_factory=DaemonSection)
    telemetry: TelemetrySection = msgspec.field(default_factory=TelemetrySection)
    archive: ArchiveSection = msgspec.field(default_factory=ArchiveSection)
    a2a: A2ASection = msgspec.field(default_factory=A2ASection)
    bus: BusSection = msgspec.field(default_factory=BusSection)
    swarm: SwarmSection = msgspec.field(default_factory=SwarmSection)
    relay: RelaySection = msgspec.field(default_factory=RelaySection)
    ui: UISection = msgspec.field(default_factory=UISection)


# --- schema walking: which keys exist ------------------------------------------------


def _strip(tp: Any) -> Any:
    """``Annotated[X, ...]`` -> X; ``X | None`` -> X."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
            continue
        args = typing.get_args(tp)
        if args and type(None) in args and origin is not dict:
            rest = [a for a in args if a is not type(None)]
            if len(rest) == 1:
                tp = rest[0]
                continue
        return tp


def _is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def _fields(tp: type[msgspec.Struct]) -> dict[str, Any]:
    return {f.encode_name: f.type for f in msgspec.structs.fields(tp)}


def _child_type(tp: Any, part: str | int) -> Any | None:
    """The schema type one key below ``tp``, or None when ``tp`` has no such key."""
    tp = _strip(tp)
    if _is_struct(tp):
        return _fields(tp).get(part) if isinstance(part, str) else None
    if typing.get_origin(tp) is dict and isinstance(part, str):
        return typing.get_args(tp)[1]
    if typing.get_origin(tp) in (list, tuple) and isinstance(part, int):
        return typing.get_args(tp)[0]
    return None


def is_known_key(path: KeyPath, root: Any = Config) -> bool:
    """Whether ``path`` names a key the schema has (map entries count as known)."""
    tp: Any = root
    for part in path:
        tp = _child_type(tp, part)
        if tp is None:
            return False
    return True


def unknown_keys(raw: Any, tp: Any = Config, prefix: KeyPath = ()) -> Iterator[KeyPath]:
    """Yield the path of every key in ``raw`` that the schema does not know.

    Only struct fields can be unknown; map entries (provider names, tool names,
    patterns, headers) are the user's to choose. Type mismatches are left to msgspec.
    """
    tp = _strip(tp)
    if not isinstance(raw, dict):
        return
    if _is_struct(tp):
        fields = _fields(tp)
        for key, value in raw.items():
            if key not in fields:
                yield (*prefix, key)
            else:
                yield from unknown_keys(value, fields[key], (*prefix, key))
    elif typing.get_origin(tp) is dict:
        value_tp = typing.get_args(tp)[1]
        for key, value in raw.items():
            yield from unknown_keys(value, value_tp, (*prefix, key))
