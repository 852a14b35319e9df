"""Proto field names accepted beside the camelCase JSON names on input.

A2A puts the proto3 JSON mapping on the wire (spec 5.5: camelCase field names), and a
ProtoJSON parser accepts a field under its proto name as well (``history_length`` as
``historyLength``), as ``google.protobuf.json_format`` and so the official SDK's servers
do. Some clients send the proto names (the A2A TCK's JSON-RPC client does). msgspec has
one name per field, so :func:`camel_keys` renames them before a JSON document is
converted: guided by the target Struct's fields, it renames keys only where a Struct is
expected, never inside free-form JSON (``Part.data``, ``metadata``), and leaves unknown
keys alone (they are ignored, as before).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from msgspec import inspect as mi

__all__ = ["camel_keys"]


@cache
def _fields(struct: type) -> dict[str, tuple[str, mi.Type]]:
    """``{name as sent (JSON or proto name): (JSON name, field type)}`` of a Struct."""
    info = mi.type_info(struct)
    assert isinstance(info, mi.StructType)
    out: dict[str, tuple[str, mi.Type]] = {}
    for f in info.fields:
        out[f.name] = (f.encode_name, f.type)
        out[f.encode_name] = (f.encode_name, f.type)
    return out


def camel_keys(raw: Any, typ: Any) -> Any:
    """``raw`` (decoded JSON) with proto field names renamed to the JSON names of the
    Structs ``typ`` (a Struct type, or a msgspec type info) expects at each level. A key
    sent under both names keeps the camelCase one."""
    if isinstance(typ, mi.Type):
        info = typ
    else:
        try:
            info = _type_info(typ)
        except TypeError:  # an unhashable type expression: not cached
            info = mi.type_info(typ)
    return _walk(raw, info)


@cache
def _type_info(typ: Any) -> mi.Type:
    """``msgspec.inspect.type_info`` of a type, computed once: it walks every nested
    annotation (resolving forward references) and a request's params type is the
    same on every call."""
    return mi.type_info(typ)


def _walk(raw: Any, info: mi.Type) -> Any:
    if isinstance(info, mi.StructType) and isinstance(raw, dict):
        fields = _fields(info.cls)
        out: dict[str, Any] = {}
        for key, value in raw.items():
            name, ftype = fields.get(key, (key, None))
            if name != key and name in raw:
                continue  # both spellings: the JSON name wins
            out[name] = value if ftype is None else _walk(value, ftype)
        return out
    if isinstance(info, mi.UnionType):
        for member in info.types:
            if isinstance(member, mi.StructType | mi.ListType | mi.DictType):
                return _walk(raw, member)
        return raw
    if isinstance(info, mi.ListType | mi.VarTupleType | mi.SetType) and isinstance(raw, list):
        return [_walk(item, info.item_type) for item in raw]
    if isinstance(info, mi.DictType) and isinstance(raw, dict) and _structured(info.value_type):
        return {key: _walk(value, info.value_type) for key, value in raw.items()}
    return raw


def _structured(info: mi.Type) -> bool:
    """Whether values of this type can hold Structs (else a dict's values stay as sent)."""
    if isinstance(info, mi.UnionType):
        return any(_structured(t) for t in info.types)
    return isinstance(info, mi.StructType | mi.ListType | mi.DictType)
