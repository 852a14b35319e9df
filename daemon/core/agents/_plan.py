"""A swarm's plan: one model call decomposes the task, the reply is parsed and validated,
repaired once, and otherwise replaced by a single subtask (the whole task).

The model is injected as ``async (messages) -> text``; this module knows no provider.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any

import msgspec

from ...errors import InvalidParams
from ...wire.swarm import Plan, Strategy, Subtask

__all__ = ["ChatModel", "PlanError", "fallback_plan", "parse_plan", "plan_prompt", "plan_subtasks",
           "validate_plan"]

log = logging.getLogger("codetether.daemon.swarm")

ChatModel = Callable[[list[dict[str, str]]], Awaitable[str]]
"""The injected model: chat messages (``role``, ``content``) in, the reply's text out."""

# A reply longer than this is not a plan worth scanning; and only this many ``{`` are
# tried as the start of one, so hostile text cannot make the parse quadratic.
_MAX_REPLY = 200_000
_MAX_STARTS = 64
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_-]*)[^\n]*\n(.*?)```", re.S)


class PlanError(InvalidParams):
    """A reply that is not a usable plan; ``problems`` lists every reason, each naming
    the subtask it is about."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("invalid plan: " + "; ".join(self.problems), data={"problems": list(self.problems)})


_STRATEGY_HINTS: Mapping[str, str] = {
    "auto": "Choose the decomposition that fits the task best (by domain, by data, or by stage).",
    "domain": "Split by domain of expertise: each subtask owns one area (a module, a layer, tests, "
              "docs) and says so in its specialty.",
    "data": "Split by data: each subtask does the same kind of work on its own share of the "
            "input (files, directories, items), so they can run side by side.",
    "stage": "Split into a pipeline: each subtask is one stage and depends on the stage before it.",
}

_SCHEMA = """Reply with one JSON object and nothing else:
{"subtasks": [{"name": "short-kebab-name", "instruction": "what to do, self-contained",
  "specialty": "the expertise it needs", "dependencies": ["names of subtasks that must finish first"],
  "priority": 0, "needs_worktree": true}]}
Rules: names are unique and non-empty; dependencies name other subtasks of this plan, never the
subtask itself, and form no cycle; a higher priority runs earlier; needs_worktree is true for a
subtask that changes files (it gets its own git worktree and branch); at most {max} subtasks;
subtasks without dependencies between them run in parallel, so only add a dependency when one
subtask needs another's result."""


def plan_prompt(task: str, strategy: Strategy, max_subagents: int) -> list[dict[str, str]]:
    """The decomposition request: the schema, the rules, and the strategy."""
    system = ("You plan work for a swarm of coding agents. Decompose the user's task into "
              "subtasks for parallel sub-agents.\n" + _STRATEGY_HINTS.get(strategy, _STRATEGY_HINTS["auto"])
              + "\n" + _SCHEMA.replace("{max}", str(max_subagents)))
    return [{"role": "system", "content": system}, {"role": "user", "content": task}]


def fallback_plan(task: str) -> Plan:
    """The plan of no decomposition: one subtask doing the whole task."""
    return Plan(subtasks=(Subtask(name="task", instruction=task, specialty="general", needs_worktree=True),))


def _candidates(text: str) -> Iterator[Any]:
    """Every JSON value the reply might carry, most likely first: fenced blocks (``json``
    ones first), the whole reply, then objects starting at each ``{``."""
    decoder = json.JSONDecoder()
    fences = sorted(_FENCE.finditer(text), key=lambda m: m.group(1).lower() != "json")
    for block in [m.group(2) for m in fences] + [text]:
        try:
            yield json.loads(block)
        except (ValueError, RecursionError):
            pass
    start = text.find("{")
    tried = 0
    while start != -1 and tried < _MAX_STARTS:
        tried += 1
        try:
            yield decoder.raw_decode(text, start)[0]
        except (ValueError, RecursionError):
            pass
        start = text.find("{", start + 1)


def _pick(text: str) -> Any:
    fallback: Any = None
    for value in _candidates(text):
        if isinstance(value, dict) and "subtasks" in value:
            return value
        if fallback is None and isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            fallback = {"subtasks": value}  # a bare list of subtasks: accept it
    if fallback is None:
        raise PlanError(['the reply holds no JSON object with a "subtasks" list'])
    return fallback


def _label(index: int, name: object) -> str:
    return f"subtask {name!r}" if isinstance(name, str) and name.strip() else f"subtask #{index + 1}"


def _find_cycle(deps: Mapping[str, Sequence[str]]) -> list[str] | None:
    """One dependency cycle as a path (first name repeated at the end), or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    for root in sorted(deps):
        if state.get(root):
            continue
        path: list[str] = [root]
        state[root] = 1
        stack: list[Iterator[str]] = [iter(sorted(deps[root]))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
                continue
            if nxt not in deps or state.get(nxt) == 2:
                continue
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            state[nxt] = 1
            path.append(nxt)
            stack.append(iter(sorted(deps[nxt])))
    return None


def validate_plan(plan: Plan, *, max_subtasks: int | None = None) -> Plan:
    """Check a plan's graph; raise :class:`PlanError` listing every problem."""
    problems: list[str] = []
    subtasks = plan.subtasks
    if not subtasks:
        problems.append("the plan has no subtasks")
    if max_subtasks is not None and len(subtasks) > max_subtasks:
        problems.append(f"the plan has {len(subtasks)} subtasks; at most {max_subtasks} are allowed")
    names: set[str] = set()
    for i, sub in enumerate(subtasks):
        if not sub.name.strip():
            problems.append(f"{_label(i, sub.name)} has an empty name")
        elif sub.name in names:
            problems.append(f"{_label(i, sub.name)} is named twice (names must be unique)")
        names.add(sub.name)
        if not sub.instruction.strip():
            problems.append(f"{_label(i, sub.name)} has an empty instruction")
    for i, sub in enumerate(subtasks):
        for dep in sub.dependencies:
            if dep == sub.name:
                problems.append(f"{_label(i, sub.name)} depends on itself")
            elif dep not in names:
                problems.append(f"{_label(i, sub.name)} depends on unknown subtask {dep!r}")
    graph = {s.name: [d for d in s.dependencies if d in names and d != s.name] for s in subtasks}
    cycle = _find_cycle(graph)
    if cycle is not None:
        problems.append("dependency cycle: " + " -> ".join(repr(n) for n in cycle))
    if problems:
        raise PlanError(problems)
    return plan


def parse_plan(text: str, *, max_subtasks: int | None = None) -> Plan:
    """The plan in a model's reply: bare JSON, in a ```json fence, or with prose around
    it. Returns a validated :class:`Plan` or raises :class:`PlanError`; never anything else."""
    if len(text) > _MAX_REPLY:
        raise PlanError([f"the reply is {len(text)} characters; a plan is at most {_MAX_REPLY}"])
    raw = _pick(text)
    try:
        plan = msgspec.convert(raw, Plan, strict=False)
    except msgspec.ValidationError as exc:
        raise PlanError([f"the plan does not match the schema: {exc}"]) from None
    return validate_plan(plan, max_subtasks=max_subtasks)


def _repair_request(problems: Sequence[str]) -> str:
    listed = "\n".join(f"- {p}" for p in problems)
    return (f"That plan is invalid:\n{listed}\nReply with the corrected plan as one JSON object "
            "in the same schema, and nothing else.")


async def plan_subtasks(model: ChatModel, task: str, strategy: Strategy, max_subagents: int) -> Plan:
    """Decompose ``task``: ask the model once; on an invalid plan ask once more quoting the
    problems (the repair); then fall back to :func:`fallback_plan`. Strategy ``none``
    skips the model. A model that raises is not an invalid plan: its error propagates."""
    if strategy == "none":
        return fallback_plan(task)
    messages = plan_prompt(task, strategy, max_subagents)
    reply = await model(list(messages))
    try:
        return parse_plan(reply, max_subtasks=max_subagents)
    except PlanError as exc:
        problems = exc.problems
    messages += [{"role": "assistant", "content": reply}, {"role": "user", "content": _repair_request(problems)}]
    reply = await model(list(messages))
    try:
        return parse_plan(reply, max_subtasks=max_subagents)
    except PlanError as exc:
        log.warning("swarm plan still invalid after one repair, running the task as one subtask: %s",
                    "; ".join(exc.problems))
    return fallback_plan(task)
