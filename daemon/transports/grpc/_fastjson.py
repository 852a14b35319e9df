"""A2A JSON (dicts, the proto3 JSON mapping) to protobuf wire bytes and back, faster than
``json_format``.

``json_format.ParseDict`` and ``MessageToDict`` walk every field in Python with generic
checks, and building the upb message between the dict and the bytes costs as much again:
on a gRPC call, encoding one finished task took ~65 us of the server's time and decoding
the request ~60 us, a fifth of a whole SendMessage. So:

- :func:`encode` writes the wire bytes straight from the dict, with a plan made once per
  message type. It handles the shapes the API answers with (messages, repeated messages
  and strings, strings, bools, 32/64-bit ints, doubles, enums by name, Timestamp and
  Struct/Value/ListValue); anything else (a map, bytes, an int given as a string, a key
  the type lacks, a type mismatch, a null Value, two members of one oneof, nesting
  past :data:`MAX_DEPTH`) raises
  :class:`Unsupported`, and the caller falls back to ``ParseDict``, which then gives its
  own answer or error. So what it returns parses to the message ``ParseDict`` would
  have built.
- :func:`to_json` reads a parsed message (upb's ``ListFields``) into the dict
  ``MessageToDict`` gives, for the same kinds; a field of any other kind (a map, a
  well-known type other than those) or a value JSON cannot hold (a Timestamp outside
  years 1-9999, an infinite number in a Value) raises :class:`Unsupported` and the
  caller uses ``MessageToDict``.
"""

from __future__ import annotations

import base64
import datetime
import math
import re
import struct
from collections.abc import Callable
from typing import Any

from google.protobuf import descriptor, message, timestamp_pb2

__all__ = ["Unsupported", "encode", "to_json"]

_FD = descriptor.FieldDescriptor
_TIMESTAMP = "google.protobuf.Timestamp"
_STRUCT, _VALUE, _LIST_VALUE = "google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"

# field kinds in an encoding plan
(_STRING, _BOOL, _INT32, _INT64, _UINT32, _UINT64, _ENUM, _DOUBLE, _MESSAGE, _TIMESTAMP_FIELD,
 _STRUCT_FIELD, _VALUE_FIELD, _LIST_FIELD) = range(13)
_RANGES = {_INT32: (-(1 << 31), (1 << 31) - 1), _INT64: (-(1 << 63), (1 << 63) - 1),
           _UINT32: (0, (1 << 32) - 1), _UINT64: (0, (1 << 64) - 1)}
_KINDS = {_FD.TYPE_STRING: _STRING, _FD.TYPE_BOOL: _BOOL, _FD.TYPE_INT32: _INT32, _FD.TYPE_INT64: _INT64,
          _FD.TYPE_UINT32: _UINT32, _FD.TYPE_UINT64: _UINT64, _FD.TYPE_ENUM: _ENUM, _FD.TYPE_DOUBLE: _DOUBLE}
_WKT_KINDS = {_TIMESTAMP: _TIMESTAMP_FIELD, _STRUCT: _STRUCT_FIELD, _VALUE: _VALUE_FIELD,
              _LIST_VALUE: _LIST_FIELD}
_VARINT, _I64, _LEN = 0, 1, 2
#: Nested messages (a Struct, a Value and a ListValue each count) past which ParseDict
#: decides: it refuses past 100 levels, and protobuf decoders refuse what nests deeper
#: than 100 (so would every client).
MAX_DEPTH = 64
_pack_double = struct.Struct("<d").pack


class Unsupported(Exception):
    """This value needs ``json_format`` (see the module docstring)."""


# -- writing -----------------------------------------------------------------------------------

def _varint(out: bytearray, n: int) -> None:
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _tag(number: int, wire: int) -> bytes:
    out = bytearray()
    _varint(out, number << 3 | wire)
    return bytes(out)


