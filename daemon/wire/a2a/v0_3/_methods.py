"""The 0.3 JSON-RPC method names and how each one's params and results convert.

A transport that receives a 0.3 method does::

    name, to_v1, from_v1 = V03_METHODS[method]
    request = to_v1(params)          # JSON params (builtins) -> the 1.0 request Struct
    ...call the 1.0 method ``name``...
    result = from_v1(response)       # the 1.0 result (or each stream item) -> 0.3 Struct

``to_v1`` raises ``msgspec.ValidationError`` for params that do not fit (answer -32602).
For the two streaming methods ``from_v1`` converts one stream item.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, NamedTuple, TypeVar

import msgspec

from .. import _card as v1_card
from .. import _v1 as v1
from . import _convert as c
from . import _types as v03
from ._card import from_v1_agent_card

__all__ = ["V03_METHODS", "V03Method"]

_P = TypeVar("_P")


class V03Method(NamedTuple):
    """One 0.3 method: the 1.0 method it maps to and the two converters."""

    name: str
    to_v1: Callable[[Any], msgspec.Struct]
    from_v1: Callable[[Any], Any]


def _params(kind: type[_P], convert: Callable[[_P], msgspec.Struct]) -> Callable[[Any], msgspec.Struct]:
    def to_v1(raw: Any) -> msgspec.Struct:
        return convert(msgspec.convert({} if raw is None else raw, kind))

    return to_v1


def _list_configs(
    response: v1.ListTaskPushNotificationConfigsResponse,
) -> list[v03.TaskPushNotificationConfig]:
    return [c.from_v1_push_config(config) for config in response.configs]


def _nothing(_: object) -> None:
    return None


def _extended_card_request(_: Any) -> msgspec.Struct:
    return v1.GetExtendedAgentCardRequest()


def _card(card: v1_card.AgentCard) -> msgspec.Struct:
    return from_v1_agent_card(card)


V03_METHODS: Final[dict[str, V03Method]] = {
    "message/send": V03Method(
        "SendMessage", _params(v03.MessageSendParams, c.to_v1_send_request), c.from_v1_send_response
    ),
    "message/stream": V03Method(
        "SendStreamingMessage",
        _params(v03.MessageSendParams, c.to_v1_send_request),
        c.from_v1_stream_response,
    ),
    "tasks/get": V03Method("GetTask", _params(v03.TaskQueryParams, c.to_v1_get_task), c.from_v1_task),
    "tasks/cancel": V03Method("CancelTask", _params(v03.TaskIdParams, c.to_v1_cancel), c.from_v1_task),
    "tasks/resubscribe": V03Method(
        "SubscribeToTask", _params(v03.TaskIdParams, c.to_v1_subscribe), c.from_v1_stream_response
    ),
    "tasks/pushNotificationConfig/set": V03Method(
        "CreateTaskPushNotificationConfig",
        _params(v03.TaskPushNotificationConfig, c.to_v1_push_config),
        c.from_v1_push_config,
    ),
    "tasks/pushNotificationConfig/get": V03Method(
        "GetTaskPushNotificationConfig",
        _params(v03.GetTaskPushNotificationConfigParams, c.to_v1_get_push_config),
        c.from_v1_push_config,
    ),
    "tasks/pushNotificationConfig/list": V03Method(
        "ListTaskPushNotificationConfigs",
        _params(v03.ListTaskPushNotificationConfigParams, c.to_v1_list_push_configs),
        _list_configs,
    ),
    "tasks/pushNotificationConfig/delete": V03Method(
        "DeleteTaskPushNotificationConfig",
        _params(v03.DeleteTaskPushNotificationConfigParams, c.to_v1_delete_push_config),
        _nothing,
    ),
    "agent/getAuthenticatedExtendedCard": V03Method("GetExtendedAgentCard", _extended_card_request, _card),
}
