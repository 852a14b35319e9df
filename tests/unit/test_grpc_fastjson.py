"""The fast A2A JSON -> protobuf builder answers exactly what ``json_format.ParseDict`` does,
or declines (Unsupported) so the service falls back to it."""

from __future__ import annotations

from typing import Any

import pytest
from codetether.daemon.transports.grpc._fastjson import Unsupported, from_dict
from codetether.daemon.transports.grpc._generated import a2a_pb2, a2a_v0_3_pb2
from google.protobuf import json_format, message

TASK: dict[str, Any] = {
    "id": "t1", "contextId": "c1",
    "status": {"state": "TASK_STATE_COMPLETED", "timestamp": "2026-11-30T17:00:00.123Z",
               "message": {"messageId": "m3", "role": "ROLE_AGENT", "parts": [{"text": "done"}]}},
    "artifacts": [{"artifactId": "a", "name": "answer", "parts": [{"text": "ok"}, {"text": "é✓"}]}],
    "history": [{"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "hi"}], "taskId": "t1",
                 "contextId": "c1", "metadata": {"k": [1, "two", None, {"x": True}]}}],
    "metadata": {"principal": "a2a:bearer", "n": 1.5},
}

CASES: list[tuple[type[message.Message], dict[str, Any]]] = [
    (a2a_pb2.SendMessageResponse, {"task": TASK}),
    (a2a_pb2.SendMessageResponse, {"message": TASK["history"][0]}),
    (a2a_pb2.Task, TASK),
    (a2a_pb2.Task, {"id": "t2", "context_id": "c2", "status": {"state": "TASK_STATE_WORKING"}}),
    (a2a_pb2.StreamResponse, {"statusUpdate": {"taskId": "t1", "contextId": "c1", "status": TASK["status"]}}),
    (a2a_pb2.StreamResponse, {"artifactUpdate": {"taskId": "t1", "contextId": "c1", "append": True,
                                                 "lastChunk": False, "artifact": TASK["artifacts"][0]}}),
    (a2a_pb2.ListTasksResponse, {"tasks": [TASK, TASK], "nextPageToken": "x", "pageSize": 2, "totalSize": 9}),
    (a2a_pb2.Task, {"id": "t3", "status": None, "history": []}),
]


@pytest.mark.parametrize(("cls", "data"), CASES)
def test_it_builds_what_parsedict_builds(cls: type[message.Message], data: dict[str, Any]) -> None:
    fast = from_dict(data, cls)
    assert fast.SerializeToString(deterministic=True) == \
        json_format.ParseDict(data, cls()).SerializeToString(deterministic=True)


@pytest.mark.parametrize(("cls", "data"), [
    (a2a_pb2.Task, {"id": "t", "unknown": 1}),  # ParseDict refuses, or ignores for 0.3
    (a2a_pb2.Task, {"id": "t", "context_id": "c", "contextId": "c"}),  # one field twice
    (a2a_pb2.Task, {"id": 7}),  # a type ParseDict may coerce or refuse
    (a2a_pb2.Task, {"status": {"state": 3}}),  # an enum by number
    (a2a_pb2.Task, {"status": {"timestamp": "yesterday"}}),
    (a2a_pb2.Part, {"raw": "aGk="}),  # bytes as base64
    (a2a_pb2.StreamResponse, {"task": TASK, "message": TASK["history"][0]}),  # two of one oneof
    (a2a_pb2.Message, {"role": "ROLE_NOBODY"}),
    (a2a_v0_3_pb2.Task, {"id": "t", "kind": "task"}),
])
def test_it_declines_what_parsedict_must_decide(cls: type[message.Message], data: dict[str, Any]) -> None:
    with pytest.raises(Unsupported):
        from_dict(data, cls)


def test_empty_sub_messages_are_present_as_parsedict_makes_them() -> None:
    data = {"task": {"id": "t", "status": {}, "metadata": {}, "history": [{}]}}
    fast = from_dict(data, a2a_pb2.SendMessageResponse)
    assert fast.task.HasField("status") and fast.task.HasField("metadata")
    assert fast == json_format.ParseDict(data, a2a_pb2.SendMessageResponse())