def _put(out: bytearray, tag: bytes, body: bytes | bytearray) -> None:
    """A length-delimited field: its tag, its length, its bytes."""
    out += tag
    n = len(body)
    if n < 0x80:
        out.append(n)
    else:
        _varint(out, n)
    out += body


class _Field:
    __slots__ = ("enum", "json_name", "kind", "name", "oneof", "plan", "presence", "repeated", "tag")

    def __init__(self, f: descriptor.FieldDescriptor, kind: int, plan: _Plan | None) -> None:
        self.name = f.name
        self.json_name = f.json_name
        self.kind = kind
        self.repeated = bool(f.is_repeated)
        self.presence = bool(f.has_presence)
        self.oneof = f.containing_oneof.name if f.containing_oneof is not None else None
        self.plan = plan
        self.enum = {v.name: v.number for v in f.enum_type.values} if kind == _ENUM else None
        wire = _LEN if kind in (_STRING, _MESSAGE, _TIMESTAMP_FIELD, _STRUCT_FIELD, _VALUE_FIELD, _LIST_FIELD) \
            else _I64 if kind == _DOUBLE else _VARINT
        self.tag = _tag(f.number, wire)


class _Plan:
    """How to write one message type: each key it may be given (json name or proto name)."""

    __slots__ = ("fields",)

    def __init__(self) -> None:
        self.fields: dict[str, _Field] = {}

    def fill(self, desc: descriptor.Descriptor) -> None:
        for f in desc.fields:
            sub = f.message_type
            if sub is not None:
                if sub.GetOptions().map_entry:
                    continue  # a map: not in the plan, so ParseDict does it
                kind = _WKT_KINDS.get(sub.full_name, -1 if sub.full_name.startswith("google.protobuf.")
                                      else _MESSAGE)
                if kind == -1 or (f.is_repeated and kind != _MESSAGE):
                    continue
            else:
                kind = _KINDS.get(f.type, -1)
                if kind == -1 or (f.is_repeated and kind != _STRING):
                    continue  # bytes, floats, fixed ints, repeated numbers: ParseDict
            field = _Field(f, kind, _plan(sub) if kind == _MESSAGE else None)
            self.fields[f.json_name] = field
            self.fields[f.name] = field


_plans: dict[str, _Plan] = {}


def _plan(desc: descriptor.Descriptor) -> _Plan:
    plan = _plans.get(desc.full_name)
    if plan is None:
        plan = _plans[desc.full_name] = _Plan()  # in the table first: types may nest themselves
        plan.fill(desc)
    return plan


def _message(plan: _Plan, data: Any, depth: int) -> bytearray:
    if type(data) is not dict:
        raise Unsupported("not an object")
    if depth > MAX_DEPTH:
        raise Unsupported("nested too deep")
    out = bytearray()
    oneofs: set[str] | None = None
    for key, value in data.items():
        field = plan.fields.get(key)
        if field is None:
            raise Unsupported(key)
        if key != field.json_name and field.json_name in data:
            raise Unsupported(key)  # given twice (json and proto name): ParseDict says so
        if value is None:
            if field.kind == _VALUE_FIELD:
                raise Unsupported(key)  # a null Value is set, not skipped
            continue
        if field.oneof is not None:
            if oneofs is None:
                oneofs = set()
            elif field.oneof in oneofs:
                raise Unsupported(field.oneof)  # two members of one oneof: ParseDict says so
            oneofs.add(field.oneof)
        if field.repeated:
            if type(value) is not list:
                raise Unsupported(key)
            for item in value:
                if item is None:
                    raise Unsupported(key)
                _write(out, field, item, True, depth)
        else:
            _write(out, field, value, field.presence, depth)
    return out


