"""codetether's configuration: ``config.toml`` loaded into a frozen, fully-defaulted Struct.

::

    [default]      provider, model
    [session]      auto_save, max_steps, tool_output_budget, compact_threshold, watch_files
    [permissions]  mode = "ask" | "auto" | "plan"; [permissions.rules] tool -> {pattern -> decision}
    [secrets]      vault_addr, vault_mount, vault_path, allow_env, cache_ttl
    [providers.<name>]  base_url, model, models, context_window, headers, region, model_path, n_ctx,
                   script; api, retry/timeout knobs, thinking_budget, n_threads, ... (see ProviderSection)
    [tools]        bash_timeout, bash_max_output, bash_memory_mb, bash_file_size_mb, bash_max_processes, websearch_url
    [daemon]       max_message_bytes, log_level
    [telemetry]    enabled, persist, max_executions, include_file_content, include_tool_args, anonymize_paths
    [archive]      enabled, bucket, endpoint_url, region, prefix
    [a2a]          enabled, listen, grpc_listen, approval_mode, max_body_bytes, push_allow, name,
                   description, workspace; [a2a.peers.<name>] url, token_env

A missing file is the default configuration. An unknown key is a warning (so a
newer file does not break an older daemon); a bad value or invalid TOML is a
:class:`ConfigError` whose message names the file, the line and the dotted key::

    config.toml:3: session.max_steps: Expected `int`, got `str`

:func:`set_config_value` edits one key with tomlkit, keeping comments and layout,
and writes only a file that validates. :class:`ConfigWatcher` reloads on change.
:func:`misplaced_config` says where a config file that is not read should go.
"""

from __future__ import annotations

from ._jsonschema import json_schema
from ._load import (
    LoadedConfig,
    config_as_dict,
    load_config,
    parse_config,
    set_config_value,
)
from ._misplaced import misplaced_config
from ._schema import (
    A2APeer,
    A2ASection,
    ArchiveSection,
    BusSection,
    Config,
    DaemonSection,
    Decision,
    DefaultSection,
    LogLevel,
    PermissionMode,
    PermissionsSection,
    ProviderApi,
    ProviderSection,
    RelaySection,
    SecretsSection,
    SessionSection,
    SwarmSection,
    TelemetrySection,
    ToolsSection,
    UISection,
)
from ._watch import ConfigWatcher

__all__ = [
    "A2APeer",
    "A2ASection",
    "ArchiveSection",
    "BusSection",
    "Config",
    "ConfigWatcher",
    "DaemonSection",
    "Decision",
    "DefaultSection",
    "LoadedConfig",
    "LogLevel",
    "PermissionMode",
    "PermissionsSection",
    "ProviderApi",
    "ProviderSection",
    "RelaySection",
    "SecretsSection",
    "SessionSection",
    "SwarmSection",
    "TelemetrySection",
    "ToolsSection",
    "UISection",
    "config_as_dict",
    "json_schema",
    "load_config",
    "misplaced_config",
    "parse_config",
    "set_config_value",
]
