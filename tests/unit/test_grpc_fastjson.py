"""The fast A2A JSON <-> protobuf paths answer exactly what ``json_format`` does, or decline
(Unsupported) so the service falls back to it: :func:`encode` writes bytes that parse to
what ``ParseDict`` builds, :func:`to_json` reads what ``MessageToDict`` gives."""

from __future__ import annotations

import math
from typing import Any

import pytest
from codetether.daemon.transports.grpc._fastjson import Unsupported, encode, to_json
from codetether.daemon.transports.grpc._generated import a2a_pb2, a2a_v0_3_pb2
from google.protobuf import json_format, message
from hypothesis import given, settings
from hypothesis import strategies as st

TASK: dict[str, Any] = {
    "id": "t1", "contextId": "c1",
    "status": {"state": "TASK_STATE_COMPLETED", "timestamp": "2026-11-30T17:00:00.123Z",
               "message": {"messageId": "m3", "role": "ROLE_AGENT", "parts": [{"text": "done"}]}},
    "artifacts": [{"artifactId": "a", "name": "answer", "parts": [{"text": "ok"}, {"text": "é✓"}],
                   "extensions": ["", "x"]}],
    "history": [{"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "hi"}], "taskId": "t1",
                 "contextId": "c1", "metadata": {"k": [1, "two", None, {"x": True}], "f": False, "e": {}}}],
    "metadata": {"principal": "a2a:bearer", "n": 1.5, "neg": -3, "big": 2 ** 60, "l": []},
}

CASES: list[tuple[type[message.Message], dict[str, Any]]] = [
    (a2a_pb2.SendMessageResponse, {"task": TASK}),
    (a2a_pb2.SendMessageResponse, {"message": TASK["history"][0]}),
    (a2a_pb2.Task, TASK),
    (a2a_pb2.Task, {"id": "t2", "context_id": "c2", "status": {"state": "TASK_STATE_WORKING"}}),
    (a2a_pb2.Task, {"id": "", "status": {"state": "TASK_STATE_UNSPECIFIED", "timestamp": "1970-01-01T00:00:00Z"}}),
    (a2a_pb2.Task, {"id": "t", "status": {"timestamp": "1969-12-31T23:59:59.5Z"}}),
    (a2a_pb2.Task, {"id": "t", "status": {"timestamp": "2026-11-30T18:00:00+01:00"}}),  # the slow form
    (a2a_pb2.StreamResponse, {"statusUpdate": {"taskId": "t1", "contextId": "c1", "status": TASK["status"]}}),
    (a2a_pb2.StreamResponse, {"artifactUpdate": {"taskId": "t1", "contextId": "c1", "append": True,
                                                 "lastChunk": False, "artifact": TASK["artifacts"][0]}}),
    (a2a_pb2.ListTasksResponse, {"tasks": [TASK, TASK], "nextPageToken": "x", "pageSize": 2, "totalSize": 9}),
    (a2a_pb2.ListTasksResponse, {"tasks": [], "pageSize": 0}),
    (a2a_pb2.Task, {"id": "t3", "status": None, "history": []}),
    (a2a_pb2.Part, {"text": "", "metadata": {"a": 1e300, "b": -0.0}}),
    (a2a_pb2.Part, {"data": {"x": [1, [2, [3]]]}}),
    (a2a_pb2.Part, {"data": "a string as a Value"}),
]


def _parsedict(data: dict[str, Any], cls: type[message.Message]) -> message.Message:
    return json_format.ParseDict(data, cls())


@pytest.mark.parametrize(("cls", "data"), CASES)
def test_encode_writes_what_parsedict_builds(cls: type[message.Message], data: dict[str, Any]) -> None:
    assert cls.FromString(encode(data, cls)) == _parsedict(data, cls)


@pytest.mark.parametrize(("cls", "data"), [
    (a2a_pb2.Task, {"id": "t", "unknown": 1}),  # ParseDict refuses, or ignores for 0.3
    (a2a_pb2.Task, {"id": "t", "context_id": "c", "contextId": "c"}),  # one field twice
    (a2a_pb2.Task, {"id": 7}),  # a type ParseDict may coerce or refuse
    (a2a_pb2.Task, {"status": {"state": 3}}),  # an enum by number
    (a2a_pb2.Task, {"status": {"timestamp": "yesterday"}}),
    (a2a_pb2.Task, {"status": {"timestamp": "2026-02-30T00:00:00Z"}}),
    (a2a_pb2.Part, {"raw": "aGk="}),  # bytes as base64
    (a2a_pb2.StreamResponse, {"task": TASK, "message": TASK["history"][0]}),  # two of one oneof
    (a2a_pb2.Message, {"role": "ROLE_NOBODY"}),
    (a2a_pb2.Message, {"messageId": "\ud800"}),  # not UTF-8
    (a2a_pb2.Message, {"extensions": ["a", None]}),
    (a2a_pb2.Part, {"data": None}),  # a null Value
    (a2a_pb2.Part, {"metadata": {"x": math.nan}}),
    (a2a_pb2.Part, {"metadata": {"x": 10 ** 400}}),
    (a2a_pb2.ListTasksResponse, {"pageSize": 2 ** 31}),
    (a2a_pb2.ListTasksResponse, {"pageSize": True}),
    (a2a_v0_3_pb2.Task, {"id": "t", "kind": "task"}),
])
def test_encode_declines_what_parsedict_must_decide(cls: type[message.Message], data: dict[str, Any]) -> None:
    with pytest.raises(Unsupported):
        encode(data, cls)


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


