"""A2A 0.3 shapes and their conversion to and from 1.0, checked against the official SDK.

The SDK's own 0.3 models (``a2a.compat.v0_3.types``) read our 0.3 JSON and write JSON we
read back equal; the SDK's converters (``a2a.compat.v0_3.conversions``) and ours agree on
every sample; and 0.3 → 1.0 → 0.3 keeps every field both versions have.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from a2a.compat.v0_3 import conversions as sdk_conv
from a2a.compat.v0_3 import types as sdk03
from a2a.types import a2a_pb2 as pb
from codetether.daemon.wire import a2a
from codetether.daemon.wire.a2a import v0_3
from google.protobuf.json_format import MessageToDict, ParseDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SEND_PARAMS = {
    "message": {
        "kind": "message", "messageId": "m1", "role": "user", "contextId": "c1", "taskId": "t1",
        "parts": [{"kind": "text", "text": "hello"},
                  {"kind": "file", "file": {"bytes": "aGk=", "mimeType": "text/plain", "name": "a.txt"}},
                  {"kind": "file", "file": {"uri": "https://x.example/f", "mimeType": "image/png"}},
                  {"kind": "data", "data": {"k": [1, 2]}, "metadata": {"m": "v"}}],
        "referenceTaskIds": ["t0"], "extensions": ["urn:e"], "metadata": {"a": "b"},
    },
    "configuration": {"acceptedOutputModes": ["text/plain"], "blocking": False, "historyLength": 4,
                      "pushNotificationConfig": {"url": "https://hook.example", "token": "tok", "id": "p1",
                                                 "authentication": {"schemes": ["Bearer"], "credentials": "cr"}}},
    "metadata": {"x": 1},
}
TASK = {
    "kind": "task", "id": "t1", "contextId": "c1",
    "status": {"state": "input-required", "timestamp": "2025-01-01T00:00:00Z",
               "message": {"kind": "message", "messageId": "s1", "role": "agent", "parts": [{"kind": "text", "text": "?"}]}},
    "artifacts": [{"artifactId": "a1", "name": "out", "parts": [{"kind": "text", "text": "x"}]}],
    "history": [{"kind": "message", "messageId": "m1", "role": "user", "parts": [{"kind": "text", "text": "hi"}]}],
    "metadata": {"k": "v"},
}
STATUS = {"kind": "status-update", "taskId": "t1", "contextId": "c1", "status": {"state": "completed"}, "final": True}
ARTIFACT = {"kind": "artifact-update", "taskId": "t1", "contextId": "c1", "append": True, "lastChunk": True,
            "artifact": {"artifactId": "a1", "parts": [{"kind": "text", "text": "chunk"}]}}


@pytest.mark.parametrize(("kind", "raw"), [
    (v0_3.MessageSendParams, SEND_PARAMS), (v0_3.Task, TASK),
    (v0_3.TaskStatusUpdateEvent, STATUS), (v0_3.TaskArtifactUpdateEvent, ARTIFACT),
])
def test_0_3_json_decodes_and_reencodes_unchanged(kind: type[msgspec.Struct], raw: dict[str, Any]) -> None:
    obj = msgspec.json.decode(json.dumps(raw), type=kind)
    assert json.loads(msgspec.json.encode(obj)) == raw


def test_stream_items_are_told_apart_by_kind() -> None:
    items = msgspec.convert([TASK, STATUS, ARTIFACT, SEND_PARAMS["message"]], list[v0_3.StreamItem])
    assert [type(i) for i in items] == [v0_3.Task, v0_3.TaskStatusUpdateEvent, v0_3.TaskArtifactUpdateEvent, v0_3.Message]


def test_a_file_needs_bytes_or_uri() -> None:
    with pytest.raises(msgspec.ValidationError, match="`bytes`, `uri`"):
        msgspec.convert({"kind": "file", "file": {"mimeType": "x/y"}}, v0_3.FilePart)


def test_the_method_table_covers_every_0_3_method() -> None:
    assert {m: v.name for m, v in v0_3.V03_METHODS.items()} == {
        "message/send": "SendMessage", "message/stream": "SendStreamingMessage", "tasks/get": "GetTask",
        "tasks/cancel": "CancelTask", "tasks/resubscribe": "SubscribeToTask",
        "tasks/pushNotificationConfig/set": "CreateTaskPushNotificationConfig",
        "tasks/pushNotificationConfig/get": "GetTaskPushNotificationConfig",
        "tasks/pushNotificationConfig/list": "ListTaskPushNotificationConfigs",
        "tasks/pushNotificationConfig/delete": "DeleteTaskPushNotificationConfig",
        "agent/getAuthenticatedExtendedCard": "GetExtendedAgentCard",
    }


def test_send_params_become_the_1_0_request() -> None:
    name, to_v1, _ = v0_3.V03_METHODS["message/send"]
    assert name == "SendMessage"
    request = to_v1(SEND_PARAMS)
    assert isinstance(request, a2a.SendMessageRequest)
    assert request.message.role == "ROLE_USER" and request.message.context_id == "c1"
    assert request.message.parts[0] == a2a.Part(text="hello")
    assert request.message.parts[1] == a2a.Part(raw=b"hi", filename="a.txt", media_type="text/plain")
    assert request.message.parts[2] == a2a.Part(url="https://x.example/f", media_type="image/png")
    assert request.configuration == a2a.SendMessageConfiguration(
        accepted_output_modes=["text/plain"], history_length=4, return_immediately=True,
        task_push_notification_config=a2a.TaskPushNotificationConfig(
            id="p1", url="https://hook.example", token="tok",
            authentication=a2a.AuthenticationInfo(scheme="Bearer", credentials="cr")))
    # the same as the official SDK's converter makes of it
    sdk = sdk_conv.to_core_send_message_request(sdk03.SendMessageRequest(id=1, params=sdk03.MessageSendParams.model_validate(SEND_PARAMS)))
    assert msgspec.convert(MessageToDict(sdk), a2a.SendMessageRequest) == request


@pytest.mark.parametrize(("method", "params", "expected"), [
    ("tasks/get", {"id": "t", "historyLength": 2}, a2a.GetTaskRequest(id="t", history_length=2)),
    ("tasks/get", {"id": "t", "historyLength": 0}, a2a.GetTaskRequest(id="t")),
    ("tasks/cancel", {"id": "t", "metadata": {"a": 1}}, a2a.CancelTaskRequest(id="t", metadata={"a": 1})),
    ("tasks/resubscribe", {"id": "t"}, a2a.SubscribeToTaskRequest(id="t")),
    ("tasks/pushNotificationConfig/set", {"taskId": "t", "pushNotificationConfig": {"url": "https://h", "id": "p"}},
     a2a.TaskPushNotificationConfig(task_id="t", id="p", url="https://h")),
    ("tasks/pushNotificationConfig/get", {"id": "t", "pushNotificationConfigId": "p"},
     a2a.GetTaskPushNotificationConfigRequest(task_id="t", id="p")),
    ("tasks/pushNotificationConfig/get", {"id": "t"}, a2a.GetTaskPushNotificationConfigRequest(task_id="t", id="")),
    ("tasks/pushNotificationConfig/list", {"id": "t"}, a2a.ListTaskPushNotificationConfigsRequest(task_id="t")),
    ("tasks/pushNotificationConfig/delete", {"id": "t", "pushNotificationConfigId": "p"},
     a2a.DeleteTaskPushNotificationConfigRequest(task_id="t", id="p")),
    ("agent/getAuthenticatedExtendedCard", None, a2a.GetExtendedAgentCardRequest()),
])
def test_0_3_params_become_1_0_requests(method: str, params: Any, expected: msgspec.Struct) -> None:
    assert v0_3.V03_METHODS[method].to_v1(params) == expected


def test_bad_params_are_a_validation_error() -> None:
    with pytest.raises(msgspec.ValidationError, match="`id`"):
        v0_3.V03_METHODS["tasks/get"].to_v1({"historyLength": 1})


@pytest.mark.parametrize(("state", "final"), [
    ("TASK_STATE_WORKING", False), ("TASK_STATE_SUBMITTED", False), ("TASK_STATE_COMPLETED", True),
    ("TASK_STATE_FAILED", True), ("TASK_STATE_CANCELED", True), ("TASK_STATE_REJECTED", True),
    ("TASK_STATE_INPUT_REQUIRED", True), ("TASK_STATE_AUTH_REQUIRED", True),
])
def test_a_stream_ends_with_final_on_a_terminal_or_interrupted_state(state: a2a.TaskState, final: bool) -> None:
    item = a2a.StreamResponse(status_update=a2a.TaskStatusUpdateEvent(task_id="t", context_id="c", status=a2a.TaskStatus(state=state)))
    out = v0_3.from_v1_stream_response(item)
    assert isinstance(out, v0_3.TaskStatusUpdateEvent) and out.final is final
    assert json.loads(msgspec.json.encode(out))["final"] is final


def test_stream_results_convert_like_the_sdk() -> None:
    items = [
        a2a.StreamResponse(task=v0_3.to_v1_task(msgspec.convert(TASK, v0_3.Task))),
        a2a.StreamResponse(artifact_update=a2a.TaskArtifactUpdateEvent(
            task_id="t", context_id="c", append=True, artifact=a2a.Artifact(artifact_id="a", parts=[a2a.Part(text="x")]))),
        a2a.StreamResponse(status_update=a2a.TaskStatusUpdateEvent(task_id="t", context_id="c",
                                                                   status=a2a.TaskStatus(state="TASK_STATE_COMPLETED"))),
        a2a.StreamResponse(message=a2a.Message(message_id="m", role="ROLE_AGENT", parts=[a2a.Part(data=[1, "x"])])),
    ]
    for item in items:
        ours = json.loads(msgspec.json.encode(v0_3.from_v1_stream_response(item)))
        sdk_item = sdk_conv.to_compat_stream_response(ParseDict(msgspec.to_builtins(item), pb.StreamResponse())).result
        theirs = sdk_item.model_dump(mode="json", by_alias=True, exclude_none=True)
        # the SDK writes ``append``/``lastChunk`` false and empty lists where we leave them out
        theirs = {k: v for k, v in theirs.items() if v not in (False, [])}
        assert ours == theirs


def test_a_non_object_data_part_travels_like_the_sdk_wraps_it() -> None:
    part = a2a.Part(data=[1, 2], metadata={"m": "v"})
    old = v0_3.from_v1_part(part)
    assert msgspec.to_builtins(old) == {"kind": "data", "data": {"value": [1, 2]}, "metadata": {"m": "v", "data_part_compat": True}}
    assert v0_3.to_v1_part(old) == part


def test_push_configs_and_their_list_go_back_to_0_3() -> None:
    config = a2a.TaskPushNotificationConfig(tenant="x", id="p", task_id="t", url="https://h", token="tok",
                                            authentication=a2a.AuthenticationInfo(scheme="Bearer"))
    old = v0_3.V03_METHODS["tasks/pushNotificationConfig/get"].from_v1(config)
    assert msgspec.to_builtins(old) == {"taskId": "t", "pushNotificationConfig": {
        "url": "https://h", "id": "p", "token": "tok", "authentication": {"schemes": ["Bearer"]}}}
    listed = v0_3.V03_METHODS["tasks/pushNotificationConfig/list"].from_v1(a2a.ListTaskPushNotificationConfigsResponse(configs=[config]))
    assert listed == [old]
    assert v0_3.V03_METHODS["tasks/pushNotificationConfig/delete"].from_v1(None) is None
    sdk = sdk_conv.to_compat_task_push_notification_config(ParseDict(msgspec.to_builtins(config), pb.TaskPushNotificationConfig()))
    assert sdk.model_dump(mode="json", by_alias=True, exclude_none=True) == msgspec.to_builtins(old)


def test_the_extended_card_goes_back_to_0_3_and_the_sdk_reads_it() -> None:
    card = a2a.AgentCard(
        name="ct", description="d", version="1",
        supported_interfaces=[a2a.AgentInterface(url="http://h/a2a", protocol_binding="JSONRPC", protocol_version="1.0"),
                              a2a.AgentInterface(url="h:1", protocol_binding="GRPC", protocol_version="1.0")],
        capabilities=a2a.AgentCapabilities(streaming=True, extended_agent_card=True),
        security_schemes={"bearer": a2a.SecurityScheme(http_auth_security_scheme=a2a.HTTPAuthSecurityScheme(scheme="bearer")),
                          "key": a2a.SecurityScheme(api_key_security_scheme=a2a.APIKeySecurityScheme(location="header", name="K"))},
        security_requirements=[a2a.SecurityRequirement(schemes={"bearer": a2a.StringList()})],
        default_input_modes=["text/plain"], default_output_modes=["text/plain"],
        skills=[a2a.AgentSkill(id="s", name="S", description="d", tags=["t"])],
    )
    old = v0_3.V03_METHODS["agent/getAuthenticatedExtendedCard"].from_v1(card)
    raw = msgspec.to_builtins(old)
    assert raw["url"] == "http://h/a2a" and raw["preferredTransport"] == "JSONRPC"
    assert raw["additionalInterfaces"] == [{"url": "h:1", "transport": "GRPC"}]
    assert raw["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    assert raw["securitySchemes"]["key"] == {"type": "apiKey", "in": "header", "name": "K"}
    assert raw["security"] == [{"bearer": []}] and raw["supportsAuthenticatedExtendedCard"] is True
    back = sdk03.AgentCard.model_validate(raw).model_dump(mode="json", by_alias=True, exclude_none=True)
    assert msgspec.convert(back, v0_3.AgentCard) == old


def test_our_client_side_round_trip() -> None:
    request = v0_3.V03_METHODS["message/send"].to_v1(SEND_PARAMS)
    assert isinstance(request, a2a.SendMessageRequest)
    params = v0_3.from_v1_send_request(request)
    assert msgspec.to_builtins(params) == SEND_PARAMS
    task = msgspec.convert(TASK, v0_3.Task)
    assert v0_3.to_v1_send_result(task) == a2a.SendMessageResponse(task=v0_3.to_v1_task(task))
    for raw in (TASK, STATUS, ARTIFACT):
        item = msgspec.convert(raw, v0_3.StreamItem)
        again = v0_3.from_v1_stream_response(v0_3.to_v1_stream_item(item))
        assert again == item


# -- properties: 0.3 -> 1.0 -> 0.3 keeps what both versions have ------------------------

_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=10)
_some = _text.filter(bool)
_json = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-(2**31), 2**31), _text),
                     lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_text, inner, max_size=3)),
                     max_leaves=5)
_meta = st.none() | st.dictionaries(_text.filter(lambda k: k != "data_part_compat"), _json, max_size=2)
_opt = st.none() | _some

parts03 = st.one_of(
    st.builds(v0_3.TextPart, text=_text, metadata=_meta),
    st.builds(v0_3.FilePart, metadata=_meta, file=st.one_of(
        st.builds(v0_3.FileContent, bytes=st.binary(max_size=8), mime_type=_opt, name=_opt),
        st.builds(v0_3.FileContent, uri=_some, mime_type=_opt, name=_opt))),
    st.builds(v0_3.DataPart, data=st.dictionaries(_text, _json, max_size=3), metadata=_meta),
)
messages03 = st.builds(
    v0_3.Message, message_id=_some, role=st.sampled_from(["user", "agent"]), parts=st.lists(parts03, min_size=1, max_size=3),
    context_id=_opt, task_id=_opt, reference_task_ids=st.lists(_text, max_size=2), extensions=st.lists(_text, max_size=2),
    metadata=_meta,
)
tasks03 = st.builds(
    v0_3.Task, id=_some, context_id=_text,
    status=st.builds(v0_3.TaskStatus, state=st.sampled_from(v0_3.TaskState.__args__), message=st.none() | messages03,
                     timestamp=st.none() | st.just("2025-06-01T12:00:00.5Z")),
    artifacts=st.lists(st.builds(v0_3.Artifact, artifact_id=_some, name=_opt, description=_opt,
                                 parts=st.lists(parts03, min_size=1, max_size=2), metadata=_meta,
                                 extensions=st.lists(_text, max_size=1)), max_size=2),
    history=st.lists(messages03, max_size=2), metadata=_meta,
)
_fast = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_fast
@given(messages03)
def test_any_0_3_message_survives_1_0_and_back(message: v0_3.Message) -> None:
    assert v0_3.from_v1_message(v0_3.to_v1_message(message)) == message
    assert msgspec.json.decode(msgspec.json.encode(message), type=v0_3.Message) == message


@_fast
@given(tasks03)
def test_any_0_3_task_survives_1_0_and_back(task: v0_3.Task) -> None:
    assert v0_3.from_v1_task(v0_3.to_v1_task(task)) == task
    raw = msgspec.to_builtins(task)
    # the official SDK's 0.3 model reads our JSON, and we read what it writes
    back = sdk03.Task.model_validate(raw).model_dump(mode="json", by_alias=True, exclude_none=True)
    assert msgspec.convert(back, v0_3.Task) == task
