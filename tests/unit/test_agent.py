"""The agent loop in-process, on the scripted provider."""

from __future__ import annotations

import asyncio

import pytest
from codetether.daemon.core.agent import Agent, AgentSettings, truncate_output
from codetether.daemon.core.approvals import ApprovalStore
from codetether.daemon.core.providers.scripted import ScriptedProvider, Turn
from codetether.daemon.core.sessions import FileWatcher, SessionRuntime, SessionStore
from codetether.daemon.core.tools import default_registry
from codetether.daemon.wire import events as ev
from codetether.daemon.wire.messages import ToolCall

_RIGS: list = []


@pytest.fixture(autouse=True)
def _close_rigs():
    yield
    while _RIGS:
        _RIGS.pop().store.close()


class Rig:
    def __init__(self, tmp_path, turns, **settings):
        _RIGS.append(self)
        self.workspace = tmp_path / "ws"
        self.workspace.mkdir()
        self.store = SessionStore(tmp_path / "sessions")
        meta = self.store.create(workspace=str(self.workspace), model="scripted/scripted",
                                 approval_mode=settings.pop("mode", "auto"))
        self.rt = SessionRuntime(meta, self.store)
        self.approvals = ApprovalStore(tmp_path / "approvals")
        self.provider = ScriptedProvider(turns)
        self.sub = self.rt.hub.subscribe("drop", maxsize=10_000)
        self.settings = AgentSettings(model="scripted", model_label="scripted/scripted",
                                      mode=self.rt.meta.approval_mode, **settings)

    def agent(self):
        return Agent(self.rt, self.provider, default_registry(), self.approvals, self.settings)

    async def run(self, prompt="go"):
        return await self.agent().run(prompt)

    async def next_event(self, kind):
        """The next published event of type ``kind`` (the ones before it are consumed)."""
        while True:
            _, event = await self.sub.queue.get()
            if isinstance(event, kind):
                return event

    def events(self):
        out = []
        while not self.sub.queue.empty():
            out.append(self.sub.queue.get_nowait()[1])
        return out


async def test_text_turn(tmp_path):
    rig = Rig(tmp_path, [Turn.text("hello")])
    result = await rig.run()
    assert (result.stop_reason, result.text, result.steps) == ("end_turn", "hello", 1)
    kinds = [type(e) for e in rig.events()]
    assert ev.TextChunk in kinds and kinds[-1] is ev.Done
    assert [m.role for m in rig.store.load(rig.rt.id).messages] == ["user", "assistant"]
    assert rig.provider.requests[0].tools  # tools were offered


async def test_read_only_calls_run_in_parallel_and_results_keep_order(tmp_path):
    # grep awaits a ripgrep subprocess, so two of them overlap when run in parallel.
    rig = Rig(tmp_path, [Turn.tools(ToolCall("a", "grep", '{"pattern": "alpha"}'),
                                    ToolCall("b", "grep", '{"pattern": "beta"}')),
                         Turn.text("read both")])
    (rig.workspace / "a.txt").write_text("alpha\n")
    (rig.workspace / "b.txt").write_text("beta\n")
    result = await rig.run()
    assert result.text == "read both"
    tool_msgs = [m for m in rig.rt.messages if m.role == "tool"]
    assert [m.tool_call_id for m in tool_msgs] == ["a", "b"]
    assert "alpha" in tool_msgs[0].content and "beta" in tool_msgs[1].content
    # both started before either ended: they ran concurrently
    kinds = [type(e).__name__ for e in rig.events() if isinstance(e, (ev.ToolCallStart, ev.ToolCallEnd))]
    assert kinds == ["ToolCallStart", "ToolCallStart", "ToolCallEnd", "ToolCallEnd"]
    # the second request carried both results back to the model
    assert [m.role for m in rig.provider.requests[1].messages][-2:] == ["tool", "tool"]


async def test_step_cap(tmp_path):
    rig = Rig(tmp_path, [Turn.tool("todo_read", {})] * 10, max_steps=3)
    result = await rig.run()
    assert (result.stop_reason, result.steps) == ("max_steps", 3)


