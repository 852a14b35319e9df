"""The A2A 1.0 Structs speak the proto3 JSON of the specification and of the official SDK.

The spec's own examples (section 6) decode and re-encode unchanged; oneofs reject zero or
two members and say which; and, the strongest check, our JSON parses into the SDK's
protobuf messages (``a2a.types.a2a_pb2``, strict: no unknown fields) and the SDK's
``MessageToDict`` of them decodes back to an equal Struct — for hand-picked samples of every
message and for any Part/Message/Task hypothesis builds.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from a2a.types import a2a_pb2 as pb
from codetether.daemon.wire import a2a
from google.protobuf.json_format import MessageToDict, ParseDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# -- the specification's examples (section 6) ----------------------------------------------

SPEC_EXAMPLES: list[tuple[type[msgspec.Struct], dict[str, Any]]] = [
    # 6.1 request and response
    (a2a.SendMessageRequest, {"message": {"role": "ROLE_USER", "parts": [{"text": "What is the weather today?"}], "messageId": "msg-uuid"}}),
    (a2a.SendMessageResponse, {"task": {
        "id": "task-uuid", "contextId": "context-uuid", "status": {"state": "TASK_STATE_COMPLETED"},
        "artifacts": [{"artifactId": "artifact-uuid", "name": "Weather Report",
                       "parts": [{"text": "Today will be sunny with a high of 75°F"}]}]}}),
    # 6.3 follow-up
    (a2a.SendMessageRequest, {"message": {"taskId": "task-uuid", "role": "ROLE_USER",
                                          "parts": [{"text": "From San Francisco to New York"}], "messageId": "msg-2"}}),
    # 6.5 listing
    (a2a.ListTasksResponse, {"tasks": [{"id": "3f36680c-7f37-4a5f-945e-d78981fafd36",
                                        "contextId": "c295ea44-7543-4f78-b524-7a38915ad6e4",
                                        "status": {"state": "TASK_STATE_COMPLETED", "timestamp": "2024-03-15T10:15:00Z"}}],
                             "totalSize": 5, "pageSize": 10, "nextPageToken": ""}),
    (a2a.ListTasksResponse, {"tasks": [{"id": "789abc-def0-1234-5678-9abcdef01234", "contextId": "another-context-id",
                                        "status": {"state": "TASK_STATE_WORKING",
                                                   "message": {"role": "ROLE_AGENT",
                                                               "parts": [{"text": "Processing your document analysis..."}],
                                                               "messageId": "msg-status-update"},
                                                   "timestamp": "2024-03-15T10:20:00Z"}}],
                             "totalSize": 1, "pageSize": 20, "nextPageToken": ""}),
    (a2a.ListTasksResponse, {"tasks": [], "totalSize": 15, "pageSize": 10, "nextPageToken": "base64-encoded-next-cursor-token"}),
    # 6.6 push notifications
    (a2a.SendMessageRequest, {
        "message": {"role": "ROLE_USER", "parts": [{"text": "Generate the Q1 sales report."}],
                    "messageId": "6dbc13b5-bd57-4c2b-b503-24e381b6c8d6"},
        "configuration": {"taskPushNotificationConfig": {
            "url": "https://client.example.com/webhook/a2a-notifications",
            "authentication": {"scheme": "Bearer", "credentials": "secure-client-token-for-task-aaa"}}}}),
    (a2a.SendMessageResponse, {"task": {"id": "43667960-d455-4453-b0cf-1bae4955270d",
                                        "contextId": "c295ea44-7543-4f78-b524-7a38915ad6e4",
                                        "status": {"state": "TASK_STATE_SUBMITTED", "timestamp": "2024-03-15T11:00:00Z"}}}),
    (a2a.StreamResponse, {"statusUpdate": {"taskId": "43667960-d455-4453-b0cf-1bae4955270d",
                                           "contextId": "c295ea44-7543-4f78-b524-7a38915ad6e4",
                                           "status": {"state": "TASK_STATE_COMPLETED", "timestamp": "2024-03-15T18:30:00Z"}}}),
    # 6.7 files (the spec's request is not valid JSON and its base64 is cut short; fixed here)
    (a2a.SendMessageRequest, {"message": {"role": "ROLE_USER", "messageId": "6dbc13b5",
                                          "parts": [{"text": "Analyze this image and highlight any faces."},
                                                    {"raw": "iVBORw0KGgoAAAANSUhEUgAAAAUA", "filename": "input_image.png",
                                                     "mediaType": "image/png"}]}}),
    (a2a.SendMessageResponse, {"task": {"id": "43667960", "contextId": "c295ea44",
                                        "status": {"state": "TASK_STATE_COMPLETED", "timestamp": "2024-03-15T12:05:00Z"},
                                        "artifacts": [{"artifactId": "9b6934dd", "name": "processed_image_with_faces.png",
                                                       "parts": [{"url": "https://storage.example.com/out.png?token=xyz",
                                                                  "filename": "output.png", "mediaType": "image/png"}]}]}}),
    # 6.8 structured data
    (a2a.SendMessageRequest, {"message": {"role": "ROLE_USER", "messageId": "85b26db5", "parts": [{
        "text": "Show me a list of my open IT tickets",
        "metadata": {"mediaType": "application/json", "schema": {"type": "array", "items": {
            "type": "object", "properties": {"ticketNumber": {"type": "string"}, "description": {"type": "string"}}}}}}]}}),
    (a2a.SendMessageResponse, {"task": {"id": "d8c6243f", "contextId": "c295ea44",
                                        "status": {"state": "TASK_STATE_COMPLETED", "timestamp": "2025-04-17T17:47:09.680794Z"},
                                        "artifacts": [{"artifactId": "c5e0382f", "parts": [{"text": "[{\"ticketNumber\":\"REQ12312\"}]"}]}]}}),
]


@pytest.mark.parametrize(("kind", "raw"), SPEC_EXAMPLES)
def test_spec_examples_decode_and_reencode_unchanged(kind: type[msgspec.Struct], raw: dict[str, Any]) -> None:
    obj = msgspec.json.decode(json.dumps(raw).encode(), type=kind)
    assert json.loads(msgspec.json.encode(obj)) == raw


@pytest.mark.parametrize(
    ("kind", "raw", "missing"),
    [
        # 6.2's stream items and 6.3's agent message leave out fields the proto marks
        # REQUIRED; we refuse them and say which (a server must not send them).
        (a2a.StreamResponse, {"statusUpdate": {"taskId": "t", "status": {"state": "TASK_STATE_COMPLETED"}}}, "contextId"),
        (a2a.StreamResponse, {"artifactUpdate": {"taskId": "t", "contextId": "c", "artifact": {"parts": [{"text": "#"}]}}}, "artifactId"),
        (a2a.TaskStatus, {"state": "TASK_STATE_INPUT_REQUIRED", "message": {"role": "ROLE_AGENT", "parts": [{"text": "?"}]}}, "messageId"),
        (a2a.SendMessageRequest, {"message": {"role": "ROLE_USER", "messageId": "m"}}, "parts"),
    ],
)
def test_missing_required_fields_are_named(kind: type[msgspec.Struct], raw: dict[str, Any], missing: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=f"missing required field `{missing}`"):
        msgspec.convert(raw, kind)


def test_the_spec_card_fragment_reads() -> None:
    caps = msgspec.convert({"extendedAgentCard": True}, a2a.AgentCapabilities)
    schemes = msgspec.convert(
        {"google": {"openIdConnectSecurityScheme": {"openIdConnectUrl": "https://accounts.google.com/x"}}},
        dict[str, a2a.SecurityScheme],
    )
    assert caps.extended_agent_card is True
    oidc = schemes["google"].open_id_connect_security_scheme
    assert oidc is not None and oidc.open_id_connect_url == "https://accounts.google.com/x"


# -- oneofs ---------------------------------------------------------------------------------

ONEOFS: list[tuple[type[msgspec.Struct], dict[str, Any], dict[str, Any], str]] = [
    (a2a.Part, {}, {"text": "a", "url": "https://x"}, "`text`, `raw`, `url`, `data`"),
    (a2a.SendMessageResponse, {}, {"task": {"id": "t", "status": {"state": "TASK_STATE_WORKING"}},
                                   "message": {"messageId": "m", "role": "ROLE_AGENT", "parts": [{"text": "x"}]}},
     "`task`, `message`"),
    (a2a.StreamResponse, {}, {"task": {"id": "t", "status": {"state": "TASK_STATE_WORKING"}},
                              "statusUpdate": {"taskId": "t", "contextId": "c", "status": {"state": "TASK_STATE_WORKING"}}},
     "`statusUpdate`"),
    (a2a.SecurityScheme, {}, {"mtlsSecurityScheme": {}, "httpAuthSecurityScheme": {"scheme": "Bearer"}}, "`mtlsSecurityScheme`"),
    (a2a.OAuthFlows, {}, {"implicit": {}, "password": {}}, "`deviceCode`"),
]


@pytest.mark.parametrize(("kind", "none", "two", "named"), ONEOFS)
def test_a_oneof_needs_exactly_one_member(kind: type[msgspec.Struct], none: dict[str, Any], two: dict[str, Any], named: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=re.escape(named)) as zero:
        msgspec.convert(none, kind)
    assert "got none" in str(zero.value)
    with pytest.raises(msgspec.ValidationError, match=re.escape(named)) as both:
        msgspec.convert(two, kind)
    assert "got none" not in str(both.value)


def test_a_oneof_error_carries_its_path() -> None:
    raw = {"message": {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "ok"}, {"metadata": {}}]}}
    with pytest.raises(msgspec.ValidationError, match=re.escape("at `$.message.parts[1]`")):
        msgspec.json.decode(json.dumps(raw), type=a2a.SendMessageRequest)


def test_a_oneof_built_in_code_is_checked_too() -> None:
    with pytest.raises(ValueError, match="got none"):
        a2a.Part()


def test_requests_ignore_fields_from_a_newer_client() -> None:
    raw = {"id": "t", "historyLength": 2, "someFutureField": {"x": 1}}
    assert msgspec.convert(raw, a2a.GetTaskRequest) == a2a.GetTaskRequest(id="t", history_length=2)


def test_raw_bytes_are_base64_and_enums_their_proto_names() -> None:
    part = a2a.Part(raw=b"\x00\xffhi", media_type="application/octet-stream")
    assert json.loads(msgspec.json.encode(part)) == {"raw": base64.b64encode(b"\x00\xffhi").decode(),
                                                    "mediaType": "application/octet-stream"}
    assert msgspec.json.encode(a2a.TaskStatus(state="TASK_STATE_INPUT_REQUIRED")) == b'{"state":"TASK_STATE_INPUT_REQUIRED"}'
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"state": "working"}, a2a.TaskStatus)


def test_list_tasks_response_always_carries_its_required_fields() -> None:
    assert json.loads(msgspec.json.encode(a2a.ListTasksResponse())) == {
        "tasks": [], "nextPageToken": "", "pageSize": 0, "totalSize": 0}
    assert msgspec.convert({}, a2a.ListTasksResponse) == a2a.ListTasksResponse()


def test_now_rfc3339_is_utc_and_parses() -> None:
    stamp = a2a.now_rfc3339()
    assert stamp.endswith("Z")
    parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert abs(parsed - datetime.now(UTC)) < timedelta(minutes=1)
    # and the SDK's Timestamp reads it
    ParseDict({"state": "TASK_STATE_WORKING", "timestamp": stamp}, pb.TaskStatus())


# -- cross-check with the official SDK's protobuf ---------------------------------------------


def _through_sdk(obj: msgspec.Struct, pb_type: Any) -> Any:
    """Our JSON → the SDK's protobuf (strict) → the SDK's JSON → our Struct."""
    ours = msgspec.to_builtins(obj)
    message = ParseDict(ours, pb_type(), ignore_unknown_fields=False)
    return msgspec.convert(MessageToDict(message), type(obj))


_MSG = a2a.Message(message_id="m1", context_id="c1", task_id="t1", role="ROLE_AGENT",
                   parts=[a2a.Part(text="hi", metadata={"k": [1.5, "x", None, True]}),
                          a2a.Part(raw=b"\x00\x01binary", filename="b.bin", media_type="application/octet-stream"),
                          a2a.Part(url="https://x.example/f.png", media_type="image/png"),
                          a2a.Part(data={"rows": [{"a": 1.0}], "n": None})],
                   metadata={"trace": "abc"}, extensions=["urn:ext"], reference_task_ids=["t0"])
_TASK = a2a.Task(id="t1", context_id="c1",
                 status=a2a.TaskStatus(state="TASK_STATE_INPUT_REQUIRED", message=_MSG, timestamp="2025-01-02T03:04:05.678Z"),
                 artifacts=[a2a.Artifact(artifact_id="a1", name="out", description="d", parts=[a2a.Part(text="x")],
                                         extensions=["urn:e"], metadata={"m": 1.0})],
                 history=[_MSG], metadata={"origin": "test"})
_PUSH = a2a.TaskPushNotificationConfig(tenant="ten", id="p1", task_id="t1", url="https://hook.example/a2a", token="tok",
                                       authentication=a2a.AuthenticationInfo(scheme="Bearer", credentials="secret"))
_CARD = a2a.AgentCard(
    name="codetether", description="a coding agent",
    supported_interfaces=[a2a.AgentInterface(url="http://127.0.0.1:1/a2a", protocol_binding="JSONRPC", protocol_version="1.0"),
                          a2a.AgentInterface(url="127.0.0.1:2", protocol_binding="GRPC", tenant="t", protocol_version="1.0")],
    provider=a2a.AgentProvider(url="https://example.org", organization="Example"),
    version="0.1.0", documentation_url="https://example.org/docs",
    capabilities=a2a.AgentCapabilities(streaming=True, push_notifications=False, extended_agent_card=True,
                                       extensions=[a2a.AgentExtension(uri="urn:x", description="d", required=True, params={"a": "b"})]),
    security_schemes={
        "bearer": a2a.SecurityScheme(http_auth_security_scheme=a2a.HTTPAuthSecurityScheme(scheme="Bearer", bearer_format="opaque")),
        "key": a2a.SecurityScheme(api_key_security_scheme=a2a.APIKeySecurityScheme(location="header", name="X-Key")),
        "oidc": a2a.SecurityScheme(open_id_connect_security_scheme=a2a.OpenIdConnectSecurityScheme(open_id_connect_url="https://o/.well-known")),
        "mtls": a2a.SecurityScheme(mtls_security_scheme=a2a.MutualTlsSecurityScheme(description="certs")),
        "oauth": a2a.SecurityScheme(oauth2_security_scheme=a2a.OAuth2SecurityScheme(
            flows=a2a.OAuthFlows(authorization_code=a2a.AuthorizationCodeOAuthFlow(
                authorization_url="https://o/auth", token_url="https://o/token", scopes={"read": "read it"}, pkce_required=True)),
            oauth2_metadata_url="https://o/meta")),
        "cc": a2a.SecurityScheme(oauth2_security_scheme=a2a.OAuth2SecurityScheme(
            flows=a2a.OAuthFlows(client_credentials=a2a.ClientCredentialsOAuthFlow(token_url="https://o/t", scopes={"w": "write"})))),
        "dev": a2a.SecurityScheme(oauth2_security_scheme=a2a.OAuth2SecurityScheme(
            flows=a2a.OAuthFlows(device_code=a2a.DeviceCodeOAuthFlow(device_authorization_url="https://o/d", token_url="https://o/t",
                                                                      scopes={"s": "S"})))),
        "imp": a2a.SecurityScheme(oauth2_security_scheme=a2a.OAuth2SecurityScheme(
            flows=a2a.OAuthFlows(implicit=a2a.ImplicitOAuthFlow(authorization_url="https://o/a", scopes={"s": "S"})))),
        "pw": a2a.SecurityScheme(oauth2_security_scheme=a2a.OAuth2SecurityScheme(
            flows=a2a.OAuthFlows(password=a2a.PasswordOAuthFlow(token_url="https://o/t", refresh_url="https://o/r", scopes={"s": "S"})))),
    },
    security_requirements=[a2a.SecurityRequirement(schemes={"bearer": a2a.StringList(), "oauth": a2a.StringList(list=["read"])})],
    default_input_modes=["text/plain"], default_output_modes=["text/plain", "application/json"],
    skills=[a2a.AgentSkill(id="code", name="Code", description="writes code", tags=["code"], examples=["fix the bug"],
                           input_modes=["text/plain"], output_modes=["text/plain"],
                           security_requirements=[a2a.SecurityRequirement(schemes={"bearer": a2a.StringList()})])],
    signatures=[a2a.AgentCardSignature(protected="eyJhbGciOiJFUzI1NiJ9", signature="c2ln", header={"kid": "k1"})],
    icon_url="https://example.org/icon.png",
)

SDK_SAMPLES: list[tuple[msgspec.Struct, Any]] = [
    (_MSG, pb.Message),
    (_TASK, pb.Task),
    (_PUSH, pb.TaskPushNotificationConfig),
    (_CARD, pb.AgentCard),
    (a2a.SendMessageRequest(tenant="ten", message=_MSG, metadata={"x": "y"},
                            configuration=a2a.SendMessageConfiguration(accepted_output_modes=["text/plain"], history_length=0,
                                                                       task_push_notification_config=_PUSH, return_immediately=True)),
     pb.SendMessageRequest),
    (a2a.SendMessageResponse(task=_TASK), pb.SendMessageResponse),
    (a2a.SendMessageResponse(message=_MSG), pb.SendMessageResponse),
    (a2a.StreamResponse(task=_TASK), pb.StreamResponse),
    (a2a.StreamResponse(message=_MSG), pb.StreamResponse),
    (a2a.StreamResponse(status_update=a2a.TaskStatusUpdateEvent(task_id="t1", context_id="c1", metadata={"a": "b"},
                                                                status=a2a.TaskStatus(state="TASK_STATE_COMPLETED"))), pb.StreamResponse),
    (a2a.StreamResponse(artifact_update=a2a.TaskArtifactUpdateEvent(task_id="t1", context_id="c1", append=True, last_chunk=True,
                                                                    artifact=a2a.Artifact(artifact_id="a", parts=[a2a.Part(text="x")]))),
     pb.StreamResponse),
    (a2a.GetTaskRequest(tenant="t", id="t1", history_length=3), pb.GetTaskRequest),
    (a2a.ListTasksRequest(tenant="t", context_id="c", status="TASK_STATE_WORKING", page_size=10, page_token="p",
                          history_length=0, status_timestamp_after="2025-01-01T00:00:00Z", include_artifacts=False),
     pb.ListTasksRequest),
    (a2a.ListTasksResponse(tasks=[_TASK], next_page_token="n", page_size=1, total_size=7), pb.ListTasksResponse),
    (a2a.CancelTaskRequest(tenant="t", id="t1", metadata={"why": "test"}), pb.CancelTaskRequest),
    (a2a.SubscribeToTaskRequest(tenant="t", id="t1"), pb.SubscribeToTaskRequest),
    (a2a.GetTaskPushNotificationConfigRequest(tenant="t", task_id="t1", id="p1"), pb.GetTaskPushNotificationConfigRequest),
    (a2a.DeleteTaskPushNotificationConfigRequest(tenant="t", task_id="t1", id="p1"), pb.DeleteTaskPushNotificationConfigRequest),
    (a2a.ListTaskPushNotificationConfigsRequest(tenant="t", task_id="t1", page_size=5, page_token="x"),
     pb.ListTaskPushNotificationConfigsRequest),
    (a2a.ListTaskPushNotificationConfigsResponse(configs=[_PUSH], next_page_token="n"), pb.ListTaskPushNotificationConfigsResponse),
    (a2a.GetExtendedAgentCardRequest(tenant="t"), pb.GetExtendedAgentCardRequest),
]


@pytest.mark.parametrize(("obj", "pb_type"), SDK_SAMPLES, ids=lambda v: getattr(v, "__name__", None) or type(v).__name__)
def test_the_official_sdk_reads_our_json_and_we_read_its(obj: msgspec.Struct, pb_type: Any) -> None:
    assert _through_sdk(obj, pb_type) == obj


def test_every_proto_message_of_the_wire_has_a_struct() -> None:
    wire_messages = {name for name in pb.DESCRIPTOR.message_types_by_name}
    assert wire_messages <= set(a2a.__all__)


def test_the_sdk_list_tasks_json_reads() -> None:
    # The SDK's server prints ListTasks with every no-presence field (zeros included).
    response = pb.ListTasksResponse(tasks=[pb.Task(id="t", status=pb.TaskStatus(state=pb.TASK_STATE_WORKING))])
    raw = MessageToDict(response, always_print_fields_with_no_presence=True)
    got = msgspec.convert(raw, a2a.ListTasksResponse)
    assert got.tasks[0].status.state == "TASK_STATE_WORKING" and got.total_size == 0


# -- properties -------------------------------------------------------------------------------

_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
_id = _text.filter(bool)
# protobuf's Struct keeps numbers as doubles: stay where that is exact
_number = st.one_of(st.integers(-(2**53), 2**53), st.floats(allow_nan=False, allow_infinity=False))
_json = st.recursive(st.one_of(st.none(), st.booleans(), _number, _text),
                     lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_text, inner, max_size=3)),
                     max_leaves=6)
_struct = st.dictionaries(_text, _json, max_size=3)
_media = st.sampled_from(["", "text/plain", "image/png", "application/json"])


def _timestamp(dt: datetime) -> str:
    # the form protobuf prints (no fraction, or 3/6/9 digits), so the SDK echoes it unchanged
    base = dt.strftime("%Y-%m-%dT%H:%M:%S")
    ms = dt.microsecond // 1000
    return f"{base}.{ms:03d}Z" if ms else f"{base}Z"


parts = st.builds(
    lambda content, metadata, filename, media: a2a.Part(**content, metadata=metadata, filename=filename, media_type=media),
    st.one_of(st.builds(lambda t: {"text": t}, _text), st.builds(lambda b: {"raw": b}, st.binary(max_size=16)),
              st.builds(lambda u: {"url": "https://x.example/" + u}, _text),
              st.builds(lambda d: {"data": d}, _json.filter(lambda v: v is not None))),
    st.none() | _struct, _text, _media,
)
messages = st.builds(
    a2a.Message, message_id=_id, context_id=_text, task_id=_text, role=st.sampled_from(["ROLE_USER", "ROLE_AGENT"]),
    parts=st.lists(parts, min_size=1, max_size=3), metadata=st.none() | _struct,
    extensions=st.lists(_text, max_size=2), reference_task_ids=st.lists(_text, max_size=2),
)
_states = st.sampled_from([s for s in a2a.TaskState.__args__ if s != "TASK_STATE_UNSPECIFIED"])
tasks = st.builds(
    a2a.Task, id=_id, context_id=_text,
    status=st.builds(a2a.TaskStatus, state=_states, message=st.none() | messages,
                     timestamp=st.none() | st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 1, 1)).map(_timestamp)),
    artifacts=st.lists(st.builds(a2a.Artifact, artifact_id=_id, name=_text, description=_text,
                                 parts=st.lists(parts, min_size=1, max_size=2), metadata=st.none() | _struct,
                                 extensions=st.lists(_text, max_size=1)), max_size=2),
    history=st.lists(messages, max_size=2), metadata=st.none() | _struct,
)

_fast = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_fast
@given(parts)
def test_any_part_survives_our_json_and_the_sdks(part: a2a.Part) -> None:
    assert msgspec.json.decode(msgspec.json.encode(part), type=a2a.Part) == part
    assert _through_sdk(part, pb.Part) == part


@_fast
@given(messages)
def test_any_message_survives_our_json_and_the_sdks(message: a2a.Message) -> None:
    assert msgspec.json.decode(msgspec.json.encode(message), type=a2a.Message) == message
    assert _through_sdk(message, pb.Message) == message


@_fast
@given(tasks)
def test_any_task_survives_our_json_and_the_sdks(task: a2a.Task) -> None:
    assert msgspec.json.decode(msgspec.json.encode(task), type=a2a.Task) == task
    assert _through_sdk(task, pb.Task) == task
