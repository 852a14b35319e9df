"""A2A tasks as real agent work, in process: an App with the scripted model, the A2A
method table called as a transport would (raw JSON params), the task store on disk."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
from codetether.daemon.api import API, CallContext
from codetether.daemon.api.a2a import A2AAPI, build_a2a_api
from codetether.daemon.app import App
from codetether.daemon.core.tasks import TaskQuery
from codetether.daemon.errors import (
    Conflict,
    InvalidParams,
    TaskNotCancelable,
    TaskNotFound,
    UnsupportedOperation,
)
from codetether.daemon.wire import a2a

SLOW = [{"tool": "bash", "arguments": {"command": "sleep 60"}}, {"text": "never"}]


@dataclass
class Peer:
    app: App
    a2a: A2AAPI
    api: API
    workspace: Path

    def ctx(self) -> CallContext:
        return CallContext(transport="inproc", principal="a2a:bearer")

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        return await self.api.call(method, params, self.ctx())

    async def stream(self, method: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        return [msgspec.to_builtins(item) async for item in self.api.stream(method, params, self.ctx())]

    async def send(self, text: str, **extra: Any) -> dict[str, Any]:
        result = await self.call("SendMessage", message(text, **extra))
        assert isinstance(result, a2a.SendMessageResponse) and result.task is not None
        out: dict[str, Any] = msgspec.to_builtins(result.task)
        return out


def message(text: str, *, configuration: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    msg = {"messageId": f"m-{text[:8]}", "role": "ROLE_USER", "parts": [{"text": text}], **fields}
    return {"message": msg, **({"configuration": configuration} if configuration else {})}


@pytest.fixture
async def make(short_dir: Path, scripted_app: Any) -> AsyncIterator[Callable[..., Any]]:
    async with peers(short_dir, scripted_app) as build:
        yield build


@contextlib.asynccontextmanager
async def peers(short_dir: Path, scripted_app: Any) -> AsyncIterator[Callable[..., Any]]:
    """``build(turns, a2a_config=..., home=...)`` makes an App with the scripted model and
    its A2A table; everything built is stopped and closed on the way out."""
    made: list[Peer] = []

    async def build(turns: list[Any], *, a2a_config: str = "", home: str = "h") -> Peer:
        ws = short_dir / "ws"
        ws.mkdir(exist_ok=True)
        app = scripted_app(short_dir / home, turns, config=f'[a2a]\nworkspace = "{ws}"\n{a2a_config}\n')
        peer_api = A2AAPI(app)
        peer_api.push.base_delay = 0.01
        peer = Peer(app, peer_api, build_a2a_api(app, peer_api), ws)
        made.append(peer)
        return peer

    yield build
    for p in made:
        p.app.stop_runs()
        await p.a2a.aclose()
        await p.app.aclose()


def text_of(task: dict[str, Any]) -> str:
    return "".join(part.get("text", "") for a in task.get("artifacts", []) for part in a["parts"])


async def test_send_runs_the_agent_to_a_completed_task_with_its_answer(make: Callable[..., Any]):
    peer = await make(["The answer is 42."])
    task = await peer.send("What is the answer?")
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert text_of(task) == "The answer is 42."
    roles = [m["role"] for m in task["history"]]
    assert roles == ["ROLE_USER", "ROLE_AGENT"]
    assert task["history"][0]["taskId"] == task["id"] and task["history"][0]["contextId"] == task["contextId"]
    got = await peer.call("GetTask", {"id": task["id"], "historyLength": 1})
    assert [m.role for m in got.history] == ["ROLE_AGENT"]
    assert (await peer.call("GetTask", {"id": task["id"], "historyLength": 0})).history == []


async def test_stream_sends_the_task_then_working_chunks_and_completed_in_order(make: Callable[..., Any]):
    peer = await make([{"text": "Hello from the agent."}])
    items = await peer.stream("SendStreamingMessage", message("hi"))
    kinds = [next(iter(i)) for i in items]
    assert kinds[0] == "task" and items[0]["task"]["status"]["state"] == "TASK_STATE_SUBMITTED"
    states = [i["statusUpdate"]["status"]["state"] for i in items if "statusUpdate" in i]
    assert states[0] == "TASK_STATE_WORKING" and states[-1] == "TASK_STATE_COMPLETED"
    assert kinds[-1] == "statusUpdate"
    chunks = [i["artifactUpdate"] for i in items if "artifactUpdate" in i]
    assert chunks and "".join(c["artifact"]["parts"][0]["text"] for c in chunks) == "Hello from the agent."
    assert chunks[-1].get("lastChunk") is True and not chunks[0].get("append")
    assert all(c.get("append") for c in chunks[1:])
    assert len({c["artifact"]["artifactId"] for c in chunks}) == 1
    # every chunk comes after WORKING and before COMPLETED
    first_working = kinds.index("statusUpdate")
    assert kinds.index("artifactUpdate") > first_working


async def test_a_follow_up_in_the_context_continues_the_same_session(make: Callable[..., Any]):
    peer = await make(["First answer.", "Second answer."])
    first = await peer.send("Remember the word banana.")
    second = await peer.send("Which word?", contextId=first["contextId"])
    assert second["contextId"] == first["contextId"] and second["id"] != first["id"]
    store = peer.a2a.manager.store
    a, b = await store.get(first["id"]), await store.get(second["id"])
    assert a is not None and b is not None and a.session_id == b.session_id
    transcript = [m.content for m in peer.app.runtime(a.session_id).messages]
    assert transcript[:2] == ["Remember the word banana.", "First answer."]
    assert "Which word?" in transcript
    other = await peer.send("A new conversation")
    other_rec = await store.get(other["id"])
    assert other["contextId"] != first["contextId"] and other_rec is not None
    assert other_rec.session_id != a.session_id


async def test_a_question_makes_the_task_input_required_and_the_next_message_answers_it(
        make: Callable[..., Any]):
    peer = await make([{"tool": "question", "arguments": {"question": "Which colour?", "options": ["red", "blue"]}},
                       "You chose well."])
    task = await peer.send("Paint it")
    assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    assert "Which colour?" in task["status"]["message"]["parts"][0]["text"]
    done = await peer.send("red", taskId=task["id"], contextId=task["contextId"])
    assert done["id"] == task["id"] and done["status"]["state"] == "TASK_STATE_COMPLETED"
    assert text_of(done) == "You chose well."
    rec = await peer.a2a.manager.store.get(task["id"])
    assert rec is not None
    tool_results = [m.content for m in peer.app.runtime(rec.session_id).messages if m.role == "tool"]
    assert any("red" in r for r in tool_results)
    with pytest.raises(UnsupportedOperation):
        await peer.send("again", taskId=task["id"])


async def test_a_streamed_question_ends_the_stream_and_a_streamed_answer_resumes(make: Callable[..., Any]):
    peer = await make([{"tool": "question", "arguments": {"question": "Go?"}}, "Went."])
    items = await peer.stream("SendStreamingMessage", message("start"))
    assert items[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    task_id = items[0]["task"]["id"]
    more = await peer.stream("SendStreamingMessage", message("yes", taskId=task_id))
    assert more[0]["task"]["id"] == task_id
    assert more[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"


async def test_unknown_and_finished_tasks_are_refused_per_spec(make: Callable[..., Any]):
    peer = await make(["done"])
    with pytest.raises(TaskNotFound):
        await peer.send("x", taskId="nope")
    with pytest.raises(TaskNotFound):
        await peer.call("GetTask", {"id": "nope"})
    task = await peer.send("do it")
    with pytest.raises(UnsupportedOperation):
        await peer.send("more", taskId=task["id"])
    with pytest.raises(TaskNotCancelable):
        await peer.call("CancelTask", {"id": task["id"]})
    with pytest.raises(UnsupportedOperation):
        await peer.stream("SubscribeToTask", {"id": task["id"]})
    with pytest.raises(InvalidParams, match="no text"):
        await peer.call("SendMessage", {"message": {"messageId": "m", "role": "ROLE_USER", "parts": []}})


async def test_cancel_mid_run_cancels_the_agent(make: Callable[..., Any]):
    peer = await make(SLOW, a2a_config='approval_mode = "auto"')
    task = await peer.send("sleep", configuration={"returnImmediately": True})
    assert task["status"]["state"] in ("TASK_STATE_SUBMITTED", "TASK_STATE_WORKING")
    live = peer.a2a.manager._live[task["id"]]
    while live.record.status.get("message") is None:  # wait for the tool call to start
        await asyncio.wait_for(live.subscribe().queue.get(), 10)
    canceled = await peer.call("CancelTask", {"id": task["id"]})
    assert canceled.status.state == "TASK_STATE_CANCELED"
    rec = await peer.a2a.manager.store.get(task["id"])
    assert rec is not None and rec.state == "TASK_STATE_CANCELED"
    assert not peer.app.runtime(rec.session_id).busy


async def test_subscribe_gets_the_task_then_its_updates_to_the_end(make: Callable[..., Any]):
    peer = await make(SLOW, a2a_config='approval_mode = "auto"')
    task = await peer.send("sleep", configuration={"returnImmediately": True})

    async def watch() -> list[dict[str, Any]]:
        return await peer.stream("SubscribeToTask", {"id": task["id"]})

    watcher = asyncio.create_task(watch())
    live = peer.a2a.manager._live[task["id"]]
    while len(live.subscribers) < 1:
        await asyncio.sleep(0)
    await peer.call("CancelTask", {"id": task["id"]})
    items = await asyncio.wait_for(watcher, 10)
    assert items[0]["task"]["id"] == task["id"]
    assert items[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_CANCELED"


async def test_a_second_task_in_a_busy_context_is_a_conflict(make: Callable[..., Any]):
    peer = await make(SLOW, a2a_config='approval_mode = "auto"')
    task = await peer.send("sleep", configuration={"returnImmediately": True})
    with pytest.raises(Conflict):
        await peer.send("another", contextId=task["contextId"])
    await peer.call("CancelTask", {"id": task["id"]})


async def test_ask_mode_denies_what_would_ask_and_the_task_still_completes(make: Callable[..., Any]):
    peer = await make([{"tool": "bash", "arguments": {"command": "echo hi > made.txt"}}, "Could not run it."])
    items = await peer.stream("SendStreamingMessage", message("make a file"))
    notes = [i["statusUpdate"]["status"].get("message", {}).get("parts", [{}])[0].get("text", "")
             for i in items if "statusUpdate" in i]
    assert any(n.startswith("denied bash") for n in notes)
    assert items[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert not (peer.workspace / "made.txt").exists()


async def test_auto_mode_runs_the_tool(make: Callable[..., Any]):
    peer = await make([{"tool": "bash", "arguments": {"command": "echo hi > made.txt"}}, "Made it."],
                      a2a_config='approval_mode = "auto"')
    task = await peer.send("make a file")
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert (peer.workspace / "made.txt").read_text() == "hi\n"


async def test_tasks_survive_a_new_app_on_the_same_home(make: Callable[..., Any]):
    peer = await make(["Persisted answer."])
    task = await peer.send("keep this")
    peer.app.stop_runs()
    await peer.a2a.aclose()
    again = await make(["next"], home="h")
    got = await again.call("GetTask", {"id": task["id"]})
    assert got.status.state == "TASK_STATE_COMPLETED"
    assert "".join(p.text or "" for a in got.artifacts for p in a.parts) == "Persisted answer."
    listed = await again.call("ListTasks", {})
    assert [t.id for t in listed.tasks] == [task["id"]]


async def test_a_task_left_running_by_a_stopped_daemon_is_failed_on_restart(make: Callable[..., Any]):
    peer = await make(SLOW, a2a_config='approval_mode = "auto"')
    task = await peer.send("sleep", configuration={"returnImmediately": True})
    rec = await peer.a2a.manager.store.get(task["id"])
    assert rec is not None
    rec.state, rec.status = "TASK_STATE_WORKING", {"state": "TASK_STATE_WORKING"}
    peer.a2a.manager.store.close()  # the daemon "dies": the record stays WORKING on disk
    from codetether.daemon.core.tasks import SqliteTaskStore
    raw = SqliteTaskStore(peer.app.paths.data_dir / "tasks" / "tasks.db")
    await raw.save(rec)
    raw.close()
    again = await make(["x"], home="h")
    got = await again.call("GetTask", {"id": task["id"]})
    assert got.status.state == "TASK_STATE_FAILED" and "interrupted" in got.status.message.parts[0].text


async def test_list_tasks_pages_and_filters(make: Callable[..., Any]):
    peer = await make(["a", "b", "c", "d", "e"])
    ids = [(await peer.send(f"task {n}"))["id"] for n in range(5)]
    first = await peer.call("ListTasks", {"pageSize": 2})
    assert first.total_size == 5 and first.page_size == 2 and len(first.tasks) == 2
    assert all(not t.artifacts for t in first.tasks)
    seen = [t.id for t in first.tasks]
    token = first.next_page_token
    while token:
        page = await peer.call("ListTasks", {"pageSize": 2, "pageToken": token})
        seen += [t.id for t in page.tasks]
        token = page.next_page_token
    assert seen == list(reversed(ids))
    wire = msgspec.to_builtins(await peer.call("ListTasks", {"pageSize": 100}))
    assert wire["nextPageToken"] == "" and all("artifacts" not in t for t in wire["tasks"])
    full = await peer.call("ListTasks", {"includeArtifacts": True, "historyLength": 1})
    assert all(t.artifacts and len(t.history) == 1 for t in full.tasks)
    one = (await peer.call("GetTask", {"id": ids[2]})).context_id
    assert [t.id for t in (await peer.call("ListTasks", {"contextId": one})).tasks] == [ids[2]]
    assert (await peer.call("ListTasks", {"status": "TASK_STATE_WORKING"})).tasks == []
    assert len((await peer.call("ListTasks", {"status": "TASK_STATE_COMPLETED"})).tasks) == 5
    later = await peer.call("ListTasks", {"statusTimestampAfter": "2999-01-01T00:00:00Z"})
    assert later.tasks == [] and later.total_size == 0
    for bad in ({"pageSize": 0}, {"pageSize": 101}, {"pageToken": "garbage!"}, {"historyLength": -1}):
        with pytest.raises(InvalidParams):
            await peer.call("ListTasks", bad)


async def test_a_blocking_send_writes_its_task_once_and_keeps_it(make: Callable[..., Any]):
    peer = await make(["Written once."])
    store = peer.a2a.manager.store
    writes: list[str] = []
    for name in ("create", "save"):
        real = getattr(store, name)

        def counted(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            writes.append(_name)
            return _real(*args, **kwargs)

        setattr(store, name, counted)
    task = await peer.send("once", contextId="ctx-once")
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    # the first state change (WORKING) inserts the task with its context's binding; the end updates it
    assert writes == ["create", "save"]
    rec = await store.get(task["id"])
    assert rec is not None and rec.state == "TASK_STATE_COMPLETED"
    assert await store.context_session("ctx-once") == rec.session_id


async def test_a_store_that_cannot_write_refuses_the_task_and_the_agent_never_runs(
        make: Callable[..., Any]):
    from codetether.daemon.errors import Unavailable
    peer = await make([{"tool": "bash", "arguments": {"command": "echo ran > ran.txt"}}, "The agent ran."],
                      a2a_config='approval_mode = "auto"')
    store = peer.a2a.manager.store

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise Unavailable("task store: disk full", data={"store": "tasks"})

    store.create = broken  # type: ignore[method-assign]
    with pytest.raises(Unavailable, match="disk full"):
        await peer.send("refused")
    assert not (peer.workspace / "ran.txt").exists()  # the run stopped before the agent began
    assert (await store.list(TaskQuery())).tasks == []
    del store.create  # writable again: the next task runs, is written and the tool runs
    task = await peer.send("allowed")
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert (peer.workspace / "ran.txt").read_text() == "ran\n"
