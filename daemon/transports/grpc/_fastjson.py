"""A2A JSON (the API's answers, as builtins) to protobuf messages, faster than ``ParseDict``.

``json_format.ParseDict`` walks every field in Python with generic checks; encoding one
finished task took ~100 us, a fair part of a gRPC call. :func:`from_dict` fills the
message in place (sub-messages too: none is built apart and copied in) from a plan made
once per message type. It handles the
shapes the API answers with (messages, repeated messages, scalars, enums by name,
Timestamp and Struct/Value fields); anything else (a map, bytes, an int64 given as a
string, a key the type lacks, a type mismatch) raises :class:`Unsupported`, and the
caller falls back to ``ParseDict``, which then gives its own answer or error. So
whatever this returns is what ``ParseDict`` would have built.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor, json_format, message, message_factory

__all__ = ["Unsupported", "from_dict"]

_FD = descriptor.FieldDescriptor
_INTS = frozenset({_FD.TYPE_INT32, _FD.TYPE_INT64, _FD.TYPE_UINT32, _FD.TYPE_UINT64, _FD.TYPE_SINT32,
                   _FD.TYPE_SINT64, _FD.TYPE_FIXED32, _FD.TYPE_FIXED64, _FD.TYPE_SFIXED32,
                   _FD.TYPE_SFIXED64})
_FLOATS = frozenset({_FD.TYPE_FLOAT, _FD.TYPE_DOUBLE})
_TIMESTAMP = "google.protobuf.Timestamp"
_JSON_WKT = frozenset({"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"})

# field kinds in a plan
_STRING, _BOOL, _INT, _FLOAT, _ENUM, _MESSAGE, _TIMESTAMP_FIELD, _JSON_FIELD = range(8)


class Unsupported(Exception):
    """This value needs ``ParseDict`` (see the module docstring)."""


class _Plan:
    __slots__ = ("cls", "fields", "oneofs")

    def __init__(self, desc: descriptor.Descriptor) -> None:
        self.cls = message_factory.GetMessageClass(desc)
        # key (json name or proto name) -> (proto name, kind, repeated, sub-descriptor)
        self.fields: dict[str, tuple[str, int, bool, descriptor.Descriptor | None]] = {}
        self.oneofs: dict[str, str] = {}  # proto name -> its oneof's name
        for f in desc.fields:
            if f.containing_oneof is not None:
                self.oneofs[f.name] = f.containing_oneof.name
            repeated = bool(f.is_repeated)
            sub = f.message_type
            if sub is not None and sub.GetOptions().map_entry:
                continue  # a map: not in the plan, so ParseDict does it
            if sub is not None:
                kind = (_TIMESTAMP_FIELD if sub.full_name == _TIMESTAMP else
                        _JSON_FIELD if sub.full_name in _JSON_WKT else
                        -1 if sub.full_name.startswith("google.protobuf.") else _MESSAGE)
                if kind == -1 or (repeated and kind != _MESSAGE):
                    continue
            elif f.type == _FD.TYPE_STRING:
                kind = _STRING
            elif f.type == _FD.TYPE_BOOL:
                kind = _BOOL
            elif f.type in _INTS:
                kind = _INT
            elif f.type in _FLOATS:
                kind = _FLOAT
            elif f.type == _FD.TYPE_ENUM:
                kind = _ENUM
            else:
                continue  # bytes
            entry = (f.name, kind, repeated, sub)
            self.fields[f.json_name] = entry
            self.fields[f.name] = entry


_plans: dict[str, _Plan] = {}


def _plan(desc: descriptor.Descriptor) -> _Plan:
    plan = _plans.get(desc.full_name)
    if plan is None:
        plan = _plans[desc.full_name] = _Plan(desc)
    return plan


def _scalar(kind: int, value: Any) -> Any:
    if kind == _STRING or kind == _ENUM:
        if isinstance(value, str):
            return value
    elif kind == _BOOL:
        if isinstance(value, bool):
            return value
    elif kind == _INT:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind == _FLOAT:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
    raise Unsupported(kind)


def _fill(out: message.Message, data: Any) -> None:
    """Set ``data``'s fields on the empty message ``out``, sub-messages in place (a
    message handed to a constructor would be copied, at every level)."""
    if not isinstance(data, dict):
        raise Unsupported(out.DESCRIPTOR.full_name)
    plan = _plan(out.DESCRIPTOR)
    done: set[str] = set()
    for key, value in data.items():
        entry = plan.fields.get(key)
        if entry is None:
            raise Unsupported(key)
        name, kind, repeated, sub = entry
        if value is None:
            if sub is not None and sub.full_name == "google.protobuf.Value":
                raise Unsupported(key)  # a null Value is set, not skipped
            continue
        if name in done:
            raise Unsupported(key)  # given twice (json and proto name): ParseDict says so
        done.add(name)
        if (oneof := plan.oneofs.get(name)) is not None:
            if oneof in done:
                raise Unsupported(oneof)  # two members of one oneof: ParseDict says so
            done.add(oneof)
        try:
            if kind == _MESSAGE:
                if repeated:
                    if not isinstance(value, list):
                        raise Unsupported(key)
                    items = getattr(out, name)
                    for item in value:
                        _fill(items.add(), item)
                else:
                    sub = getattr(out, name)
                    sub.SetInParent()  # present even when empty, as ParseDict makes it
                    _fill(sub, value)
            elif kind == _TIMESTAMP_FIELD:
                if not isinstance(value, str):
                    raise Unsupported(key)
                getattr(out, name).FromJsonString(value)
            elif kind == _JSON_FIELD:
                sub = getattr(out, name)
                sub.SetInParent()
                json_format.ParseDict(value, sub)
            elif repeated:
                if not isinstance(value, list):
                    raise Unsupported(key)
                getattr(out, name).extend([_scalar(kind, item) for item in value])
            else:
                setattr(out, name, _scalar(kind, value))
        except (ValueError, TypeError, json_format.ParseError) as exc:
            raise Unsupported(str(exc)) from exc


def from_dict(data: Any, cls: type[message.Message]) -> message.Message:
    """``cls`` built from A2A JSON ``data`` (:class:`Unsupported`: use ``ParseDict``)."""
    out = cls()
    _fill(out, data)
    return out
