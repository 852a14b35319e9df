import asyncio

import pytest
from codetether.daemon.core.approvals import ApprovalStore, evaluate_policies, evaluate_policy
from codetether.daemon.errors import Conflict, NotFound
from codetether.daemon.wire.messages import ToolCall

RULES = {
    "bash": {"git push*": "ask", "rm -rf*": "deny", "ls*": "allow", "*": "ask"},
    "write_file": {"src/**": "allow", "src/secret/**": "deny"},
    "*": {".env": "deny"},
}


@pytest.mark.parametrize(("tool", "subject", "read_only", "mode", "action"), [
    ("bash", "git push origin main", False, "ask", "ask"),
    ("bash", "rm -rf /", False, "auto", "deny"),          # deny survives auto mode
    ("bash", "ls -la", False, "ask", "allow"),            # allow rule; "*"=ask outranks it
    ("write_file", "src/a/b.py", False, "ask", "allow"),
    ("write_file", "src/secret/key.py", False, "ask", "deny"),  # deny > allow
    ("write_file", "docs/x.md", False, "ask", "ask"),       # default for write tools
    ("write_file", "docs/x.md", False, "auto", "allow"),
    ("write_file", "src/a.py", False, "plan", "deny"),      # plan mode is read-only
    ("read_file", "src/a.py", True, "plan", "allow"),
    ("read_file", ".env", True, "auto", "deny"),            # "*" table applies to every tool
    ("grep", "x", True, "ask", "allow"),
])
def test_policy_deny_beats_ask_beats_allow(tool, subject, read_only, mode, action):
    decision = evaluate_policy(tool, subject, read_only=read_only, mode=mode, rules=RULES)
    if (tool, subject) == ("bash", "ls -la"):
        assert decision.action == "ask"  # "*" = ask also matches and outranks allow
        return
    assert decision.action == action, decision


@pytest.mark.parametrize(("subjects", "mode", "action", "rule"), [
    (["src/a.py", "src/secret/k.py"], "ask", "deny", "write_file:src/secret/**"),
    (["src/a.py", "docs/x.md"], "ask", "ask", "default"),
    (["docs/x.md", "src/a.py"], "auto", "allow", "mode:auto (default)"),
    (["src/a.py", "src/secret/k.py"], "auto", "deny", "write_file:src/secret/**"),
    (["src/a.py", "src/b.py"], "ask", "allow", "write_file:src/**"),
    ([], "ask", "ask", "default"),
])
def test_several_subjects_get_the_strictest_decision(subjects, mode, action, rule):  # S3
    decision = evaluate_policies("write_file", subjects, read_only=False, mode=mode, rules=RULES)
    assert (decision.action, decision.rule) == (action, rule)


async def test_pending_approval_survives_a_restart_and_leaves_receipts(tmp_path):
    store = ApprovalStore(tmp_path)
    rec = store.create(session_id="s1", call_id="c1", tool="bash", subject="git push",
                       arguments='{"command":"git push"}')
    reloaded = ApprovalStore(tmp_path)
    assert [r.id for r in reloaded.list("s1")] == [rec.id]
    assert reloaded.find_for_call("s1", ToolCall("c1", "bash", "{\"command\":\"git push\"}")).status == "pending"
    assert reloaded.find_for_call("s1", ToolCall("c1", "bash", "{\"command\":\"rm -rf /\"}")) is None

    waiter = asyncio.create_task(reloaded.wait(rec.id))
    await asyncio.sleep(0)
    decided = reloaded.decide(rec.id, "deny", by="uid:1000", reason="not today")
    assert (await waiter).status == "deny"
    assert decided.decided_by == "uid:1000"
    with pytest.raises(Conflict):
        reloaded.decide(rec.id, "allow", by="x")
    # The log keeps both states: the pending record and the decision receipt.
    lines = (tmp_path / "approvals.jsonl").read_text().splitlines()
    assert len(lines) == 2 and '"status":"deny"' in lines[1]
    assert ApprovalStore(tmp_path).list("s1") == []
    assert ApprovalStore(tmp_path).list("s1", include_decided=True)[0].reason == "not today"


def test_torn_last_line_is_skipped(tmp_path):
    store = ApprovalStore(tmp_path)
    store.create(session_id="s", call_id="c", tool="bash", subject="x", arguments="{}")
    with (tmp_path / "approvals.jsonl").open("ab") as fh:
        fh.write(b'{"id":"torn","sess')
    assert len(ApprovalStore(tmp_path).list()) == 1


def test_unknown_approval_is_not_found(tmp_path):
    with pytest.raises(NotFound):
        ApprovalStore(tmp_path).decide("nope", "allow", by="x")