@pytest.mark.parametrize("depth", [50, 600])
def test_encode_leaves_deep_nesting_to_parsedict(depth: int) -> None:
    data = {"id": "t", "metadata": _nested(depth)}
    with pytest.raises(Unsupported):  # not bytes no decoder takes, nor a RecursionError
        encode(data, a2a_pb2.Task)
    with pytest.raises(json_format.ParseError, match="too deep"):
        _parsedict(data, a2a_pb2.Task)


def test_encode_keeps_what_nests_within_bounds() -> None:
    data = {"id": "t", "metadata": _nested(20)}
    assert a2a_pb2.Task.FromString(encode(data, a2a_pb2.Task)) == _parsedict(data, a2a_pb2.Task)


def test_a_double_too_big_for_a_float_is_declined() -> None:
    from google.protobuf import wrappers_pb2
    with pytest.raises(Unsupported):
        encode({"value": 10 ** 400}, wrappers_pb2.DoubleValue)


def test_a_timestamp_json_cannot_spell_is_declined_by_to_json() -> None:
    request = a2a_pb2.ListTasksRequest()
    request.status_timestamp_after.seconds = 253402300800  # year 10000
    with pytest.raises(Unsupported):
        to_json(request)
    with pytest.raises(json_format.SerializeToJsonError):
        json_format.MessageToDict(request)  # the service's fallback: INVALID_PARAMS


def test_empty_sub_messages_are_present_as_parsedict_makes_them() -> None:
    data = {"task": {"id": "t", "status": {}, "metadata": {}, "history": [{}]}}
    fast = a2a_pb2.SendMessageResponse.FromString(encode(data, a2a_pb2.SendMessageResponse))
    assert fast.task.HasField("status") and fast.task.HasField("metadata")
    assert fast == _parsedict(data, a2a_pb2.SendMessageResponse)


_json_scalars = st.none() | st.booleans() | st.text(max_size=8) | \
    st.integers(-2 ** 53, 2 ** 53) | st.floats(allow_nan=False, allow_infinity=False)
_json = st.recursive(_json_scalars, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=12)
_parts = st.lists(st.one_of(
    st.fixed_dictionaries({"text": st.text(max_size=10)}, optional={"metadata": st.dictionaries(
        st.text(max_size=4), _json, max_size=3)}),
    st.fixed_dictionaries({"url": st.text(max_size=10)}, optional={"mediaType": st.text(max_size=5)}),
    st.fixed_dictionaries({"data": _json.filter(lambda v: v is not None)}),
), max_size=3)
_messages = st.fixed_dictionaries(
    {"messageId": st.text(max_size=8), "role": st.sampled_from(["ROLE_USER", "ROLE_AGENT", "ROLE_UNSPECIFIED"]),
     "parts": _parts},
    optional={"contextId": st.text(max_size=8), "taskId": st.text(max_size=8),
              "extensions": st.lists(st.text(max_size=4), max_size=2),
              "referenceTaskIds": st.lists(st.text(max_size=4), max_size=2),
              "metadata": st.dictionaries(st.text(max_size=4), _json, max_size=3)})
_stamps = st.datetimes().map(lambda d: d.isoformat() + "Z")
_tasks = st.fixed_dictionaries(
    {"id": st.text(max_size=8)},
    optional={"contextId": st.text(max_size=8),
              "status": st.fixed_dictionaries({"state": st.sampled_from(list(a2a_pb2.TaskState.keys()))},
                                              optional={"timestamp": _stamps, "message": _messages}),
              "artifacts": st.lists(st.fixed_dictionaries({"artifactId": st.text(max_size=6), "parts": _parts}),
                                    max_size=2),
              "history": st.lists(_messages, max_size=2),
              "metadata": st.dictionaries(st.text(max_size=4), _json, max_size=3)})


@settings(max_examples=300, deadline=None)
@given(_tasks)
def test_any_task_encodes_as_parsedict_builds_it(task: dict[str, Any]) -> None:
    data = {"task": task}
    assert a2a_pb2.SendMessageResponse.FromString(encode(data, a2a_pb2.SendMessageResponse)) == \
        _parsedict(data, a2a_pb2.SendMessageResponse)


@settings(max_examples=300, deadline=None)
@given(_messages, st.booleans(), st.integers(0, 100))
def test_any_request_reads_as_messagetodict_gives_it(msg: dict[str, Any], blocking: bool, length: int) -> None:
    data = {"message": msg, "configuration": {"returnImmediately": blocking, "historyLength": length,
                                              "acceptedOutputModes": ["text/plain"]},
            "metadata": msg.get("metadata", {})}
    request = _parsedict(data, a2a_pb2.SendMessageRequest)
    assert to_json(request) == json_format.MessageToDict(request)


@pytest.mark.parametrize("request_", [
    a2a_pb2.SendMessageRequest(),
    a2a_pb2.SendMessageRequest(message=a2a_pb2.Message(parts=[a2a_pb2.Part(raw=b"\x00\xffhi")])),
    _parsedict({"tenant": "x", "id": "t", "historyLength": 3}, a2a_pb2.GetTaskRequest),
    _parsedict({"message": {"role": "ROLE_USER", "parts": [{"data": {"n": 1, "l": [None, True]}}]}},
               a2a_pb2.SendMessageRequest),
])
def test_requests_read_as_messagetodict_gives_them(request_: message.Message) -> None:
    assert to_json(request_) == json_format.MessageToDict(request_)


def test_what_to_json_cannot_read_it_declines() -> None:
    value = a2a_pb2.Part()
    value.data.number_value = math.inf
    with pytest.raises(Unsupported):
        to_json(value)
    with pytest.raises(json_format.SerializeToJsonError):
        json_format.MessageToDict(value)  # so the service's fallback answers with its error
