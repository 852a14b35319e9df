"""``codetether config``: show the configuration as TOML (or JSON), change one key (C17),
print config.toml's JSON Schema (``--schema``, generated from the msgspec types).

``--set`` prints only what changed. A table given for ``permissions.rules.TOOL`` (or
``permissions.rules``) is merged by the daemon into the rules already in the file, so
adding one rule never drops the others.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from ..client import Client
from ..errors import InvalidParams

__all__ = ["cmd_config", "to_toml"]

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def cmd_config(args: Any, paths: Any) -> int:
    if getattr(args, "schema", False):  # generated from the types: no daemon needed
        from ..core.config import json_schema

        print(json.dumps(json_schema(), indent=2))
        return 0
    with Client(paths) as client:
        if not args.set:
            data = client.call("config/get")
            broken = client.call("daemon/status").get("config_error")
            _warn(data)
            print(json.dumps(data, indent=2) if args.json else to_toml(data))
            if broken:  # S2: what is shown is not what the file says; runs are refused
                print(f"codetether: {broken} (this is the configuration in use until the file "
                      "loads; runs are refused meanwhile)", file=sys.stderr)
                return 5
            return 0
        key, sep, value = args.set.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise InvalidParams("--set needs KEY=VALUE, e.g. session.max_steps=30")
        before = client.call("config/get")
        after = client.call("config/set", {"key": key, "value": value})
    _warn(after)
    # Only what this --set changed: a hot reload of an edit made just before can land
    # between the two reads (found trying it as a user).
    changed = {k: {"old": old, "new": new} for k, (old, new) in
               _changes(_flat(before["config"]), _flat(after["config"])).items()
               if k == key or k.startswith(f"{key}.")}
    if args.json:
        print(json.dumps({"path": after["path"], "changed": changed, "config": after["config"],
                          "warnings": after.get("warnings", [])}, indent=2))
    elif changed:
        print("\n".join(f"{k}: {_show(c['old'])} -> {_show(c['new'])}" for k, c in changed.items()))
    else:
        print(f"{key}: unchanged")
    return 0


def _warn(data: dict[str, Any]) -> None:
    for warning in data.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)


def _key(parts: tuple[str, ...]) -> str:
    return ".".join(p if _BARE.fullmatch(p) else json.dumps(p) for p in parts)


def _flat(data: Any, prefix: tuple[str, ...] = ()) -> dict[str, Any]:
    if isinstance(data, dict):  # an empty table adds no key: {} -> (unset) is no change
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(_flat(v, (*prefix, str(k))))
        return out
    return {_key(prefix): data}


def _changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {k: (old.get(k), new.get(k)) for k in sorted(old.keys() | new.keys())
            if old.get(k) != new.get(k)}


def _show(value: Any) -> str:
    return "(unset)" if value is None else json.dumps(value)


def to_toml(data: dict[str, Any]) -> str:
    """The effective configuration as TOML: what config.toml would hold to get it.
    TOML has no null, so unset values are left out."""
    import tomlkit

    doc = tomlkit.document()
    doc.add(tomlkit.comment(f"effective configuration (file: {data['path']})"))
    for name, value in _drop_none(data["config"]).items():
        doc.add(name, value)
    return tomlkit.dumps(doc).rstrip("\n")


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value if v is not None]
    return value
