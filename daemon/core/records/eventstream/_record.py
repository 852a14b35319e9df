"""The record written per event: one compact JSON object per line of ``events.jsonl``."""

from __future__ import annotations

from typing import Any

import msgspec

from ....wire.records import EventRecord

__all__ = ["EventRecord"]


class _Line(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The stored form: an EventRecord without its (derived) byte range."""

    seq: int
    ts: float
    session_id: str
    kind: str
    data: dict[str, Any]
    okr_id: str | None = None
    okr_run_id: str | None = None
    relay_id: str | None = None


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_Line)


def encode_line(line: _Line) -> bytes:
    """JSON escapes control characters, so the encoded record never holds a raw newline."""
    return _encoder.encode(line) + b"\n"


def decode_line(raw: bytes, *, offset: int) -> EventRecord:
    """Decode one stored line; raises ``msgspec.DecodeError`` on anything else."""
    line = _decoder.decode(raw)
    return EventRecord(
        seq=line.seq,
        ts=line.ts,
        session_id=line.session_id,
        kind=line.kind,
        data=line.data,
        okr_id=line.okr_id,
        okr_run_id=line.okr_run_id,
        relay_id=line.relay_id,
        offset=offset,
        length=len(raw),
    )
