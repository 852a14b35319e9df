"""S3 (and issue 7 item 4): approval rules judge where a path really leads.

One rule table, run through the real gate against every tool that touches files, with
each path written plainly and through ``..``, a symlinked directory, a symlink to the
file (or directory) itself, and absolutely: the decision must be the one for the plain
resolved path. A patch or multiedit that touches several files gets the strictest
decision over all of them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from codetether.daemon.core.agent import Agent, AgentSettings
from codetether.daemon.core.approvals import ApprovalStore, Gate
from codetether.daemon.core.providers.scripted import ScriptedProvider, Turn
from codetether.daemon.core.sessions import SessionRuntime, SessionStore
from codetether.daemon.core.tools import Tool, ToolContext, Workspace, default_registry
from codetether.daemon.errors import WorkspaceEscape
from codetether.daemon.wire import events as ev
from codetether.daemon.wire.messages import ToolCall

# Areas of the workspace and what the rules say about them (every tool, one table).
AREAS = {"src": "allow", "protected": "deny", "docs": "ask"}
FILE_TOOLS = ["write_file", "edit", "multiedit", "apply_patch", "read_file"]
DIR_TOOLS = ["glob", "grep", "list_dir", "codesearch"]
FORMS = ["plain", "dotdot", "linked_dir", "linked_leaf", "absolute"]


def _table() -> dict[str, str]:
    table: dict[str, str] = {}
    for area, action in AREAS.items():
        table[area] = action
        table[f"{area}/**"] = action
    return table


RULES = {name: _table() for name in FILE_TOOLS + DIR_TOOLS}


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """ws/<area>/d/f for each area, and under src/: to_<area> -> ../<area> (a linked
    directory), file_to_<area> -> ../<area>/d/f and dir_to_<area> -> ../<area>/d."""
    root = tmp_path / "ws"
    for area in AREAS:
        (root / area / "d").mkdir(parents=True)
        (root / area / "d" / "f").write_text("a\n")
    for area in AREAS:
        (root / "src" / f"to_{area}").symlink_to(f"../{area}")
        (root / "src" / f"file_to_{area}").symlink_to(f"../{area}/d/f")
        (root / "src" / f"dir_to_{area}").symlink_to(f"../{area}/d")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "f").write_text("a\n")
    (root / "src" / "out").symlink_to("../../outside")
    return root


def path_form(ws: Path, area: str, form: str, *, directory: bool) -> str:
    leaf = "d" if directory else "d/f"
    return {
        "plain": f"{area}/{leaf}",
        "dotdot": f"src/../{area}/{leaf}",
        "linked_dir": f"src/to_{area}/{leaf}",
        "linked_leaf": f"src/{'dir' if directory else 'file'}_to_{area}",
        "absolute": str(ws / area / leaf),
    }[form]


def _patch(*paths: str) -> str:
    return "".join(f"--- a/{p}\n+++ b/{p}\n@@ -1 +1 @@\n-a\n+b\n" for p in paths)


def arguments(tool: str, path: str) -> dict[str, Any]:
    """Arguments that touch ``path``; multi-file tools also touch the allowed src/d/f,
    so their decision is the strictest of the two."""
    return {
        "write_file": {"path": path, "content": "b\n"},
        "edit": {"path": path, "old_string": "a", "new_string": "b"},
        "multiedit": {"edits": [{"path": "src/d/f", "old_string": "a", "new_string": "b"},
                                {"path": path, "old_string": "a", "new_string": "b"}]},
        "apply_patch": {"patch": _patch("src/d/f", path)},
        "read_file": {"path": path},
        "glob": {"pattern": "*", "path": path},
        "grep": {"pattern": "a", "path": path},
        "list_dir": {"path": path},
        "codesearch": {"query": "a", "path": path},
    }[tool]


class GateRig:
    def __init__(self, tmp_path: Path, workspace: Path, rules: dict[str, dict[str, str]]) -> None:
        self.store = SessionStore(tmp_path / "sessions")
        meta = self.store.create(workspace=str(workspace), model="scripted/scripted", approval_mode="ask")
        self.rt = SessionRuntime(meta, self.store)
        self.sub = self.rt.hub.subscribe("drop", maxsize=10_000)
        self.approvals = ApprovalStore(tmp_path / "approvals")
        self.gate = Gate(self.rt, self.approvals, "ask", rules)
        self.registry = default_registry()
        self.calls = 0

    async def decide(self, tool_name: str, args: dict[str, Any]) -> tuple[str, str]:
        """(allow|ask|deny, the subject shown) for one call through the real gate."""
        tool = self.registry.get(tool_name)
        assert tool is not None
        self.calls += 1
        while not self.sub.queue.empty():  # events of earlier calls
            self.sub.queue.get_nowait()
        call = ToolCall(id=f"c{self.calls}", name=tool_name, arguments=json.dumps(args))
        check = asyncio.create_task(self.gate.check(call, tool, tool.approval_subject(tool.parse(args))))
        while True:
            get = asyncio.create_task(self.sub.queue.get())
            done, _ = await asyncio.wait({check, get}, return_when=asyncio.FIRST_COMPLETED)
            if get not in done:
                get.cancel()
                allowed, _why = check.result()
                return ("allow" if allowed else "deny"), ""
            event = get.result()[1]
            if isinstance(event, ev.ApprovalRequested):
                self.approvals.decide(event.approval_id, "deny", by="test")
                await check
                return "ask", event.subject
            if isinstance(event, ev.ApprovalResolved) and event.by == "policy":
                allowed, _why = await check
                return ("allow" if allowed else "deny"), event.subject


@pytest.fixture
def gate_rig(tmp_path: Path, ws: Path) -> Iterator[GateRig]:
    rig = GateRig(tmp_path, ws, RULES)
    yield rig
    rig.store.close()


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("tool", FILE_TOOLS + DIR_TOOLS)
async def test_rules_judge_the_resolved_path_for_every_tool_and_path_form(
        gate_rig: GateRig, ws: Path, tool: str, form: str) -> None:  # S3, issue 7 item 4
    directory = tool in DIR_TOOLS
    for area, expected in AREAS.items():
        plain = await gate_rig.decide(tool, arguments(tool, path_form(ws, area, "plain", directory=directory)))
        assert plain[0] == expected, (tool, area)
        decision = await gate_rig.decide(tool, arguments(tool, path_form(ws, area, form, directory=directory)))
        assert decision[0] == expected, (tool, area, form)


async def test_subject_shown_is_every_resolved_path(gate_rig: GateRig, ws: Path) -> None:  # S3
    action, subject = await gate_rig.decide("multiedit", arguments("multiedit", "src/to_docs/d/f"))
    assert (action, subject) == ("ask", "src/d/f, docs/d/f")
    action, subject = await gate_rig.decide("apply_patch", arguments("apply_patch", "src/../docs/d/f"))
    assert (action, subject) == ("ask", "src/d/f, docs/d/f")
    action, subject = await gate_rig.decide("write_file", arguments("write_file", "src/file_to_protected"))
    assert (action, subject) == ("deny", "protected/d/f")


def test_rule_subjects_of_a_rename_patch_name_both_files(ws: Path) -> None:  # S3
    tool = default_registry().get("apply_patch")
    assert tool is not None
    patch = "--- a/src/d/f\n+++ b/src/to_protected/d/g\n@@ -1 +1 @@\n-a\n+b\n"
    assert tool.rule_subjects(tool.parse({"patch": patch}), Workspace(ws)) == ["src/d/f", "protected/d/g"]
    # Unparsable: judged as "", which matches no path rule (write tools then ask).
    assert tool.rule_subjects(tool.parse({"patch": "@@ nonsense"}), Workspace(ws)) == [""]


@pytest.mark.parametrize("tool_name", FILE_TOOLS + DIR_TOOLS)
async def test_a_symlink_out_of_the_workspace_is_still_refused(ws: Path, tool_name: str) -> None:  # S3
    registry = default_registry()
    tool = registry.get(tool_name)
    assert isinstance(tool, Tool)
    directory = tool_name in DIR_TOOLS
    path = "src/out" if directory else "src/out/f"
    args = tool.parse(arguments(tool_name, path))
    # The rule subject is the absolute target, which no workspace rule matches...
    subjects = tool.rule_subjects(args, Workspace(ws))
    assert str(ws.parent / "outside" / ("" if directory else "f")).rstrip("/") in subjects
    # ...and the tool itself refuses it, as before.
    ctx = ToolContext(workspace=Workspace(ws), session_id="s", call_id="c", registry=registry)
    with pytest.raises(WorkspaceEscape):
        await tool.run(args, ctx)
    assert (ws.parent / "outside" / "f").read_text() == "a\n"


async def test_batch_members_are_judged_on_the_resolved_path(tmp_path: Path, ws: Path) -> None:  # S3
    store = SessionStore(tmp_path / "sessions")
    try:
        meta = store.create(workspace=str(ws), model="scripted/scripted", approval_mode="ask")
        rt = SessionRuntime(meta, store)
        calls = [{"tool": "write_file", "arguments": {"path": "src/to_protected/d/f", "content": "b\n"}},
                 {"tool": "multiedit", "arguments": arguments("multiedit", "src/../protected/d/f")},
                 {"tool": "apply_patch", "arguments": arguments("apply_patch", "src/file_to_protected")}]
        provider = ScriptedProvider([Turn.tool("batch", {"calls": calls}), Turn.text("done")])
        settings = AgentSettings(model="scripted", model_label="scripted/scripted", mode="ask", rules=RULES)
        agent = Agent(rt, provider, default_registry(), ApprovalStore(tmp_path / "approvals"), settings)
        await agent.run("go")
        result = [m for m in rt.messages if m.role == "tool"][0].content
        assert result.count("denied by policy") == 3, result
        assert (ws / "protected" / "d" / "f").read_text() == "a\n"
        assert (ws / "src" / "d" / "f").read_text() == "a\n"  # all or nothing
    finally:
        store.close()


async def test_a_link_made_after_the_decision_is_judged_again_before_the_call_runs(
        gate_rig: GateRig, ws: Path) -> None:  # S3
    # All calls of a turn are judged before any runs: a bash call could make src/new
    # point at protected/ after write_file src/new/d/f was allowed as a src/ path.
    tool = gate_rig.registry.get("write_file")
    assert tool is not None
    args = {"path": "src/new/d/f", "content": "b"}
    call = ToolCall(id="w1", name="write_file", arguments=json.dumps(args))
    assert (await gate_rig.gate.check(call, tool, "src/new/d/f"))[0]
    assert await gate_rig.gate.recheck(call, tool, "src/new/d/f") == (True, "")  # unchanged
    assert (await gate_rig.gate.check(call, tool, "src/new/d/f"))[0]
    (ws / "src" / "new").symlink_to("../protected")
    allowed, why = await gate_rig.gate.recheck(call, tool, "src/new/d/f")
    assert not allowed and "protected/**" in why
