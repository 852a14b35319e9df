"""The TCK's conformance agent (CODETETHER_A2A_CONFORMANCE=1): each messageId scenario of
the A2A TCK played by the task manager of an in-process App's A2A table (no model), and
the real agent kept as the default."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from codetether.daemon.api import API, CallContext
from codetether.daemon.api.a2a import A2AAPI, build_a2a_api
from codetether.daemon.app import App
from codetether.daemon.core.config import load_config
from codetether.daemon.core.providers import ModelResolver
from codetether.daemon.core.secrets import SecretStore
from codetether.daemon.core.tasks import conformance_enabled
from codetether.daemon.paths import get_paths
from codetether.daemon.wire import a2a

CTX = CallContext(transport="inproc", principal="a2a:bearer")


@contextlib.asynccontextmanager
async def table(home: Path, *, conformance: bool | None = True) -> AsyncIterator[tuple[A2AAPI, API]]:
    paths = get_paths({"CODETETHER_HOME": str(home)})
    loaded = load_config(paths.config_file)
    app = App(paths, loaded, ModelResolver(loaded.config, SecretStore(loaded.config.secrets)))
    api = A2AAPI(app, conformance=conformance)
    try:
        yield api, build_a2a_api(app, api)
    finally:
        app.stop_runs()
        await api.aclose()
        await app.aclose()


@pytest.fixture
async def tck(short_dir: Path) -> AsyncIterator[API]:
    async with table(short_dir / "h") as (_, api):
        yield api


def msg(message_id: str, **fields: Any) -> dict[str, Any]:
    return {"message": {"messageId": message_id, "role": "ROLE_USER", "parts": [{"text": "tck"}], **fields}}


async def send(api: API, message_id: str, **fields: Any) -> dict[str, Any]:
    result = await api.call("SendMessage", msg(message_id, **fields), CTX)
    out: dict[str, Any] = msgspec.to_builtins(result)
    return out


async def stream(api: API, message_id: str) -> list[dict[str, Any]]:
    return [msgspec.to_builtins(i) async for i in api.stream("SendStreamingMessage", msg(message_id), CTX)]


def test_selected_by_the_environment_only() -> None:
    assert not conformance_enabled({})
    assert not conformance_enabled({"CODETETHER_A2A_CONFORMANCE": "0"})
    assert conformance_enabled({"CODETETHER_A2A_CONFORMANCE": "1"})


async def test_the_default_agent_is_the_real_one(short_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODETETHER_A2A_CONFORMANCE", raising=False)
    async with table(short_dir / "d", conformance=None) as (api, _):
        assert api.manager.conformance is False
    monkeypatch.setenv("CODETETHER_A2A_CONFORMANCE", "1")
    async with table(short_dir / "e", conformance=None) as (api, _):
        assert api.manager.conformance is True


async def test_complete_task_ends_completed_with_its_message(tck: API) -> None:
    task = (await send(tck, "tck-complete-task-1"))["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task["status"]["message"]["parts"] == [{"text": "Hello from TCK"}]
    got = msgspec.to_builtins(await tck.call("GetTask", {"id": task["id"]}, CTX))
    assert got["status"]["state"] == "TASK_STATE_COMPLETED"


async def test_artifacts_of_each_part_kind(tck: API) -> None:
    parts = {}
    for kind in ("text", "file", "file-url", "data"):
        task = (await send(tck, f"tck-artifact-{kind}-x"))["task"]
        assert task["status"]["state"] == "TASK_STATE_COMPLETED"
        parts[kind] = task["artifacts"][0]["parts"][0]
    assert parts["text"] == {"text": "Generated text content"}
    assert parts["file"] == {"raw": base64.b64encode(b"tck").decode(), "mediaType": "text/plain",
                             "filename": "output.txt"}
    assert parts["file-url"] == {"url": "https://example.com/output.txt", "mediaType": "text/plain",
                                 "filename": "output.txt"}
    assert parts["data"] == {"data": {"key": "value", "count": 42}}


async def test_message_response_is_a_message_not_a_task(tck: API) -> None:
    result = await send(tck, "tck-message-response-1")
    assert "task" not in result
    assert result["message"]["role"] == "ROLE_AGENT"
    assert result["message"]["parts"] == [{"text": "Direct message response"}]
    items = await stream(tck, "tck-message-response-2")
    assert [list(i) for i in items] == [["message"]]


async def test_reject_ends_rejected(tck: API) -> None:
    task = (await send(tck, "tck-reject-task-1"))["task"]
    assert task["status"]["state"] == "TASK_STATE_REJECTED"


async def test_input_required_then_each_answer_plays_its_own_scenario(tck: API) -> None:
    task = (await send(tck, "tck-input-required-1"))["task"]
    assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    again = (await send(tck, "tck-input-required-2", taskId=task["id"]))["task"]
    assert again["id"] == task["id"] and again["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    done = (await send(tck, "tck-complete-task-3", taskId=task["id"]))["task"]
    assert done["status"]["state"] == "TASK_STATE_COMPLETED"
    users = [m["messageId"] for m in done["history"] if m["role"] == "ROLE_USER"]
    assert users == ["tck-input-required-1", "tck-input-required-2", "tck-complete-task-3"]


async def test_a_task_waiting_for_input_can_be_canceled(tck: API) -> None:
    task = (await send(tck, "tck-input-required-c"))["task"]
    canceled = msgspec.to_builtins(await tck.call("CancelTask", {"id": task["id"]}, CTX))
    assert canceled["status"]["state"] == "TASK_STATE_CANCELED"


async def test_chunked_stream_in_order(tck: API) -> None:
    items = await stream(tck, "tck-stream-artifact-chunked-1")
    kinds = [next(iter(i)) for i in items]
    assert kinds == ["task", "statusUpdate", "artifactUpdate", "artifactUpdate", "statusUpdate"]
    first, second = items[2]["artifactUpdate"], items[3]["artifactUpdate"]
    assert first["artifact"]["parts"] == [{"text": "chunk-1 "}] and not first.get("append")
    assert not first.get("lastChunk")
    assert second["append"] is True and second["lastChunk"] is True
    assert second["artifact"]["artifactId"] == first["artifact"]["artifactId"]
    assert items[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
    task = msgspec.to_builtins(await tck.call("GetTask", {"id": items[0]["task"]["id"]}, CTX))
    assert task["artifacts"][0]["parts"] == [{"text": "chunk-1 "}, {"text": "chunk-2"}]


async def test_streamed_scenarios_work_then_complete(tck: API) -> None:
    items = await stream(tck, "tck-stream-001-x")
    states = [i["statusUpdate"]["status"]["state"] for i in items if "statusUpdate" in i]
    assert states == ["TASK_STATE_WORKING", "TASK_STATE_COMPLETED"]
    texts = [i["artifactUpdate"]["artifact"]["parts"] for i in items if "artifactUpdate" in i]
    assert texts == [[{"text": "Stream hello from TCK"}]]


async def test_an_unknown_prefix_completes_naming_it(tck: API) -> None:
    task = (await send(tck, "something-else"))["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task["status"]["message"]["parts"][0]["text"] == "Unhandled messageId prefix: something-else"


def test_wire_shapes_are_a2a() -> None:
    # The scenarios' parts are valid A2A parts (a oneof each).
    from codetether.daemon.core.tasks._conformance import scenario

    for prefix in ("tck-artifact-file-url", "tck-artifact-data", "tck-stream-artifact-file"):
        for step in scenario(prefix):
            for part in step.parts:
                msgspec.convert(msgspec.to_builtins(part), a2a.Part)