async def test_tool_output_is_truncated_to_the_budget(tmp_path):
    rig = Rig(tmp_path, [Turn.tool("read_file", {"path": "big.txt"}), Turn.text("ok")],
              tool_output_budget=500)
    (rig.workspace / "big.txt").write_text("x" * 100 + "\n" + "line\n" * 5000)
    await rig.run()
    tool = next(m for m in rig.rt.messages if m.role == "tool")
    assert len(tool.content) < 600 and "characters truncated" in tool.content
    assert truncate_output("abc", 10) == "abc"


async def test_compaction_summarizes_without_deleting_history(tmp_path):
    long = "word " * 400
    turns = [Turn.text(f"reply {i} {long}") for i in range(12)]
    rig = Rig(tmp_path, turns, context_window=4000, compact_threshold=0.8)
    for i in range(4):
        await rig.run(f"question {i} {long}")
    compactions = [e for e in rig.events() if isinstance(e, ev.Compaction)]
    assert compactions and compactions[0].summarized_messages > 0
    transcript = rig.store.load(rig.rt.id)
    assert len(transcript.messages) == 8  # nothing deleted
    # The model wrote the summary: request k (the summarizer's) consumed turn k.
    k = next(i for i, r in enumerate(rig.provider.requests) if r.system.startswith("Summarize"))
    assert not rig.provider.requests[k].tools
    assert transcript.summaries[0].text.startswith(f"reply {k} ")
    last = rig.provider.requests[-1].messages
    assert last[0].content.startswith("[Summary of the earlier conversation]")
    assert len(last) < 8


async def test_compaction_leaves_room_for_the_next_turn_when_tools_fill_the_window(tmp_path):
    # The tools' schemas and the system prompt take most of an 8k window: compaction must
    # keep a third of what they leave, or every later turn compacts (and pays a summary).
    rig = Rig(tmp_path, [Turn.text(f"reply {i} " + "word " * 150) for i in range(80)],
              context_window=8192, compact_threshold=0.8)
    compacted = []
    for i in range(24):
        before = sum(isinstance(e, ev.Compaction) for e in rig.events())
        await rig.run(f"question {i} " + "word " * 150)
        compacted.append(sum(isinstance(e, ev.Compaction) for e in rig.events()) > before)
    assert any(compacted)
    assert not any(a and b for a, b in zip(compacted, compacted[1:], strict=False)), compacted


async def test_question_reaches_the_client_and_the_answer_the_model(tmp_path):
    rig = Rig(tmp_path, [Turn.tool("question", {"question": "Tabs or spaces?",
                                                "options": ["tabs", "spaces"]}),
                         Turn.text("spaces it is")])
    task = asyncio.create_task(rig.run())
    event = await rig.next_event(ev.QuestionAsked)
    assert event.options == ["tabs", "spaces"]
    rig.rt.answer(event.question_id, "spaces")
    result = await task
    assert result.text == "spaces it is"
    assert "spaces" in next(m for m in rig.rt.messages if m.role == "tool").content


async def test_plan_mode_blocks_writes(tmp_path):
    rig = Rig(tmp_path, [Turn.tool("plan_enter", {}),
                         Turn.tool("write_file", {"path": "x.txt", "content": "x"}),
                         Turn.text("planned")])
    await rig.run()
    tool_msgs = [m for m in rig.rt.messages if m.role == "tool"]
    assert tool_msgs[1].is_error and "plan mode" in tool_msgs[1].content
    assert not (rig.workspace / "x.txt").exists()


async def test_ask_mode_waits_for_a_decision(tmp_path):
    rig = Rig(tmp_path, [Turn.tool("write_file", {"path": "x.txt", "content": "x"}),
                         Turn.text("written")], mode="ask")
    task = asyncio.create_task(rig.run())
    event = await rig.next_event(ev.ApprovalRequested)
    assert (event.tool, event.subject) == ("write_file", "x.txt")
    rig.approvals.decide(event.approval_id, "allow", by="test")
    assert (await task).text == "written"
    assert (rig.workspace / "x.txt").read_text() == "x"