def _write(out: bytearray, field: _Field, value: Any, present: bool, depth: int) -> None:
    """One value of ``field``; a proto3 scalar without presence is left out at its default."""
    kind = field.kind
    if kind == _STRING:
        if type(value) is not str:
            raise Unsupported(field.name)
        if value or present:
            _put(out, field.tag, value.encode())
    elif kind == _MESSAGE:
        assert field.plan is not None
        _put(out, field.tag, _message(field.plan, value, depth + 1))
    elif kind == _ENUM:
        assert field.enum is not None
        number = field.enum.get(value) if type(value) is str else None
        if number is None:
            raise Unsupported(field.name)
        if number or present:
            out += field.tag
            _varint(out, number & 0xFFFFFFFFFFFFFFFF)
    elif kind == _BOOL:
        if type(value) is not bool:
            raise Unsupported(field.name)
        if value or present:
            out += field.tag
            out.append(1 if value else 0)
    elif kind == _TIMESTAMP_FIELD:
        _put(out, field.tag, _timestamp(value))
    elif kind == _STRUCT_FIELD:
        _put(out, field.tag, _struct(value, depth + 1))
    elif kind == _VALUE_FIELD:
        _put(out, field.tag, _value(value, depth + 1))
    elif kind == _LIST_FIELD:
        _put(out, field.tag, _list(value, depth + 1))
    elif kind == _DOUBLE:
        try:
            number = float(value) if type(value) in (int, float) else math.nan
        except OverflowError as exc:
            raise Unsupported(field.name) from exc
        if not math.isfinite(number):
            raise Unsupported(field.name)
        if number or present or math.copysign(1.0, number) < 0:
            out += field.tag
            out += _pack_double(number)
    else:  # the ints
        low, high = _RANGES[kind]
        if type(value) is not int or not low <= value <= high:
            raise Unsupported(field.name)
        if value or present:
            out += field.tag
            _varint(out, value & 0xFFFFFFFFFFFFFFFF)


_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z")
_EPOCH_DAY = datetime.date(1970, 1, 1).toordinal()


def _timestamp(value: Any) -> bytearray:
    """A Timestamp from its RFC 3339 text, as ``Timestamp.FromJsonString`` reads it."""
    if type(value) is not str:
        raise Unsupported("timestamp")
    m = _ISO.fullmatch(value)
    try:
        if m is not None:  # the form the daemon writes: UTC, "Z"
            year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
            datetime.datetime(year, month, day, hour, minute, second)  # a real date and time
            seconds = ((datetime.date(year, month, day).toordinal() - _EPOCH_DAY) * 86400
                       + hour * 3600 + minute * 60 + second)
            nanos = int((m.group(7) or "0").ljust(9, "0"))
        else:
            ts = timestamp_pb2.Timestamp()
            ts.FromJsonString(value)
            seconds, nanos = ts.seconds, ts.nanos
    except ValueError as exc:
        raise Unsupported(str(exc)) from exc
    out = bytearray()
    if seconds:
        out.append(0x08)
        _varint(out, seconds & 0xFFFFFFFFFFFFFFFF)
    if nanos:
        out.append(0x10)
        _varint(out, nanos)
    return out


def _struct(value: Any, depth: int) -> bytearray:
    if type(value) is not dict or depth > MAX_DEPTH:
        raise Unsupported("struct")
    out = bytearray()
    for key, item in value.items():
        if type(key) is not str:
            raise Unsupported("struct key")
        entry = bytearray()
        _put(entry, b"\x0a", key.encode())
        _put(entry, b"\x12", _value(item, depth + 1))
        _put(out, b"\x0a", entry)
    return out


def _list(value: Any, depth: int) -> bytearray:
    if type(value) is not list or depth > MAX_DEPTH:
        raise Unsupported("list")
    out = bytearray()
    for item in value:
        _put(out, b"\x0a", _value(item, depth + 1))
    return out


def _value(value: Any, depth: int) -> bytes | bytearray:
    kind = type(value)
    if value is None:
        return b"\x08\x00"
    if kind is str:
        out = bytearray()
        _put(out, b"\x1a", value.encode())
        return out
    if kind is bool:
        return b"\x20\x01" if value else b"\x20\x00"
    if kind is int or kind is float:
        try:
            number = float(value)
        except OverflowError as exc:
            raise Unsupported("number") from exc
        if not math.isfinite(number):
            raise Unsupported("number")
        return b"\x11" + _pack_double(number)
    out = bytearray()
    if kind is dict:
        _put(out, b"\x2a", _struct(value, depth + 1))
    elif kind is list:
        _put(out, b"\x32", _list(value, depth + 1))
    else:
        raise Unsupported("value")
    return out


