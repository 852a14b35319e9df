"""The daemon's core: only subpackages, one room per subsystem, each importing another room
only through that room's package (never its private ``_modules``).

::

    storage/     atomic writes; the append-only JSONL log
    config/      config.toml load, validate, edit and watch
    secrets/     provider keys from Vault/OpenBao or the environment; the one redactor
    providers/   model providers, the table of known ones, the resolver (scripted one included)
    tools/       the agent's tools and their registry
    approvals/   policy (deny > ask > allow), durable approvals, the gate
    sessions/    the session store, a session's runtime and event hub, the file watcher
    agent/       the agent loop, compaction, ``@file`` mentions
    records/     telemetry, the audit trail, event streams, and the recorder feeding them

A new subsystem is a new folder here. Nothing is exported from this package itself.
"""

__all__: list[str] = []