async def test_cancellation_closes_open_calls(tmp_path):
    rig = Rig(tmp_path, [Turn.tool("bash", {"command": "sleep 30"}), Turn.text("never")])
    task = asyncio.create_task(rig.run())
    await rig.next_event(ev.ToolCallStart)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert rig.rt.messages[-1].role == "tool" and "cancelled" in rig.rt.messages[-1].content
    assert isinstance(rig.events()[-1], ev.Done)


async def test_outside_change_to_a_read_file_is_noted_for_the_model(tmp_path):
    rig = Rig(tmp_path, [Turn.tool("read_file", {"path": "a.py"}), Turn.text("read"),
                         Turn.text("noted")])
    target = rig.workspace / "a.py"
    target.write_text("x = 1\n")
    await rig.run()
    watcher = FileWatcher(lambda: True)
    watcher.track(rig.rt)
    try:
        # The OS watch starts on a thread; edit until the change is seen (a handshake,
        # bounded by the deadline) instead of guessing how long start-up takes.
        deadline = asyncio.get_running_loop().time() + 30
        event = None
        n = 0
        while event is None:
            assert asyncio.get_running_loop().time() < deadline, "no change seen"
            n += 1
            target.write_text(f"x = {n + 1}  # edited by the user\n")
            try:
                while not isinstance(event, ev.FileChanged):
                    _, event = await asyncio.wait_for(rig.sub.queue.get(), 1.0)
            except asyncio.TimeoutError:
                event = None
    finally:
        await watcher.aclose()
    assert event.path == "a.py"
    await rig.run("continue")
    sent = rig.provider.requests[-1].messages
    assert any("a.py changed on disk" in m.content for m in sent if m.role == "user")


def test_mentions_attach_workspace_files_and_ignore_escapes(tmp_path):
    from codetether.daemon.core.agent import expand_mentions
    from codetether.daemon.core.tools import Workspace

    ws = tmp_path / "ws"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "app.py").write_text("print('hi')\n")
    (tmp_path / "outside.txt").write_text("secret")
    read = []
    text, notices = expand_mentions("explain @src/app.py, not @../outside.txt or @missing.py",
                                    Workspace(ws), read.append)
    assert '<file path="src/app.py">\nprint(\'hi\')\n</file>' in text
    assert "secret" not in text and text.count("<file") == 1
    assert read == [ws / "src" / "app.py"]
    # C11: refused mentions are reported, not dropped silently; a bare @word is just text.
    assert len(notices) == 2
    assert notices[0].startswith("@../outside.txt was not attached")
    assert notices[1] == "@missing.py was not attached: no such file in the workspace"
    assert expand_mentions("email me@example.com, use @property", Workspace(ws)) == (
        "email me@example.com, use @property", [])


async def test_a_reused_call_id_never_inherits_an_earlier_approval(tmp_path):
    # The provider reuses "c1" in both turns; only the first command was approved.
    rig = Rig(tmp_path, [Turn.tools(ToolCall("c1", "bash", '{"command": "echo harmless"}')),
                         Turn.tools(ToolCall("c1", "bash", '{"command": "echo bad > pwned"}')),
                         Turn.text("done")], mode="ask")
    task = asyncio.create_task(rig.run())
    asked = []
    while len(asked) < 2:
        _, event = await rig.sub.queue.get()
        if isinstance(event, ev.ApprovalRequested):
            asked.append(event)
            rig.approvals.decide(event.approval_id, "allow" if len(asked) == 1 else "deny", by="t")
    await task
    assert [a.arguments for a in asked] == ['{"command": "echo harmless"}',
                                            '{"command": "echo bad > pwned"}']
    assert not (rig.workspace / "pwned").exists()
    ids = [c.id for m in rig.rt.messages for c in m.tool_calls]
    assert len(ids) == len(set(ids)) == 2