def encode(data: Any, cls: type[message.Message]) -> bytes:
    """The wire bytes of ``cls`` built from A2A JSON ``data`` (:class:`Unsupported`: use
    ``ParseDict``)."""
    try:
        return bytes(_message(_plan(cls.DESCRIPTOR), data, 1))
    except UnicodeEncodeError as exc:  # a lone surrogate: not UTF-8
        raise Unsupported(str(exc)) from exc


# -- reading -----------------------------------------------------------------------------------

_Reader = tuple[str, Callable[[Any], Any]]
_readers: dict[descriptor.FieldDescriptor, _Reader] = {}


def _same(value: Any) -> Any:
    return value


def _float(value: float) -> Any:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"


def _json_timestamp(value: Any) -> str:
    try:
        text: str = value.ToJsonString()
    except ValueError as exc:  # outside years 1..9999, or negative nanos: MessageToDict says why
        raise Unsupported(str(exc)) from exc
    return text


def _json_value(value: Any) -> Any:
    which = value.WhichOneof("kind")
    if which is None or which == "null_value":
        return None
    if which == "struct_value":
        return _json_struct(value.struct_value)
    if which == "list_value":
        return _json_list(value.list_value)
    if which == "number_value":
        if not math.isfinite(value.number_value):
            raise Unsupported("number")  # MessageToDict refuses it, with its own words
        return value.number_value
    return getattr(value, which)


def _json_struct(value: Any) -> dict[str, Any]:
    return {key: _json_value(item) for key, item in value.fields.items()}


def _json_list(value: Any) -> list[Any]:
    return [_json_value(item) for item in value.values]


def _reader(f: descriptor.FieldDescriptor) -> _Reader:
    sub = f.message_type
    one: Callable[[Any], Any]
    if sub is not None:
        if sub.GetOptions().map_entry:
            raise Unsupported(f.name)
        if sub.full_name == _TIMESTAMP:
            one = _json_timestamp
        elif sub.full_name == _STRUCT:
            one = _json_struct
        elif sub.full_name == _VALUE:
            one = _json_value
        elif sub.full_name == _LIST_VALUE:
            one = _json_list
        elif sub.full_name.startswith("google.protobuf."):
            raise Unsupported(f.name)
        else:
            one = to_json
    elif f.type == _FD.TYPE_ENUM:
        names = {v.number: v.name for v in f.enum_type.values}

        def one(value: int) -> Any:
            return names.get(value, value)
    elif f.type == _FD.TYPE_BYTES:
        def one(value: bytes) -> Any:
            return base64.b64encode(value).decode()
    elif f.type in (_FD.TYPE_INT64, _FD.TYPE_UINT64, _FD.TYPE_SINT64, _FD.TYPE_FIXED64, _FD.TYPE_SFIXED64):
        one = str
    elif f.type == _FD.TYPE_DOUBLE:
        one = _float
    elif f.type == _FD.TYPE_FLOAT:
        raise Unsupported(f.name)  # MessageToDict rounds it to the shortest float
    else:
        one = _same
    if f.is_repeated:
        def many(values: Any) -> Any:
            return [one(v) for v in values]

        reader: _Reader = (f.json_name, many)
    else:
        reader = (f.json_name, one)
    _readers[f] = reader
    return reader


def to_json(msg: message.Message) -> dict[str, Any]:
    """What ``MessageToDict(msg)`` gives, for an A2A request (:class:`Unsupported`: use it)."""
    out: dict[str, Any] = {}
    for f, value in msg.ListFields():
        reader = _readers.get(f) or _reader(f)
        out[reader[0]] = reader[1](value)
    return out
