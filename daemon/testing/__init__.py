"""Test doubles shipped as public API: a scripted in-process provider and a scripted
server speaking each model vendor's real HTTP wire format.

Names load on first use, so importing this package (the registry does, to offer the
``scripted`` provider) does not pull in the aiohttp server.
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
    "RecordedRequest": "vendor_servers",
    "Script": "scripted",
    "ScriptedError": "scripted",
    "ScriptedProvider": "scripted",
    "ScriptedVendorServer": "vendor_servers",
    "Turn": "scripted",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
