"""The language server end to end: pytest-lsp as the editor, the real daemon behind it,
a scripted model."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as t
from pytest_lsp import ClientServerConfig, LanguageClient

# A short path (a socket must fit in 108 bytes), made by the fixtures that use it and removed
# when the module is done: nothing is created at import time.
HOME = Path("/tmp") / f"ctl{os.getpid()}-{uuid.uuid4().hex[:8]}"
WS = HOME / "ws"
SCRIPT = HOME / "script.json"
CLI = str(Path(sys.executable).parent / "codetether")


@pytest.fixture(scope="module", autouse=True)
def _home():
    HOME.mkdir(mode=0o700, exist_ok=True)
    yield
    subprocess.run([CLI, "daemon", "stop"], env={**os.environ, "CODETETHER_HOME": str(HOME)},
                   capture_output=True, timeout=60)
    shutil.rmtree(HOME, ignore_errors=True)


def _plain(obj):
    """pygls hands custom notification params over as namedtuples; make them dicts."""
    if hasattr(obj, "_asdict"):
        return {k: _plain(v) for k, v in obj._asdict().items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _script(*turns):
    SCRIPT.write_text(json.dumps({"turns": list(turns), "fallback": "(no more turns)"}))


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "codetether.lsp"]))
async def client(lsp_client: LanguageClient, request):
    # "custom": the client renders approvals itself (the Neovim / VS Code clients);
    # "generic": any LSP editor, which gets window/showMessageRequest instead.
    # "nosave": a custom client with initializationOptions saveAfterApply = false.
    mode = getattr(request, "param", "custom")
    WS.mkdir(parents=True, exist_ok=True)
    (HOME / "config").mkdir(exist_ok=True)
    (HOME / "config" / "config.toml").write_text(
        f'[default]\nprovider = "scripted"\nmodel = "scripted"\n\n[providers.scripted]\nscript = "{SCRIPT}"\n')
    _script({"text": "Hello from the agent."})
    lsp_client.events = []  # type: ignore[attr-defined]
    lsp_client.proposals = []  # type: ignore[attr-defined]
    lsp_client.approvals = []  # type: ignore[attr-defined]
    lsp_client.edits = []  # type: ignore[attr-defined]
    lsp_client.apply = True  # type: ignore[attr-defined]
    lsp_client.asked = []  # type: ignore[attr-defined]
    lsp_client.resolved = []  # type: ignore[attr-defined]
    lsp_client.statuses = []  # type: ignore[attr-defined]
    lsp_client.saves = []  # type: ignore[attr-defined]
    lsp_client.swarm = []  # type: ignore[attr-defined]

    @lsp_client.feature("codetether/swarm")
    def _swarm(params):
        lsp_client.swarm.append(_plain(params))

    @lsp_client.feature("codetether/event")
    def _event(params):
        lsp_client.events.append(_plain(params))

    @lsp_client.feature("codetether/proposal")
    def _proposal(params):
        lsp_client.proposals.append(_plain(params))

    @lsp_client.feature("codetether/approval")
    def _approval(params):
        lsp_client.approvals.append(_plain(params))

    @lsp_client.feature("codetether/status")
    def _status(params):
        lsp_client.statuses.append(_plain(params))

    @lsp_client.feature("codetether/resolved")
    def _resolved(params):
        lsp_client.resolved.append(_plain(params))

    @lsp_client.feature("codetether/saveDocuments")
    def _save(params):
        # This editor's buffers are not real: record the request and report them saved,
        # so a test can tell the server did not write the files itself.
        uris = list(_plain(params)["uris"])
        lsp_client.saves.append(uris)
        return {"saved": uris}

    lsp_client.before_apply = None  # type: ignore[attr-defined]

    @lsp_client.feature(t.WORKSPACE_APPLY_EDIT)
    async def _apply(params: t.ApplyWorkspaceEditParams):
        if lsp_client.before_apply is not None:
            await lsp_client.before_apply()
        lsp_client.edits.append(params.edit)
        return t.ApplyWorkspaceEditResult(applied=lsp_client.apply)

    @lsp_client.feature(t.WINDOW_SHOW_MESSAGE_REQUEST)
    def _ask(params: t.ShowMessageRequestParams):
        lsp_client.asked.append(params.message)
        titles = [a.title for a in params.actions or []]
        pick = next((x for x in ("Allow", "Apply") if x in titles), titles[0] if titles else None)
        return t.MessageActionItem(title=pick) if pick else None

    experimental = {"codetether": {"approvals": True, "saveDocuments": True}} if mode != "generic" else None
    caps = t.ClientCapabilities(experimental=experimental,
                                window=t.WindowClientCapabilities(work_done_progress=True))
    await lsp_client.initialize_session(t.InitializeParams(
        capabilities=caps, root_uri=WS.as_uri(),
        workspace_folders=[t.WorkspaceFolder(uri=WS.as_uri(), name="ws")],
        initialization_options={"codetetherHome": str(HOME), "approvalMode": "ask",
                                "saveAfterApply": mode != "nosave"}))
    yield
    await lsp_client.shutdown_session()
    subprocess.run([CLI, "daemon", "stop"], env={**os.environ, "CODETETHER_HOME": str(HOME)},
                   capture_output=True, timeout=60)
    shutil.rmtree(HOME / "data", ignore_errors=True)
    shutil.rmtree(WS, ignore_errors=True)


async def _until(predicate, what: str, timeout: float = 30.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def _open(client: LanguageClient, path: Path, text: str, version: int = 1) -> str:
    path.write_text(text)
    client.text_document_did_open(t.DidOpenTextDocumentParams(text_document=t.TextDocumentItem(
        uri=path.as_uri(), language_id="python", version=version, text=text)))
    return path.as_uri()


async def _command(client: LanguageClient, command: str, arg=None):
    return _plain(await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command=command, arguments=[arg] if arg is not None else [])))


def _done(client) -> bool:
    return any(e["event"]["type"] == "done" for e in client.events)


async def test_chat_streams_the_answer(client: LanguageClient):
    result = await _command(client, "codetether.chat", {"text": "hello"})
    assert result["session_id"]
    await _until(lambda: _done(client), "the done event")
    text = "".join(e["event"]["text"] for e in client.events if e["event"]["type"] == "text")
    assert text == "Hello from the agent."
    status = await _command(client, "codetether.status")
    assert status["model"] == "scripted/scripted" and status["context"]["level"]
    assert status["input_tokens"] > 0 and status["cost"] and status["text"].startswith("ct ")


async def test_proposal_code_actions_apply_through_apply_edit(client: LanguageClient):
    _script({"tool": "edit", "arguments": {"path": "hello.py", "old_string": "world", "new_string": "there"}},
            {"text": "Edited."})
    uri = _open(client, WS / "hello.py", "print('hello world')\n")
    await _command(client, "codetether.chat", {"text": "rename"})
    await _until(lambda: client.proposals, "a proposal")
    proposal = client.proposals[0]
    assert proposal["files"][0]["uri"] == uri and "+print('hello there')" in proposal["files"][0]["diff"]

    actions = await client.text_document_code_action_async(t.CodeActionParams(
        text_document=t.TextDocumentIdentifier(uri=uri), range=t.Range(t.Position(0, 0), t.Position(1, 0)),
        context=t.CodeActionContext(diagnostics=[])))
    titles = [a.title for a in actions]
    assert titles == ["Apply agent edit (edit)", "Reject agent edit (edit)", "Show diff (edit)"]
    diff = await _command(client, "codetether.showDiff", {"id": proposal["id"]})
    assert diff["files"][0]["proposed"] == "print('hello there')\n"

    assert (await _command(client, "codetether.approve", {"id": proposal["id"]}))["status"] == "allow"
    (edit,) = client.edits
    (change,) = edit.document_changes
    assert change.edits[0].new_text == "print('hello there')\n"
    await _until(lambda: _done(client), "the run to finish")
    # The editor applied it (undo works there) and was asked to save it (E6); neither the
    # daemon nor the server wrote the file behind its back.
    assert client.saves == [[uri]]
    assert (WS / "hello.py").read_text() == "print('hello world')\n"
    end = next(e["event"] for e in client.events if e["event"]["type"] == "tool_call_end")
    assert not end["is_error"]


async def test_rejected_and_stale_proposals_return_tool_errors(client: LanguageClient):
    _script({"tool": "edit", "arguments": {"path": "a.py", "old_string": "1", "new_string": "2"}},
            {"tool": "edit", "arguments": {"path": "a.py", "old_string": "1", "new_string": "3"}},
            {"text": "gave up"})
    uri = _open(client, WS / "a.py", "x = 1\n")
    await _command(client, "codetether.chat", {"text": "change it"})
    await _until(lambda: client.proposals, "the first proposal")
    await _command(client, "codetether.reject", {"id": client.proposals[0]["id"], "reason": "no"})
    await _until(lambda: len(client.proposals) == 2, "the second proposal")
    # The user types in the buffer before approving: the proposal is stale.
    client.text_document_did_change(t.DidChangeTextDocumentParams(
        text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[t.TextDocumentContentChangeWholeDocument(text="x = 1  # edited\n")]))
    assert (await _command(client, "codetether.approve", {"id": client.proposals[1]["id"]}))["status"] == "deny"
    await _until(lambda: _done(client), "the run to finish")
    ends = [e["event"] for e in client.events if e["event"]["type"] == "tool_call_end"]
    assert all(e["is_error"] for e in ends)
    assert "rejected this edit: no" in ends[0]["output"]
    assert "changed since the agent proposed" in ends[1]["output"]
    assert client.edits == []


async def test_buffer_true_reads_and_tool_approvals(client: LanguageClient):
    _script({"tool": "read_file", "arguments": {"path": "b.py"}},
            {"tool": "bash", "arguments": {"command": "echo approved-run"}},
            {"text": "done"})
    uri = _open(client, WS / "b.py", "on disk\n")
    client.text_document_did_change(t.DidChangeTextDocumentParams(
        text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[t.TextDocumentContentChangeWholeDocument(text="unsaved text\n")]))
    await _command(client, "codetether.chat", {"text": "read and run"})
    await _until(lambda: client.approvals, "the bash approval")
    assert client.approvals[0]["kind"] == "tool" and "echo approved-run" in client.approvals[0]["detail"]
    await _command(client, "codetether.approve", {"id": client.approvals[0]["id"]})
    await _until(lambda: _done(client), "the run to finish")
    outputs = [e["event"]["output"] for e in client.events if e["event"]["type"] == "tool_call_end"]
    assert "unsaved text" in outputs[0] and "on disk" not in outputs[0]
    assert "approved-run" in outputs[1]


async def test_review_findings_become_diagnostics(client: LanguageClient):
    _script({"text": "1: warning: prints instead of logging\n2: error: undefined name y"})
    uri = _open(client, WS / "c.py", "print(x)\nz = y\n")
    assert (await _command(client, "codetether.review", {"uri": uri}))["findings"] == 2
    await _until(lambda: uri in client.diagnostics, "diagnostics")
    found = client.diagnostics[uri]
    assert [(d.range.start.line, d.severity) for d in found] == [
        (0, t.DiagnosticSeverity.Warning), (1, t.DiagnosticSeverity.Error)]
    assert all(d.source == "codetether" for d in found)


@pytest.mark.parametrize("client", ["generic"], indirect=True)
async def test_any_lsp_editor_gets_show_message_requests_and_progress(client: LanguageClient):
    _script({"tool": "bash", "arguments": {"command": "echo via-message-request"}},
            {"tool": "write_file", "arguments": {"path": "new.py", "content": "x = 1\n"}},
            {"text": "all done"})
    await _command(client, "codetether.chat", {"text": "go"})
    await _until(lambda: _done(client), "the run to finish")
    assert any("Allow bash?" in m and "echo via-message-request" in m for m in client.asked)
    assert any("Apply the agent's write_file to new.py?" in m for m in client.asked)
    created = client.edits[0].document_changes
    assert isinstance(created[0], t.CreateFile) and created[1].edits[0].new_text == "x = 1\n"
    # E6: this editor cannot be asked to save, so the server wrote the applied text itself.
    assert (WS / "new.py").read_text() == "x = 1\n"
    outputs = [e["event"]["output"] for e in client.events if e["event"]["type"] == "tool_call_end"]
    assert "via-message-request" in outputs[0]
    def kinds():
        return [type(v).__name__ for reports in client.progress_reports.values() for v in reports]

    await _until(lambda: "WorkDoneProgressEnd" in kinds(), "progress to end")
    assert kinds()[0] == "WorkDoneProgressBegin" and "WorkDoneProgressReport" in kinds()


async def test_the_server_reconnects_when_the_daemon_restarts(client: LanguageClient):
    _script({"text": "first"})
    first = await _command(client, "codetether.chat", {"text": "one"})
    await _until(lambda: _done(client), "the first run")
    subprocess.run([CLI, "daemon", "stop"], env={**os.environ, "CODETETHER_HOME": str(HOME)},
                   capture_output=True, timeout=60, check=True)
    client.events.clear()
    _script({"text": "second"})  # the restarted daemon loads the script afresh
    again = await _command(client, "codetether.chat", {"text": "two"})
    assert again["session_id"] == first["session_id"]  # same session, after a restart
    await _until(lambda: _done(client), "the run after the restart")
    assert "".join(e["event"].get("text", "") for e in client.events
                   if e["event"]["type"] == "text") == "second"
    sessions = await _command(client, "codetether.sessions")
    assert [s["id"] for s in sessions] == [first["session_id"]]


async def test_slash_commands_model_plan_new_and_resume(client: LanguageClient):
    _script({"text": "one"}, {"text": "two"}, {"text": "three"})
    first = await _command(client, "codetether.chat", {"text": "first"})
    await _until(lambda: _done(client), "the first run")
    models = await _command(client, "codetether.model")
    assert "scripted/scripted" in models["models"] and "embedded/smollm2-135m" in models["models"]
    assert (await _command(client, "codetether.model", {"model": "scripted/scripted"}))["model"] \
        == "scripted/scripted"
    assert (await _command(client, "codetether.planMode", {"on": True}))["approval_mode"] == "plan"
    fresh = await _command(client, "codetether.newSession")
    assert fresh["session_id"] != first["session_id"]
    status = await _command(client, "codetether.status")
    assert status["session_id"] == fresh["session_id"]
    resumed = await _command(client, "codetether.resume", {"session_id": first["session_id"]})
    assert resumed["session_id"] == first["session_id"]
    assert (await _command(client, "codetether.status"))["session_id"] == first["session_id"]
    ids = {s["id"] for s in await _command(client, "codetether.sessions")}
    assert ids == {first["session_id"], fresh["session_id"]}


async def test_back_to_back_edits_do_not_wait_for_the_editors_did_change(client: LanguageClient):
    # Editors debounce didChange; the next proposal must build on the applied text anyway.
    _script({"tool": "edit", "arguments": {"path": "d.py", "old_string": "a = 1", "new_string": "a = 2"}},
            {"tool": "edit", "arguments": {"path": "d.py", "old_string": "a = 2", "new_string": "a = 3"}},
            {"text": "both done"})
    _open(client, WS / "d.py", "a = 1\n")
    await _command(client, "codetether.chat", {"text": "bump twice"})
    for n in (1, 2):
        await _until(lambda n=n: len(client.proposals) >= n, f"proposal {n}")
        assert (await _command(client, "codetether.approve", {"id": client.proposals[n - 1]["id"]}))[
            "status"] == "allow"
    await _until(lambda: _done(client), "the run to finish")
    assert [c.edits[0].new_text for e in client.edits for c in e.document_changes] == ["a = 2\n", "a = 3\n"]
    ends = [e["event"] for e in client.events if e["event"]["type"] == "tool_call_end"]
    assert [e["is_error"] for e in ends] == [False, False]


def _rpc_error(exc_info) -> tuple[int, str]:
    err = exc_info.value
    return getattr(err, "code", None), str(getattr(err, "message", err))


async def _edit_proposal(client: LanguageClient, name: str) -> tuple[str, dict]:
    _script({"tool": "edit", "arguments": {"path": name, "old_string": "world", "new_string": "there"}},
            {"text": "Edited."})
    uri = _open(client, WS / name, "print('hello world')\n")
    await _command(client, "codetether.chat", {"text": "rename"})
    await _until(lambda: client.proposals, "a proposal")
    return uri, client.proposals[0]


async def _actions(client: LanguageClient, uri: str) -> list:
    return await client.text_document_code_action_async(t.CodeActionParams(
        text_document=t.TextDocumentIdentifier(uri=uri), range=t.Range(t.Position(0, 0), t.Position(1, 0)),
        context=t.CodeActionContext(diagnostics=[]))) or []


async def test_s6_cancel_withdraws_the_proposal_and_approve_is_refused(client: LanguageClient):
    uri, proposal = await _edit_proposal(client, "s6.py")
    assert await _actions(client, uri)
    assert (await _command(client, "codetether.cancel"))["cancelled"] is True
    await _until(lambda: any(r["id"] == proposal["id"] for r in client.resolved), "the proposal withdrawn")
    resolved = next(r for r in client.resolved if r["id"] == proposal["id"])
    assert resolved["status"] == "deny" and resolved["by"] == "cancelled"
    assert await _actions(client, uri) == []  # its code actions are gone
    with pytest.raises(Exception) as refused:
        await _command(client, "codetether.approve", {"id": proposal["id"]})
    code, message = _rpc_error(refused)
    assert "withdrawn" in message and "cancelled" in message and "Traceback" not in message, message
    assert client.edits == []  # refused before any applyEdit
    assert (WS / "s6.py").read_text() == "print('hello world')\n"


async def test_s6_a_proposal_closed_in_the_daemon_is_refused_before_apply_edit(client: LanguageClient):
    # Decided elsewhere (here: straight through the daemon) before this server heard of it.
    uri, proposal = await _edit_proposal(client, "s6b.py")
    env = {**os.environ, "CODETETHER_HOME": str(HOME)}
    subprocess.run([CLI, "approvals", "deny", proposal["id"]], env=env, capture_output=True, timeout=60)
    await _until(lambda: _done(client), "the run to go on after the denial")
    with pytest.raises(Exception) as refused:
        await _command(client, "codetether.approve", {"id": proposal["id"]})
    _code, message = _rpc_error(refused)
    assert "codetether.daemon" not in message and "Traceback" not in message, message
    assert client.edits == []


async def test_e4_status_is_pushed_idle_when_the_turn_ends(client: LanguageClient):
    # A usage while the run is busy (a slow, approved bash), then a turn that ends with an
    # answer or fails with no usage at all: the last status pushed must be idle.
    bash = {"tool": "bash", "arguments": {"command": "sleep 0.3; echo step"}}
    _script(bash, {"text": "answer"}, bash, {"error": 400, "message": "failure"})  # read once per daemon
    for n in range(2):
        client.events.clear()
        client.approvals.clear()
        await _command(client, "codetether.chat", {"text": f"hi {n}"})
        await _until(lambda: client.approvals, "the bash approval")
        await _command(client, "codetether.approve", {"id": client.approvals[0]["id"]})
        await _until(lambda: any(s["busy"] for s in client.statuses), "a busy status")
        await _until(lambda: _done(client), f"turn {n} to end")
        await _until(lambda: client.statuses[-1]["busy"] is False, f"an idle status after turn {n}")
        client.statuses.clear()


async def test_e7_status_before_any_chat_names_no_session_and_no_nil(client: LanguageClient):
    status = await _command(client, "codetether.status")
    assert status["session_id"] is None and status["busy"] is False and "model" in status


@pytest.mark.parametrize("client", ["generic"], indirect=True)
async def test_e6_an_approved_edit_is_on_disk_before_the_agent_goes_on(client: LanguageClient):
    # The agent's next step is a bash call that reads the file: it must see the edit.
    _script({"tool": "edit", "arguments": {"path": "e6.py", "old_string": "world", "new_string": "there"}},
            {"tool": "bash", "arguments": {"command": "cat e6.py"}},
            {"text": "checked"})
    _open(client, WS / "e6.py", "print('hello world')\n")
    await _command(client, "codetether.chat", {"text": "rename and check"})
    await _until(lambda: _done(client), "the run to finish")
    assert (WS / "e6.py").read_text() == "print('hello there')\n"
    outputs = [e["event"]["output"] for e in client.events if e["event"]["type"] == "tool_call_end"]
    assert "hello there" in outputs[-1], outputs


@pytest.mark.parametrize("client", ["nosave"], indirect=True)
async def test_e6_save_after_apply_can_be_turned_off(client: LanguageClient):
    _uri, proposal = await _edit_proposal(client, "e6off.py")
    assert (await _command(client, "codetether.approve", {"id": proposal["id"]}))["applied"] is True
    assert client.saves == []
    assert (WS / "e6off.py").read_text() == "print('hello world')\n"


async def test_r6_bad_arguments_and_unknown_ids_get_plain_errors(client: LanguageClient):
    with pytest.raises(Exception) as bad:
        await _command(client, "codetether.approve", {"id": 5})
    code, message = _rpc_error(bad)
    assert code == -32602 and '"id"' in message, (code, message)
    with pytest.raises(Exception) as unknown:
        await _command(client, "codetether.approve", {"id": "0123456789ab"})
    code, message = _rpc_error(unknown)
    assert code not in (-32603, None) and "0123456789ab" in message, (code, message)
    assert "Traceback" not in message and "codetether.daemon" not in message
    assert getattr(unknown.value, "data", None) is None


async def test_s6_a_proposal_closed_while_it_is_applied_is_undone(client: LanguageClient):
    # The daemon closes the proposal while the editor applies it (a cancel or a decision
    # elsewhere racing the user's approve): the edit must not stay, in the buffer or on disk.
    uri, proposal = await _edit_proposal(client, "s6c.py")
    env = {**os.environ, "CODETETHER_HOME": str(HOME)}

    async def deny_elsewhere():
        client.before_apply = None
        proc = await asyncio.create_subprocess_exec(CLI, "approvals", "deny", proposal["id"], env=env,
                                                    stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.DEVNULL)
        await proc.wait()

    client.before_apply = deny_elsewhere
    with pytest.raises(Exception) as refused:
        await _command(client, "codetether.approve", {"id": proposal["id"]})
    _code, message = _rpc_error(refused)
    assert "undone" in message, message
    applied, undone = (e.document_changes[0].edits[0].new_text for e in client.edits)
    assert (applied, undone) == ("print('hello there')\n", "print('hello world')\n")
    assert client.saves == [[uri], [uri]]  # saved with the edit, then saved back
    assert await _actions(client, uri) == []


@pytest.mark.parametrize("client", ["generic"], indirect=True)
async def test_notices_reach_any_editor(client: LanguageClient):
    # A refused @mention is a notice: the two clients show it in their chat (it arrives as a
    # codetether/event); any other editor gets window/showMessage.
    _script({"text": "ok"})
    await _command(client, "codetether.chat", {"text": "look at @no-such-file.py"})
    await _until(lambda: _done(client), "the run to finish")
    notices = [e["event"]["text"] for e in client.events if e["event"]["type"] == "notice"]
    assert notices, client.events
    assert any(notices[0] in m.message for m in client.messages), client.messages


async def test_swarm_from_the_chat_streams_progress_and_the_answer(client: LanguageClient):
    """`/swarm TASK` typed in any chat: progress as chat notices of the pseudo-session
    swarm:<id> and as codetether/swarm notifications, then the answer as chat text."""
    _script({"text": json.dumps({"subtasks": [{"name": "look", "instruction": "look around"}]})},
            {"text": "looked: nothing odd"}, {"text": "The swarm looked and found nothing odd."})
    started = await _command(client, "codetether.chat", {"text": "/swarm check the project"})
    assert started == {"swarm": True, "workspace": str(WS)}
    await _until(lambda: any(n["type"] == "result" for n in client.swarm), "the swarm's result")
    result = next(n for n in client.swarm if n["type"] == "result")["state"]
    assert result["status"] == "completed" and result["answer"] == "The swarm looked and found nothing odd."
    phases = [n["event"]["phase"] for n in client.swarm if n["type"] == "event"]
    assert phases[0] == "planning" and "started" in phases and phases[-1] == "completed"
    chat = [e for e in client.events if e["session_id"] == f"swarm:{result['id']}"]
    assert [e["seq"] for e in chat] == list(range(len(chat)))
    notices = [e["event"]["text"] for e in chat if e["event"]["type"] == "notice"]
    assert "plan: stage 1: look" in notices and "✓ look done" in notices
    assert chat[-2]["event"] == {"type": "text", "text": "The swarm looked and found nothing odd."}
    assert chat[-1]["event"]["type"] == "done"
    with pytest.raises(Exception, match="needs"):
        await _command(client, "codetether.swarm", {"text": " "})


def _okr_draft(title: str) -> dict:
    return {"text": json.dumps({"title": title, "description": "a file that says it is done", "key_results": [
        {"title": "done.txt exists", "metric_type": "binary", "evidence": {"kind": "file", "path": "done.txt"}},
        {"title": "it says done", "metric_type": "binary",
         "evidence": {"kind": "command", "command": "grep -q done done.txt"}}]})}


def _go_script(*drafts: str) -> None:
    _script(*(_okr_draft(d) for d in drafts),
            {"tool": "write_file", "arguments": {"path": "done.txt", "content": "done\n"}}, {"text": "wrote it"},
            {"text": "holds"})


async def test_go_gate_for_a_custom_client_deny_redraft_approve(client: LanguageClient):
    """`/go` in the chat: an okr gate with the draft; deny with a reason re-drafts; approve ships."""
    _go_script("Too vague", "Ship done.txt")
    await _command(client, "codetether.chat", {"text": "/go ship a done file"})
    await _until(lambda: any(a["kind"] == "okr" for a in client.approvals), "the first OKR gate")
    gate = next(a for a in client.approvals if a["kind"] == "okr")
    assert gate["title"] == "Approve objective: Too vague" and gate["options"] == ["Approve", "Deny"]
    assert [kr["title"] for kr in gate["okr"]["key_results"]] == ["done.txt exists", "it says done"]
    assert "KR2. it says done (target 1, binary) — measured by command: grep -q done done.txt" in gate["detail"]
    await _command(client, "codetether.reject", {"id": gate["id"], "reason": "say which file"})
    await _until(lambda: sum(a["kind"] == "okr" for a in client.approvals) == 2, "the re-drafted gate")
    second = [a for a in client.approvals if a["kind"] == "okr"][1]
    assert second["title"] == "Approve objective: Ship done.txt"
    await _command(client, "codetether.approve", {"id": second["id"]})
    # the story's own tool approval (the session asks) reaches this editor like any gate
    await _until(lambda: any(a["kind"] == "tool" for a in client.approvals), "the story's write_file gate")
    tool_gate = next(a for a in client.approvals if a["kind"] == "tool")
    assert tool_gate["title"] == "Allow write_file?"
    await _command(client, "codetether.approve", {"id": tool_gate["id"]})
    await _until(lambda: _done(client), "the /go to finish", timeout=60)
    text = "".join(e["event"].get("text", "") for e in client.events if e["event"]["type"] == "text")
    assert "Denied by" in text and "/go completed: Ship done.txt" in text
    assert (WS / "done.txt").read_text() == "done\n"


@pytest.mark.parametrize("client", ["generic"], indirect=True)
async def test_go_gate_in_any_lsp_editor_is_a_message_request(client: LanguageClient):
    _go_script("Ship done.txt")
    await _command(client, "codetether.chat", {"text": "/go ship a done file"})
    await _until(lambda: _done(client), "the /go to finish", timeout=60)
    asked = next(m for m in client.asked if m.startswith("Approve objective: Ship done.txt"))
    assert "KR1. done.txt exists" in asked
    assert any(m.startswith("Allow write_file?") for m in client.asked)  # the story's own gate
    assert (WS / "done.txt").read_text() == "done\n"


async def test_history_gives_a_sessions_past_events_for_a_chat_to_redraw(client: LanguageClient):
    _script({"tool": "bash", "arguments": {"command": "echo history-line"}}, {"text": "Ran it."})
    await _command(client, "codetether.planMode", {"on": False})
    started = await _command(client, "codetether.chat", {"text": "run something"})
    await _until(lambda: any(a["kind"] == "tool" for a in client.approvals), "the bash gate")
    gate = next(a for a in client.approvals if a["kind"] == "tool")
    await _command(client, "codetether.approve", {"id": gate["id"]})
    await _until(lambda: _done(client), "the run to finish")
    history = await _command(client, "codetether.history", {"session_id": started["session_id"]})
    live = [e["event"]["type"] for e in client.events if e["session_id"] == started["session_id"]]
    assert [e["event"]["type"] for e in history["events"]] == live  # what the chat saw, in order
    assert [e["seq"] for e in history["events"]] == list(range(len(live)))
    kinds = [e["event"]["type"] for e in history["events"]]
    assert kinds[0] == "user" and "tool_call_end" in kinds and kinds[-1] == "done"
    end = next(e["event"] for e in history["events"] if e["event"]["type"] == "tool_call_end")
    assert "history-line" in end["output"]
    assert (await _command(client, "codetether.history"))["session_id"] == started["session_id"]  # the active one
