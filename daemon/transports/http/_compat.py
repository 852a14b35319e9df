"""A2A 0.3 on the 1.0 methods: a 0.3 method name maps to its 1.0 method, its params are
converted up and its results (each item of a stream too) converted down, by the wire
layer's converters (``wire/a2a/v0_3.py``'s ``V03_METHODS``). Nothing here knows a 0.3
shape; this module only applies the table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from ...errors import CodetetherError, InvalidParams
from ...wire.a2a.v0_3 import V03_METHODS

__all__ = ["Target", "V03Table", "load_v03", "resolve"]

Converter = Callable[[Any], Any]
#: ``{0.3 method name: (1.0 method name, params 0.3 -> 1.0, result 1.0 -> 0.3)}``
V03Table = Mapping[str, tuple[str, Converter, Converter]]


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True, slots=True)
class Target:
    """The API method a request names, with the conversions its version needs."""

    name: str
    asked: str = ""
    params_up: Converter = _same
    result_down: Converter = _same

    def convert_params(self, raw: Any) -> Any:
        """The API's raw params (a JSON object) for the request's ``params``."""
        if self.params_up is _same:
            return raw
        try:
            converted = self.params_up({} if raw is None else raw)
        except CodetetherError:
            raise
        except (msgspec.ValidationError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise InvalidParams(f"{self.asked}: {exc}") from exc
        if isinstance(converted, msgspec.Struct):
            return msgspec.to_builtins(converted)
        return converted

    def convert_result(self, result: Any) -> Any:
        """The result (or stream item) in the shape the request's version expects."""
        return self.result_down(result)


def resolve(table: V03Table, method: str) -> Target:
    """The target of ``method``: a 0.3 name through ``table``, anything else as itself."""
    entry = table.get(method)
    if entry is None:
        return Target(method)
    name, up, down = entry
    return Target(name, method, up, down)


def load_v03() -> V03Table:
    """The wire layer's 0.3 table (``wire/a2a/v0_3``'s ``V03_METHODS``)."""
    return V03_METHODS
