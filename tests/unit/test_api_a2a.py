"""The A2A method table: the 1.0 method names, typed and documented handlers, the cards."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from codetether.daemon.wire import a2a

from .test_tasks import peers


@pytest.fixture
async def make(short_dir: Path, scripted_app: Any) -> AsyncIterator[Callable[..., Any]]:
    async with peers(short_dir, scripted_app) as build:
        yield build

A2A_METHODS = [
    "CancelTask", "CreateTaskPushNotificationConfig", "DeleteTaskPushNotificationConfig",
    "GetAgentCard", "GetExtendedAgentCard", "GetTask", "GetTaskPushNotificationConfig",
    "ListTaskPushNotificationConfigs", "ListTasks", "SendMessage", "SendStreamingMessage",
    "SubscribeToTask",
]


async def test_the_table_holds_the_a2a_methods_only_each_documented(make: Callable[..., Any]):
    peer = await make([])
    assert peer.api.methods() == A2A_METHODS
    for name in A2A_METHODS:
        method = peer.api.method(name)
        assert method.handler.__doc__, f"{name} has no docstring"
    assert peer.api.method("SendStreamingMessage").streaming
    assert peer.api.method("SendStreamingMessage").result is None
    assert peer.api.method("SubscribeToTask").streaming


async def test_the_public_card_lists_the_listeners_skills_and_bearer_auth(make: Callable[..., Any]):
    peer = await make([], a2a_config='name = "tether"\ndescription = "Test agent."')
    peer.app.endpoints = {"http_url": "http://127.0.0.1:4096", "grpc_address": "127.0.0.1:50051"}  # type: ignore[attr-defined]
    card = await peer.call("GetAgentCard", {})
    assert isinstance(card, a2a.AgentCard)
    wire = msgspec.to_builtins(card)
    assert (wire["name"], wire["description"]) == ("tether", "Test agent.")
    bindings = {(i["protocolBinding"], i["url"]) for i in wire["supportedInterfaces"]}
    assert bindings == {("JSONRPC", "http://127.0.0.1:4096"), ("HTTP+JSON", "http://127.0.0.1:4096"),
                        ("GRPC", "127.0.0.1:50051")}
    assert all(i["protocolVersion"] == "1.0" for i in wire["supportedInterfaces"])
    assert wire["capabilities"] == {"streaming": True, "pushNotifications": True, "extendedAgentCard": True}
    assert wire["securitySchemes"]["bearer"]["httpAuthSecurityScheme"]["scheme"] == "Bearer"
    assert wire["securityRequirements"] == [{"schemes": {"bearer": {}}}]
    assert {s["id"] for s in wire["skills"]} == {"coding", "reading-code", "running-commands"}
    assert "kind" not in wire and "url" not in wire  # no 0.3 fields on a 1.0 card


async def test_without_endpoints_the_card_has_no_interfaces_and_the_extended_one_says_more(
        make: Callable[..., Any]):
    peer = await make([])
    card = await peer.call("GetAgentCard", {})
    assert card.supported_interfaces == []
    extended = await peer.call("GetExtendedAgentCard", {})
    assert extended.description.startswith(card.description) and "approval mode 'ask'" in extended.description


async def test_send_answers_a_send_message_response_with_the_task(make: Callable[..., Any]):
    peer = await make(["hi"])
    result = await peer.call("SendMessage", {"message": {"messageId": "m1", "role": "ROLE_USER",
                                                         "parts": [{"text": "hello"}]}})
    wire = msgspec.to_builtins(result)
    assert list(wire) == ["task"] and wire["task"]["status"]["state"] == "TASK_STATE_COMPLETED"


async def test_binary_file_parts_are_content_type_not_supported(make: Callable[..., Any]):
    import pytest
    from codetether.daemon.errors import ContentTypeNotSupported

    peer = await make(["hi"])
    part = {"raw": "iVBORw0KGgo=", "mediaType": "image/png", "filename": "x.png"}
    with pytest.raises(ContentTypeNotSupported):
        await peer.call("SendMessage", {"message": {"messageId": "m", "role": "ROLE_USER", "parts": [part]}})
    text_file = {"raw": "cHJpbnQoMSk=", "mediaType": "text/x-python", "filename": "a.py"}
    data = {"data": {"k": 1}}
    result = await peer.call("SendMessage", {"message": {"messageId": "m", "role": "ROLE_USER",
                                                         "parts": [{"text": "look"}, text_file, data]}})
    assert result.task.status.state == "TASK_STATE_COMPLETED"
    rec = await peer.a2a.manager.store.get(result.task.id)
    prompt = peer.app.runtime(rec.session_id).messages[0].content
    assert "print(1)" in prompt and '"k": 1' in prompt and "a.py" in prompt
