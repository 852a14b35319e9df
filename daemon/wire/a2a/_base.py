"""The common base of every A2A Struct and the oneof check.

Kept apart so ``_v1`` (tasks and messages) and ``_card`` (the agent card) share one
JSON configuration: the proto3 JSON mapping with camelCase names and omitted defaults.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

__all__ = ["Wire", "exactly_one", "now_rfc3339"]


class Wire(msgspec.Struct, rename="camel", omit_defaults=True, kw_only=True):
    """Base of the A2A Structs: proto field names in camelCase, defaults left out.

    Unknown fields are ignored (msgspec's default), so a newer peer's additions pass.
    """


def exactly_one(obj: object, names: tuple[str, ...]) -> None:
    """Raise ``ValueError`` unless exactly one of the oneof members ``names`` is set.

    Raised from ``__post_init__``, msgspec reports it as a ``ValidationError`` with the
    path on decode; the message names the members by their JSON (camelCase) names.
    """
    present = [n for n in names if getattr(obj, n) is not None]
    if len(present) == 1:
        return
    wanted = ", ".join(f"`{_camel(n)}`" for n in names)
    got = ", ".join(f"`{_camel(n)}`" for n in present) if present else "none"
    raise ValueError(f"{type(obj).__name__}: exactly one of {wanted} must be set, got {got}")


def now_rfc3339() -> str:
    """The current UTC time as an RFC 3339 timestamp (milliseconds, ``Z``), as A2A sends it."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)
