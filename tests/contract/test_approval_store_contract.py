"""The approval store's contract, written against ``ApprovalBackend`` (STYLE 11): one
backend today (the JSON Lines file), and any later one joins the ``store`` fixture.

What only the file backend does (surviving a restart, skipping a torn line, one receipt
line per state) is tested at the end, on that backend."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from codetether.daemon.core.approvals import ApprovalBackend, ApprovalStore, PolicyDecision
from codetether.daemon.errors import Conflict, NotFound
from codetether.daemon.wire.api import ApprovalRecord
from codetether.daemon.wire.messages import ToolCall

BACKENDS: dict[str, Callable[[Path], ApprovalBackend]] = {"jsonl": ApprovalStore}


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ApprovalBackend:
    return BACKENDS[request.param](tmp_path)


def _ask(store: ApprovalBackend, session: str = "s1", call: str = "c1", *,
         arguments: str = '{"command":"git push"}') -> ApprovalRecord:
    return store.create(session_id=session, call_id=call, tool="bash", subject="git push",
                        arguments=arguments)


def test_create_makes_a_pending_record(store: ApprovalBackend):
    record = _ask(store)
    assert record.status == "pending" and record.decided_at is None
    assert (record.session_id, record.call_id, record.tool, record.subject) == ("s1", "c1", "bash", "git push")
    assert record.arguments == '{"command":"git push"}'
    assert record.created_at > 0 and record.id
    assert store.get(record.id) == record


def test_ids_are_unique(store: ApprovalBackend):
    assert len({_ask(store, call=f"c{i}").id for i in range(20)}) == 20


def test_list_is_pending_oldest_first_and_filters_by_session(store: ApprovalBackend):
    a = _ask(store, "s1", "c1")
    b = _ask(store, "s2", "c2")
    c = _ask(store, "s1", "c3")
    assert [r.id for r in store.list()] == [a.id, b.id, c.id]
    assert [r.id for r in store.list("s1")] == [a.id, c.id]
    assert store.list("nobody") == []
    store.decide(a.id, "allow", by="uid:1")
    assert [r.id for r in store.list("s1")] == [c.id]
    assert [r.id for r in store.list("s1", include_decided=True)] == [a.id, c.id]


def test_decide_records_who_why_and_when(store: ApprovalBackend):
    record = _ask(store)
    decided = store.decide(record.id, "deny", by="uid:1000", reason="not today")
    assert (decided.id, decided.status, decided.decided_by, decided.reason) == (
        record.id, "deny", "uid:1000", "not today")
    assert decided.decided_at is not None and decided.decided_at >= record.created_at
    assert store.get(record.id) == decided


def test_applied_is_kept_only_for_an_allow(store: ApprovalBackend):
    allowed = store.decide(_ask(store, call="a").id, "allow", by="x", applied=True)
    denied = store.decide(_ask(store, call="d").id, "deny", by="x", applied=True)
    assert allowed.applied and not denied.applied


def test_deciding_twice_is_a_conflict(store: ApprovalBackend):
    record = _ask(store)
    store.decide(record.id, "allow", by="x")
    with pytest.raises(Conflict, match="already decided"):
        store.decide(record.id, "deny", by="y")
    assert store.get(record.id).status == "allow"


@pytest.mark.parametrize("call", ["get", "decide", "wait"])
async def test_unknown_ids_are_not_found(store: ApprovalBackend, call: str):
    with pytest.raises(NotFound):
        if call == "get":
            store.get("nope")
        elif call == "decide":
            store.decide("nope", "allow", by="x")
        else:
            await store.wait("nope")


def test_find_for_call_matches_id_tool_and_arguments_exactly(store: ApprovalBackend):
    record = _ask(store)
    found = store.find_for_call("s1", ToolCall("c1", "bash", '{"command":"git push"}'))
    assert found is not None and found.id == record.id
    assert store.find_for_call("s1", ToolCall("c1", "bash", '{"command":"rm -rf /"}')) is None
    assert store.find_for_call("s1", ToolCall("c1", "write_file", '{"command":"git push"}')) is None
    assert store.find_for_call("s2", ToolCall("c1", "bash", '{"command":"git push"}')) is None
    assert store.find_for_call("s1", ToolCall("c2", "bash", '{"command":"git push"}')) is None


def test_find_for_call_sees_the_decision(store: ApprovalBackend):
    record = _ask(store)
    store.decide(record.id, "allow", by="x")
    found = store.find_for_call("s1", ToolCall("c1", "bash", '{"command":"git push"}'))
    assert found is not None and found.status == "allow"


def test_a_policy_receipt_is_decided_and_not_a_users_approval(store: ApprovalBackend):
    allow = store.record_policy(session_id="s1", call_id="c1", tool="read_file", subject="a.py",
                                arguments="{}", decision=PolicyDecision("allow", "default"))
    deny = store.record_policy(session_id="s1", call_id="c2", tool="bash", subject="rm -rf /",
                               arguments="{}", decision=PolicyDecision("deny", "bash:rm -rf*"))
    ask = store.record_policy(session_id="s1", call_id="c3", tool="bash", subject="x",
                              arguments="{}", decision=PolicyDecision("ask", "default"))
    assert (allow.status, allow.decided_by, allow.reason) == ("allow", "policy", "default")
    assert (deny.status, deny.reason) == ("deny", "bash:rm -rf*")
    assert ask.status == "deny"  # a receipt records only what ran or did not
    assert allow.decided_at is not None
    assert store.list("s1") == []
    assert {r.id for r in store.list("s1", include_decided=True)} == {allow.id, deny.id, ask.id}
    # Only a person's approval can be found again for a call; the policy judges afresh.
    assert store.find_for_call("s1", ToolCall("c1", "read_file", "{}")) is None


def test_withdraw_session_denies_only_that_sessions_pending(store: ApprovalBackend):
    mine, decided, other = _ask(store, "s1", "c1"), _ask(store, "s1", "c2"), _ask(store, "s2", "c3")
    store.decide(decided.id, "allow", by="uid:1")
    store.withdraw_session("s1", by="session deleted")
    withdrawn = store.get(mine.id)
    assert (withdrawn.status, withdrawn.decided_by, withdrawn.reason) == (
        "deny", "session deleted", "the session was deleted")
    assert store.get(decided.id).status == "allow"
    assert store.get(other.id).status == "pending"


async def test_wait_returns_once_decided_and_wakes_every_waiter(store: ApprovalBackend):
    record = _ask(store)
    waiters = [asyncio.create_task(store.wait(record.id)) for _ in range(2)]
    await asyncio.sleep(0)  # let both start waiting: the decision must wake them
    assert not any(w.done() for w in waiters)
    decided = store.decide(record.id, "allow", by="x")
    assert [await w for w in waiters] == [decided, decided]


async def test_wait_on_a_decided_approval_returns_at_once(store: ApprovalBackend):
    record = _ask(store)
    decided = store.decide(record.id, "deny", by="x")
    assert await asyncio.wait_for(store.wait(record.id), 5) == decided


async def test_a_cancelled_waiter_does_not_stop_the_others(store: ApprovalBackend):
    record = _ask(store)
    gone = asyncio.create_task(store.wait(record.id))
    stays = asyncio.create_task(store.wait(record.id))
    await asyncio.sleep(0)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    store.decide(record.id, "allow", by="x")
    assert (await stays).status == "allow"


# ---- the JSON Lines backend only ------------------------------------------------------


def test_jsonl_pending_and_decided_survive_a_restart(tmp_path: Path):
    store = ApprovalStore(tmp_path)
    pending, decided = _ask(store, call="p"), _ask(store, call="d")
    store.decide(decided.id, "allow", by="uid:1", reason="ok")
    again = ApprovalStore(tmp_path)
    assert [r.id for r in again.list()] == [pending.id]
    assert again.get(decided.id).reason == "ok"
    found = again.find_for_call("s1", ToolCall("p", "bash", '{"command":"git push"}'))
    assert found is not None and found.status == "pending"


def test_jsonl_keeps_one_receipt_line_per_state(tmp_path: Path):
    store = ApprovalStore(tmp_path)
    store.decide(_ask(store).id, "deny", by="x")
    lines = (tmp_path / "approvals.jsonl").read_bytes().splitlines()
    states = [msgspec.json.decode(line, type=ApprovalRecord).status for line in lines]
    assert states == ["pending", "deny"]


def test_jsonl_skips_a_torn_last_line(tmp_path: Path):
    store = ApprovalStore(tmp_path)
    record = _ask(store)
    with (tmp_path / "approvals.jsonl").open("ab") as fh:
        fh.write(b'{"id":"torn","sess')
    assert [r.id for r in ApprovalStore(tmp_path).list()] == [record.id]


def test_jsonl_a_missing_directory_is_an_empty_store_made_on_first_write(tmp_path: Path):
    store = ApprovalStore(tmp_path / "not" / "yet")
    assert store.list(include_decided=True) == []
    _ask(store)
    assert (tmp_path / "not" / "yet" / "approvals.jsonl").is_file()
