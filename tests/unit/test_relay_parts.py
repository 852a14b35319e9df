"""The relay's parts without a daemon: the checkpoint's round trip through its store,
profile planning (valid, invalid -> the defaults), the convergence marker, the turn
prompt built only from the checkpoint."""

from __future__ import annotations

import json
import os
from pathlib import Path

import msgspec
import pytest
from codetether.daemon.core.relay import (
    DEFAULT_PROFILES,
    ProfileError,
    RelayStore,
    converged,
    default_profiles,
    new_relay_id,
    parse_profiles,
    plan_profiles,
    turn_prompt,
)
from codetether.daemon.errors import NotFound
from codetether.daemon.wire.relay import RelayCheckpoint, RelayProfile, RelayTurn, describe_relay_progress


def _cp(**kw: object) -> RelayCheckpoint:
    base: dict[str, object] = dict(
        relay_id=new_relay_id(), task="fix the bug", workspace="/tmp", order=("planner", "coder"),
        profiles=(RelayProfile(name="planner", instructions="plan it"),
                  RelayProfile(name="coder", instructions="code it")),
        sessions={"planner": "s1"}, round=2, index=1, baton="plan: edit a.py", step="prompt_sent",
        prompt_at=7, tool_step=(1, 0), status="running", max_rounds=4, okr_run_id="run-1",
        turns=(RelayTurn(round=1, index=0, profile="planner", session_id="s1", text="plan", tool_calls=2),),
        created_at=1.5, updated_at=2.5, seq=9)
    base.update(kw)
    return RelayCheckpoint(**base)


def test_checkpoint_round_trips_through_the_store_whole_and_private(tmp_path: Path) -> None:
    store = RelayStore(tmp_path / "relays")
    cp = _cp()
    store.save(cp)
    assert store.get(cp.relay_id) == cp
    path = store.path(cp.relay_id)
    assert os.stat(path).st_mode & 0o777 == 0o600
    doc = json.loads(path.read_bytes())
    for key in ("relay_id", "task", "order", "sessions", "round", "index", "baton", "turns", "status",
                "max_rounds", "okr_run_id", "created_at", "updated_at", "step", "prompt_at"):
        assert key in doc, key
    assert doc["turns"][0] == {"round": 1, "index": 0, "profile": "planner", "session_id": "s1",
                               "text": "plan", "tool_calls": 2}
    # replaced whole: no temp file left beside it
    store.save(msgspec.structs.replace(cp, seq=10))
    assert [p.name for p in (tmp_path / "relays").iterdir()] == [path.name]
    other = _cp(created_at=9.0)
    store.save(other)
    assert [c.relay_id for c in store.list()] == [other.relay_id, cp.relay_id]
    (tmp_path / "relays" / "r20990101-000000-abcdef.json").write_text("{torn")
    assert len(store.list()) == 2  # a corrupt file is left out, not fatal
    for bad in ("../etc/passwd", "r1", "", "x" * 200):
        with pytest.raises(NotFound):
            store.get(bad)


def test_profiles_valid_in_prose_or_a_fence() -> None:
    reply = 'Sure:\n```json\n{"profiles": [{"name": "architect", "instructions": "design"},' \
            ' {"name": "coder", "instructions": "write it", "extra": 1}]}\n```'
    assert [p.name for p in parse_profiles(reply, 2)] == ["architect", "coder"]


@pytest.mark.parametrize("reply, why", [
    ("no json here", "no JSON object"),
    ('{"profiles": [{"name": "a", "instructions": "x"}]}', "1 profiles, not 2"),
    ('{"profiles": [{"name": "a", "instructions": "x"}, {"name": "a", "instructions": "y"}]}', "named twice"),
    ('{"profiles": [{"name": "Bad Name", "instructions": "x"}, {"name": "b", "instructions": "y"}]}', "bad name"),
    ('{"profiles": [{"name": "a"}, {"name": "b", "instructions": "y"}]}', "schema"),
    ('{"profiles": [{"name": "a", "instructions": "  "}, {"name": "b", "instructions": "y"}]}', "no instructions"),
])
def test_invalid_profiles_are_refused_with_the_reason(reply: str, why: str) -> None:
    with pytest.raises(ProfileError, match=why):
        parse_profiles(reply, 2)


async def test_planning_falls_back_to_the_default_three() -> None:
    asked: list[list[dict[str, str]]] = []

    async def model(messages: list[dict[str, str]]) -> str:
        asked.append(messages)
        return '{"profiles": "nope"}'

    profiles, why = await plan_profiles(model, "task", 3)
    assert profiles == DEFAULT_PROFILES and why and len(asked) == 1
    assert [p.name for p in profiles] == ["planner", "implementer", "reviewer"]
    assert [p.name for p in default_profiles(2)] == ["implementer", "reviewer"]
    assert [p.name for p in default_profiles(1)] == ["implementer"]

    async def good(_messages: list[dict[str, str]]) -> str:
        return json.dumps({"profiles": [{"name": n, "instructions": f"be {n}"} for n in ("a", "b", "c", "d")]})

    profiles, why = await plan_profiles(good, "task", 4)
    assert why is None and [p.name for p in profiles] == ["a", "b", "c", "d"]


@pytest.mark.parametrize("text, done", [
    ("All good.\nAPPROVED", True), ("**APPROVED**", True), ("[DONE]", True), ("done.\nDONE.", True),
    ("I have not APPROVED this", False), ("approved", False), ("Not done yet", False), ("", False),
])
def test_the_convergence_marker_is_a_line_of_its_own(text: str, done: bool) -> None:
    assert converged(text) is done


def test_the_turn_prompt_comes_from_the_checkpoint_only() -> None:
    cp = _cp()
    coder = cp.profiles[1]
    prompt = turn_prompt(cp, coder)
    assert prompt == turn_prompt(msgspec.json.decode(msgspec.json.encode(cp), type=RelayCheckpoint), coder)
    assert "round 2 of at most 4" in prompt and "you are coder, 2 of 2: planner → coder" in prompt
    assert "Handoff from planner:\nplan: edit a.py" in prompt and "fix the bug" in prompt and "code it" in prompt
    assert "You go first" in turn_prompt(_cp(turns=(), baton="", index=0), cp.profiles[0])


def test_progress_lines() -> None:
    assert describe_relay_progress({"phase": "turn", "profile": "coder", "round": 2}) == "▶ round 2: coder"
    assert describe_relay_progress({"phase": "baton", "profile": "coder", "detail": "reviewer: x"}) \
        == "✓ coder → reviewer: x"
    assert "approvals allow ap1" in (describe_relay_progress(
        {"phase": "approval", "profile": "c", "detail": "ap1 bash echo"}) or "")
    assert describe_relay_progress({"phase": "nonsense"}) is None