async def test_a_new_prompt_closes_calls_an_interrupted_run_left_open(tmp_path):
    rig = Rig(tmp_path, [Turn.tool("write_file", {"path": "x.txt", "content": "x"}),
                         Turn.text("fresh start")], mode="ask")
    task = asyncio.create_task(rig.agent().run("first", preserve_on_cancel=lambda: True))
    await rig.next_event(ev.ApprovalRequested)
    task.cancel()  # as at daemon shutdown: the call and its approval stay open
    with pytest.raises(asyncio.CancelledError):
        await task
    assert rig.rt.messages[-1].role == "assistant" and rig.approvals.list(rig.rt.id)
    await rig.run("something else")
    roles = [m.role for m in rig.rt.messages]
    assert roles == ["user", "assistant", "tool", "user", "assistant"]
    assert "interrupted" in rig.rt.messages[2].content
    assert rig.approvals.list(rig.rt.id) == []  # withdrawn, not left pending forever
    sent = rig.provider.requests[-1].messages
    assert [m.role for m in sent] == ["user", "assistant", "tool", "user"]


async def test_a_side_effecting_call_is_never_run_twice_after_a_crash(tmp_path):
    rig = Rig(tmp_path, [Turn.tool("bash", {"command": "echo once >> log.txt"}), Turn.text("ok")])
    await rig.run()
    assert (rig.workspace / "log.txt").read_text() == "once\n"
    call = rig.rt.messages[1].tool_calls[0]
    assert call.id in rig.store.load(rig.rt.id).started
    # Simulate a crash after the command ran but before its result was written.
    transcript = rig.store.root / rig.rt.id / "transcript.jsonl"
    lines = transcript.read_bytes().splitlines(keepends=True)
    transcript.write_bytes(b"".join(line for line in lines if b'"role":"tool"' not in line
                                    and b'"content":"ok"' not in line))
    again = Rig.__new__(Rig)
    again.__dict__.update(rig.__dict__)
    again.rt = SessionRuntime(rig.store.get(rig.rt.id), rig.store)
    again.provider = ScriptedProvider([Turn.text("recovered")])
    result = await again.agent().run(None)  # resume
    assert result.text == "recovered"
    assert (rig.workspace / "log.txt").read_text() == "once\n"  # not run again
    tool = next(m for m in again.rt.messages if m.role == "tool")
    assert tool.is_error and "interrupted by a daemon restart" in tool.content


async def test_a_failing_provider_reports_error_and_done_events(tmp_path):
    rig = Rig(tmp_path, [Turn.failure(401, "bad key")])
    with pytest.raises(Exception) as info:
        await rig.run()
    assert getattr(info.value, "codes", None) is not None
    kinds = [type(e) for e in rig.events()]
    assert kinds[-2:] == [ev.ErrorEvent, ev.Done]


async def test_batch_sub_calls_are_events_with_a_parent_in_telemetry(tmp_path):
    from codetether.daemon.core.config import Config
    from codetether.daemon.core.records import Recorder

    rig = Rig(tmp_path, [Turn.tool("batch", {"calls": [
        {"tool": "write_file", "arguments": {"path": "a.txt", "content": "a"}},
        {"tool": "read_file", "arguments": {"path": "a.txt"}}]}), Turn.text("done")])
    recorder = Recorder(tmp_path / "data", Config())
    rig.rt.hub.on_publish = lambda seq, e: recorder.on_event(rig.rt.id, "scripted/scripted", seq, e)
    try:
        await rig.run()
        starts = [e.call_id for e in rig.events() if isinstance(e, ev.ToolCallStart)]
        parent = starts[0]
        assert sorted(starts[1:]) == [f"{parent}.1", f"{parent}.2"]
        executions = recorder.telemetry.tracker.recent(10)
        by_name = {x.tool_name: x for x in executions}
        assert by_name["write_file"].parent_id == by_name["batch"].id
        assert by_name["read_file"].parent_id == by_name["batch"].id
        assert by_name["batch"].parent_id is None
        from codetether.daemon.core.records.eventstream import reconstruct

        changes = reconstruct(recorder.events.open(rig.rt.id)).file_changes
        assert [c["path"] for c in changes].count("a.txt") >= 1
    finally:
        recorder.close()


async def _next(rig, kind):
    while True:
        _, event = await asyncio.wait_for(rig.sub.queue.get(), 10)
        if isinstance(event, kind):
            return event


