"""Test doubles shipped as public API: a scripted in-process provider and a scripted
server speaking each model vendor's real HTTP wire format.

The scripted provider is an ordinary provider (``core/providers/scripted.py``, reachable
by name from config like any other); it is re-exported here with the wire-format
servers. Names load on first use, so importing this package does not pull in the
aiohttp server.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "RecordedRequest",
    "Script",
    "ScriptedError",
    "ScriptedProvider",
    "ScriptedVendorServer",
    "Turn",
]

_HOMES = {
    "RecordedRequest": ".vendor_servers",
    "Script": "..core.providers.scripted",
    "ScriptedError": "..core.providers.scripted",
    "ScriptedProvider": "..core.providers.scripted",
    "ScriptedVendorServer": ".vendor_servers",
    "Turn": "..core.providers.scripted",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
