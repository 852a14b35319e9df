"""The configuration's JSON Schema, generated from the msgspec types of ``_schema``.

msgspec gives the structure, types, ranges and defaults; the ``#:`` comment above a field
in ``_schema.py`` becomes its ``description``, so editors (Taplo / Even Better TOML, with
``#:schema ./config.schema.json`` as the first line of config.toml) show the same words.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import msgspec

from . import _schema
from ._schema import Config

__all__ = ["SCHEMA_ID", "json_schema"]

SCHEMA_ID = "https://codetether.dev/schema/config.json"
_FIELD = re.compile(r"^\s+(\w+)\s*:")


def _field_comments(cls: type) -> dict[str, str]:
    """``{field: text}`` from the ``#:`` lines right above each field of ``cls``."""
    found: dict[str, str] = {}
    pending: list[str] = []
    for line in inspect.getsource(cls).splitlines()[1:]:
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        match = _FIELD.match(line)
        if match and pending:
            found[match.group(1)] = " ".join(pending)
        pending = []
    return found


def json_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of config.toml."""
    schema: dict[str, Any] = msgspec.json.schema(Config)
    for name, definition in schema.get("$defs", {}).items():
        cls = getattr(_schema, name, None)
        if not isinstance(cls, type) or not issubclass(cls, msgspec.Struct):
            continue
        try:
            comments = _field_comments(cls)
        except (OSError, TypeError):  # no source (a frozen build): the types alone
            continue
        for field, text in comments.items():
            prop = definition.get("properties", {}).get(field)
            if prop is not None and "description" not in prop:
                prop["description"] = text
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            "title": "codetether config.toml", **schema}