@pytest.mark.parametrize(("decision", "applied", "on_disk", "tool_error"), [
    ("allow", True, "x = 1\n", False),    # the editor applied it: the daemon writes nothing
    ("allow", False, "x = 2\n", False),   # approved elsewhere: the daemon writes it
    ("deny", False, "x = 1\n", True),
])
async def test_editor_sessions_propose_edits(tmp_path, decision, applied, on_disk, tool_error):
    rig = Rig(tmp_path, [Turn.tool("edit", {"path": "a.py", "old_string": "x = 1", "new_string": "x = 2"}),
                         Turn.text("ok")], mode="ask")
    rig.rt.meta.state["editor"] = True
    (rig.workspace / "a.py").write_text("x = 1\n")
    task = asyncio.create_task(rig.run())
    proposal = await _next(rig, ev.EditProposed)
    assert proposal.tool == "edit" and not proposal.auto_apply
    (file,) = proposal.files
    assert (file["rel"], file["before"], file["after"]) == ("a.py", "x = 1\n", "x = 2\n")
    assert "-x = 1" in file["diff"] and "+x = 2" in file["diff"]
    rig.approvals.decide(proposal.proposal_id, decision, by="editor", applied=applied,
                         reason="" if decision == "allow" else "not like that")
    await task
    assert (rig.workspace / "a.py").read_text() == on_disk
    tool = next(m for m in rig.rt.messages if m.role == "tool")
    assert tool.is_error is tool_error
    if tool_error:
        assert "rejected this edit: not like that" in tool.content


async def test_editor_reads_see_unsaved_buffers(tmp_path):
    rig = Rig(tmp_path, [Turn.tool("read_file", {"path": "a.py"}), Turn.text("ok")])
    (rig.workspace / "a.py").write_text("on disk\n")
    rig.rt.buffers[str((rig.workspace / "a.py").resolve())] = "unsaved buffer text\n"
    await rig.run()
    tool = next(m for m in rig.rt.messages if m.role == "tool")
    assert "unsaved buffer text" in tool.content and "on disk" not in tool.content


async def test_S6_cancel_withdraws_approvals_asked_for_batch_members_too(tmp_path):
    # A batch member's approval has its own id (<batch>.<n>); cancelling the run must close
    # it and announce it, or a client keeps a live prompt for an edit that can never run.
    rig = Rig(tmp_path, [Turn.tool("batch", {"calls": [
        {"tool": "write_file", "arguments": {"path": "x.txt", "content": "x"}}]}),
        Turn.text("never")], mode="ask")
    task = asyncio.create_task(rig.run())
    event = await rig.next_event(ev.ApprovalRequested)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert rig.approvals.list(rig.rt.id) == []
    resolved = [e for e in rig.events() if isinstance(e, ev.ApprovalResolved)]
    assert [(e.approval_id, e.by) for e in resolved] == [(event.approval_id, "cancelled")]
    assert not (rig.workspace / "x.txt").exists()


async def test_S3_a_batch_member_is_judged_again_after_an_earlier_member_made_a_link(tmp_path):
    # All members are judged before any runs; the bash member then points src/new at
    # protected/. The write must be judged again as protected/x and denied (review finding).
    rules = {"write_file": {"src/**": "allow", "protected/**": "deny"}}
    rig = Rig(tmp_path, [Turn.tool("batch", {"calls": [
        {"tool": "bash", "arguments": {"command": "ln -s ../protected src/new"}},
        {"tool": "write_file", "arguments": {"path": "src/new/x", "content": "pwned"}}]}),
        Turn.text("done")], rules=rules)
    (rig.workspace / "src").mkdir()
    (rig.workspace / "protected").mkdir()
    await rig.run()
    assert (rig.workspace / "src" / "new").is_symlink()
    assert not (rig.workspace / "protected" / "x").exists()
    end = next(e for e in rig.events() if isinstance(e, ev.ToolCallEnd) and e.name == "batch")
    assert "[2] write_file (error)" in end.output and "protected/**" in end.output
