"""prd.json: the seed's schema read (unknown fields kept on write-back), validation errors
naming the story, the next story by priority and dependencies, verification steps told
apart, and hostile JSON always a clear PrdError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from codetether.daemon.core.bus import check_topic
from codetether.daemon.core.ralph import (
    PrdError,
    PrdFile,
    next_story,
    parse_prd,
    prd_id,
    step_command,
    story_rows,
)
from hypothesis import given, settings
from hypothesis import strategies as st


def _story(sid: str, *deps: str, priority: Any = 1, passes: bool = False, **extra: Any) -> dict[str, Any]:
    return {"id": sid, "title": f"story {sid}", "description": "d", "acceptance_criteria": ["works"],
            "priority": priority, "depends_on": list(deps), "passes": passes, **extra}


def _prd(*stories: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"project": "p", "feature": "f", "quality_checks": {"test": "true"}, "user_stories": list(stories),
            **extra}


def _parse(doc: Any) -> Any:
    return parse_prd(json.dumps(doc))[1]


def test_the_seeds_example_loads_with_defaults() -> None:
    seed = {"project": "my-project", "feature": "My Feature",
            "quality_checks": {"typecheck": "cargo check", "test": "cargo test", "lint": "cargo clippy",
                               "build": "cargo build --release"},
            "user_stories": [{"id": "US-001", "title": "First Story", "description": "Implement the first piece",
                              "acceptance_criteria": ["Compiles", "Tests pass"], "priority": 1,
                              "depends_on": [], "passes": False}]}
    prd = _parse(seed)
    story = prd.user_stories[0]
    assert prd.branch_name == "" and prd.auto_commit is False and prd.quality_checks.lint == "cargo clippy"
    assert story.verification_steps == [] and story.complexity == 3 and story.passes is False
    # the seed's older spelling of depends_on
    prd = _parse(_prd(_story("A"), {"id": "B", "title": "b", "dependencies": ["A"]}))
    assert prd.user_stories[1].depends_on == ["A"]


@pytest.mark.parametrize(("doc", "message"), [
    (_prd(_story("A"), _story("A")), "story id 'A' is used twice"),
    (_prd(_story("A", "Z")), "story 'A' depends on 'Z', which is not a story here"),
    (_prd(_story("A", "A")), "story 'A' depends on itself"),
    (_prd(_story("A", "C"), _story("B", "A"), _story("C", "B")), "in a circle: A -> C -> B -> A"),
    (_prd(_story("A"), _story("B", priority="high")), "user_stories[1].priority` (story 'B')"),
    (_prd(), "'user_stories' is empty"),
    ({"feature": "f", "user_stories": [_story("A")]}, "missing required field `project`"),
    (_prd(_story(" ")), "has an empty id"),
    ([1, 2], "must hold a JSON object, not list"),
])
def test_validation_errors_name_the_story(doc: Any, message: str) -> None:
    with pytest.raises(PrdError) as err:
        _parse(doc)
    assert message in err.value.message


def test_not_json_and_a_missing_file_are_clear(tmp_path: Path) -> None:
    with pytest.raises(PrdError, match="is not JSON"):
        parse_prd("{nope")
    with pytest.raises(PrdError, match="does not exist"):
        PrdFile.load(tmp_path / "prd.json")


def test_next_story_follows_priority_then_dependencies() -> None:
    prd = _parse(_prd(_story("C", "A", priority=1), _story("B", priority=2), _story("A", priority=3),
                      _story("D", priority=2, complexity=1)))
    # C is priority 1 but waits on A; of the ready ones D (priority 2, complexity 1) beats B
    assert next_story(prd).id == "D"
    order = []
    while (story := next_story(prd)) is not None:
        order.append(story.id)
        story.passes = True
    assert order == ["D", "B", "A", "C"]
    # ties keep the file's order
    prd = _parse(_prd(_story("Y"), _story("X")))
    assert next_story(prd).id == "Y"
    assert [r.status for r in story_rows(_parse(_prd(_story("A", passes=True), _story("B", "A"),
                                                     _story("C", "B"))))] == ["passes", "ready", "blocked"]


def test_marking_and_saving_keep_unknown_fields(tmp_path: Path) -> None:
    path = tmp_path / "prd.json"
    doc = _prd(_story("A", notes="keep me", extra={"x": [1, 2]}), version="1.0", technical_requirements=["r"])
    path.write_text(json.dumps(doc))
    prd = PrdFile.load(path)
    prd.mark_passed("A")
    prd.save()
    back = json.loads(path.read_text())
    assert back["user_stories"][0]["passes"] is True
    doc["user_stories"][0]["passes"] = True
    assert back == doc and list(back) == list(doc)  # nothing lost, order kept
    assert not list(tmp_path.glob(".prd.json.*"))  # the atomic write's temp file is gone
    with pytest.raises(KeyError):
        prd.mark_passed("nope")


def test_the_prd_id_is_a_bus_token(tmp_path: Path) -> None:
    pid = prd_id(tmp_path / "weird dir" / "prd.json")
    assert check_topic(f"ralph.{pid}") == f"ralph.{pid}" and pid == prd_id(tmp_path / "weird dir" / "prd.json")


@pytest.mark.parametrize(("step", "command"), [
    ("$ pytest -q tests/test_a.py", "pytest -q tests/test_a.py"),
    ("`test -f a.txt`", "test -f a.txt"),
    ({"command": "make check"}, "make check"),
    ("The login page shows the user's name", None),
    ("Run `pytest` and check the output", None),
    ("``", None),
    ("$ ", None),
    ({"type": "url", "url": "http://x"}, None),
])
def test_verification_steps_commands_and_prose(step: Any, command: str | None) -> None:
    assert step_command(step) == command


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                               max_size=4), max_leaves=20)
_story_like = st.fixed_dictionaries({"id": st.text(max_size=4) | st.integers(), "title": st.text(max_size=4)},
                                    optional={"depends_on": st.lists(st.sampled_from(["a", "b", "c"]), max_size=3)
                                              | _json, "passes": st.booleans() | _json,
                                              "priority": st.integers() | _json})


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.binary(max_size=64),
    _json.map(json.dumps),
    st.fixed_dictionaries({"project": st.text(max_size=3) | _json, "feature": st.text(max_size=3),
                           "user_stories": st.lists(_story_like, max_size=4) | _json}).map(json.dumps),
    st.integers(1, 5000).map(lambda n: "[" * n + "]" * n),
))
def test_hostile_json_is_a_clear_error_or_a_valid_prd(data: str | bytes) -> None:
    try:
        _raw, prd = parse_prd(data)
    except PrdError as exc:
        assert exc.message and exc.message.startswith("prd.json")
        return
    ids = [s.id for s in prd.user_stories]
    assert len(ids) == len(set(ids)) and all(d in ids for s in prd.user_stories for d in s.depends_on)
