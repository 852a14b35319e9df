"""Proto field names (``history_length``) accepted beside the JSON names (``historyLength``),
as a ProtoJSON parser does: renamed where a Struct is expected, never inside free JSON."""

from __future__ import annotations

import msgspec
from codetether.daemon.wire import a2a
from codetether.daemon.wire.a2a import camel_keys


def test_top_level_and_nested_fields_are_renamed() -> None:
    raw = {"message": {"message_id": "m", "role": "ROLE_USER", "context_id": "c",
                       "parts": [{"text": "hi", "media_type": "text/plain"}]},
           "configuration": {"history_length": 2, "return_immediately": True,
                             "task_push_notification_config": {"url": "https://x.example/h", "token": "t"}}}
    req = msgspec.convert(camel_keys(raw, a2a.SendMessageRequest), a2a.SendMessageRequest)
    assert req.message.message_id == "m" and req.message.context_id == "c"
    assert req.message.parts[0].media_type == "text/plain"
    assert req.configuration is not None and req.configuration.history_length == 2
    assert req.configuration.return_immediately is True
    assert req.configuration.task_push_notification_config is not None
    assert req.configuration.task_push_notification_config.token == "t"


def test_free_json_and_unknown_keys_are_left_as_sent() -> None:
    raw = {"message": {"messageId": "m", "role": "ROLE_USER", "parts": [{"data": {"snake_key": 1}}],
                       "metadata": {"some_key": "v"}}, "metadata": {"other_key": 2}, "not_a_field": 3}
    out = camel_keys(raw, a2a.SendMessageRequest)
    assert out["message"]["parts"][0]["data"] == {"snake_key": 1}
    assert out["message"]["metadata"] == {"some_key": "v"}
    assert out["metadata"] == {"other_key": 2} and out["not_a_field"] == 3


def test_the_json_name_wins_when_both_are_sent() -> None:
    out = camel_keys({"id": "t", "history_length": 5, "historyLength": 1}, a2a.GetTaskRequest)
    assert out == {"id": "t", "historyLength": 1}


def test_card_maps_of_structs_are_walked() -> None:
    raw = {"name": "n", "description": "d", "version": "1", "supported_interfaces": [
        {"url": "u", "protocol_binding": "JSONRPC", "protocol_version": "1.0"}],
        "capabilities": {"push_notifications": True},
        "security_schemes": {"b": {"http_auth_security_scheme": {"scheme": "Bearer"}}}}
    card = msgspec.convert(camel_keys(raw, a2a.AgentCard), a2a.AgentCard)
    assert card.supported_interfaces[0].protocol_binding == "JSONRPC"
    assert card.capabilities.push_notifications is True
    scheme = card.security_schemes["b"].http_auth_security_scheme
    assert scheme is not None and scheme.scheme == "Bearer"
