"""A swarm's plan: the reply parsed wherever the JSON sits, every graph problem named,
one repair, then the single-subtask fallback."""

from __future__ import annotations

import json

import pytest
from codetether.daemon.core.agents import PlanError, fallback_plan, parse_plan, plan_subtasks
from codetether.daemon.errors import InvalidParams
from codetether.daemon.wire.swarm import Plan, Subtask
from hypothesis import given, settings
from hypothesis import strategies as st

PLAN = {"subtasks": [
    {"name": "api", "instruction": "add the endpoint", "specialty": "backend", "dependencies": [],
     "priority": 2, "needs_worktree": True},
    {"name": "docs", "instruction": "document it", "dependencies": ["api"]},
]}


def _sub(name: str, *deps: str) -> dict[str, object]:
    return {"name": name, "instruction": f"do {name}", "dependencies": list(deps)}


@pytest.mark.parametrize("text", [
    json.dumps(PLAN),
    f"```json\n{json.dumps(PLAN, indent=2)}\n```",
    f"Here is the plan:\n```\n{json.dumps(PLAN)}\n```\nGood luck!",
    f"Sure. {json.dumps(PLAN)} That should work {{not json}}.",
    f"```python\nx = {{1: 2}}\n```\nand the plan: ```json\n{json.dumps(PLAN)}\n```",
])
def test_the_plan_is_found_bare_fenced_or_in_prose(text: str) -> None:
    plan = parse_plan(text)
    assert [s.name for s in plan.subtasks] == ["api", "docs"]
    api, docs = plan.subtasks
    assert api == Subtask(name="api", instruction="add the endpoint", specialty="backend", priority=2,
                          needs_worktree=True)
    assert docs.dependencies == ("api",) and docs.needs_worktree is False


def test_unknown_fields_are_ignored_and_numbers_in_strings_accepted() -> None:
    reply = {"subtasks": [{**_sub("a"), "priority": "3", "why": "models add commentary"}], "notes": "x"}
    assert parse_plan(json.dumps(reply)).subtasks[0].priority == 3


def _problems(reply: object, **kw: int) -> list[str]:
    with pytest.raises(PlanError) as info:
        parse_plan(json.dumps(reply), **kw)
    assert isinstance(info.value, InvalidParams)
    assert info.value.data == {"problems": list(info.value.problems)}
    return list(info.value.problems)


def test_a_cycle_is_rejected_naming_its_subtasks() -> None:
    problems = _problems({"subtasks": [_sub("a", "c"), _sub("b", "a"), _sub("c", "b"), _sub("d")]})
    assert problems == ["dependency cycle: 'a' -> 'c' -> 'b' -> 'a'"]


def test_unknown_and_self_dependencies_name_the_subtask() -> None:
    problems = _problems({"subtasks": [_sub("a", "a"), _sub("b", "ghost")]})
    assert problems == ["subtask 'a' depends on itself", "subtask 'b' depends on unknown subtask 'ghost'"]


def test_duplicate_and_empty_names_are_rejected() -> None:
    problems = _problems({"subtasks": [_sub("a"), _sub("a"), _sub("  ")]})
    assert "subtask 'a' is named twice (names must be unique)" in problems
    assert "subtask #3 has an empty name" in problems


def test_too_many_subtasks_and_no_subtasks() -> None:
    assert _problems({"subtasks": [_sub(str(i)) for i in range(5)]}, max_subtasks=4) == [
        "the plan has 5 subtasks; at most 4 are allowed"]
    assert _problems({"subtasks": []}) == ["the plan has no subtasks"]


def test_a_schema_mismatch_and_no_json_are_clear_errors() -> None:
    [problem] = _problems({"subtasks": [{"name": "a"}]})
    assert "does not match the schema" in problem and "instruction" in problem
    with pytest.raises(PlanError, match="no JSON object"):
        parse_plan("I would split this into three parts.")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400) | st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["subtasks", "name", "instruction", "dependencies", "priority", "needs_worktree",
                         "x"]), inner, max_size=5),
    max_leaves=20).map(lambda v: "prose " + json.dumps(v)))
def test_arbitrary_text_yields_a_plan_or_a_plan_error(text: str) -> None:
    try:
        plan = parse_plan(text, max_subtasks=8)
    except PlanError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
    else:
        assert isinstance(plan, Plan) and 1 <= len(plan.subtasks) <= 8


class ScriptedModel:
    """The injected model: answers from a script and keeps every request."""

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.requests: list[list[dict[str, str]]] = []

    async def __call__(self, messages: list[dict[str, str]]) -> str:
        self.requests.append(messages)
        return self.replies.pop(0)


async def test_a_valid_plan_takes_one_call_and_the_prompt_says_schema_and_strategy() -> None:
    model = ScriptedModel(json.dumps(PLAN))
    plan = await plan_subtasks(model, "add an endpoint", "domain", 4)
    assert [s.name for s in plan.subtasks] == ["api", "docs"]
    [request] = model.requests
    system = request[0]["content"]
    assert request[0]["role"] == "system" and request[-1] == {"role": "user", "content": "add an endpoint"}
    assert '"subtasks"' in system and "needs_worktree" in system and "at most 4 subtasks" in system
    assert "domain of expertise" in system


async def test_an_invalid_plan_is_repaired_once_with_its_problems_quoted() -> None:
    bad = json.dumps({"subtasks": [_sub("a", "b"), _sub("b", "a")]})
    model = ScriptedModel(bad, f"Fixed:\n```json\n{json.dumps({'subtasks': [_sub('a'), _sub('b', 'a')]})}\n```")
    plan = await plan_subtasks(model, "t", "auto", 8)
    assert [(s.name, s.dependencies) for s in plan.subtasks] == [("a", ()), ("b", ("a",))]
    first, repair = model.requests
    assert repair[: len(first)] == first
    assert repair[len(first)] == {"role": "assistant", "content": bad}
    assert "dependency cycle: 'a' -> 'b' -> 'a'" in repair[-1]["content"]


async def test_a_plan_still_invalid_after_the_repair_falls_back_to_one_subtask() -> None:
    model = ScriptedModel("no plan, sorry", json.dumps({"subtasks": [_sub("x", "y")]}))
    plan = await plan_subtasks(model, "fix the bug", "data", 8)
    assert plan == fallback_plan("fix the bug")
    assert [(s.name, s.instruction) for s in plan.subtasks] == [("task", "fix the bug")]
    assert len(model.requests) == 2
    assert 'no JSON object with a "subtasks" list' in model.requests[1][-1]["content"]


async def test_strategy_none_asks_no_model() -> None:
    model = ScriptedModel()
    assert await plan_subtasks(model, "just do it", "none", 8) == fallback_plan("just do it")
    assert model.requests == []


async def test_a_failing_model_is_not_an_invalid_plan() -> None:
    async def down(messages: list[dict[str, str]]) -> str:
        raise ConnectionError("provider down")

    with pytest.raises(ConnectionError):
        await plan_subtasks(down, "t", "auto", 8)
