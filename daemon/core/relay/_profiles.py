"""A relay's specialists: one model call picks them, the reply is validated, and anything
unusable falls back to the default three (planner → implementer → reviewer).

The model is injected as ``async (messages) -> text``; this module knows no provider.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import msgspec

from ...wire.relay import RelayProfile

__all__ = ["DEFAULT_PROFILES", "ChatModel", "ProfileError", "default_profiles", "parse_profiles",
           "plan_profiles", "planning_prompt"]

log = logging.getLogger("codetether.relay")

ChatModel = Callable[[list[dict[str, str]]], Awaitable[str]]
"""The injected model: chat messages (``role``, ``content``) in, the reply's text out."""

DEFAULT_PROFILES: tuple[RelayProfile, ...] = (
    RelayProfile(name="planner", instructions=(
        "Read the task and the workspace, and write a short, concrete plan: the files to change "
        "and the steps, in order. Do not change files yourself.")),
    RelayProfile(name="implementer", instructions=(
        "Carry out the plan you are handed: change the files, run what checks the work, and say "
        "exactly what you did and what is left.")),
    RelayProfile(name="reviewer", instructions=(
        "Review what the implementer did against the task: read the changes and run the checks. "
        "If the task is done, end your reply with a line that says only APPROVED. Otherwise say "
        "precisely what is wrong, for the next round.")),
)

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_MAX_REPLY = 100_000
_MAX_STARTS = 32


class ProfileError(ValueError):
    """A planner reply that is not a usable list of profiles; the message lists why."""


def default_profiles(count: int) -> tuple[RelayProfile, ...]:
    """The fallback specialists: the default three (planner, implementer, reviewer); for a
    relay of one or two, the implementer (and the reviewer)."""
    if count >= 3:
        return DEFAULT_PROFILES
    return DEFAULT_PROFILES[1:1 + count] if count == 2 else DEFAULT_PROFILES[1:2]


def planning_prompt(task: str, count: int) -> list[dict[str, str]]:
    """The request that picks ``count`` specialists for ``task``."""
    system = (
        f"You pick a relay of {count} specialist coding agents for a task. They work one after "
        "another, each handing its result (the baton) to the next, for a few rounds; the last "
        "one reviews and ends the relay by saying APPROVED on a line of its own.\n"
        'Reply with one JSON object and nothing else: {"profiles": [{"name": "short-kebab-name", '
        '"instructions": "what this specialist does with the baton it gets"}]}\n'
        f"Rules: exactly {count} profiles, in the order they run; names are unique, lower case, "
        "letters, digits, - and _.")
    return [{"role": "system", "content": system}, {"role": "user", "content": task}]


def _candidates(text: str) -> Iterator[Any]:
    """JSON values the reply may hold: the whole reply (fences stripped), then objects
    starting at each ``{`` (bounded, so hostile text cannot make this quadratic)."""
    stripped = re.sub(r"^```[A-Za-z]*\s*|\s*```\s*$", "", text.strip())
    try:
        yield json.loads(stripped)
    except (ValueError, RecursionError):
        pass
    decoder = json.JSONDecoder()
    start, tried = text.find("{"), 0
    while start != -1 and tried < _MAX_STARTS:
        tried += 1
        try:
            yield decoder.raw_decode(text, start)[0]
        except (ValueError, RecursionError):
            pass
        start = text.find("{", start + 1)


def parse_profiles(text: str, count: int) -> tuple[RelayProfile, ...]:
    """The profiles in a planner's reply, validated: exactly ``count``, unique well-formed
    names, non-empty instructions. Raises :class:`ProfileError` naming every problem."""
    if len(text) > _MAX_REPLY:
        raise ProfileError(f"the reply is {len(text)} characters, over {_MAX_REPLY}")
    raw = next((v for v in _candidates(text) if isinstance(v, dict) and "profiles" in v), None)
    if raw is None:
        raise ProfileError('the reply holds no JSON object with a "profiles" list')
    try:
        profiles = msgspec.convert(raw["profiles"], tuple[RelayProfile, ...], strict=False)
    except msgspec.ValidationError as exc:
        raise ProfileError(f"the profiles do not match the schema: {exc}") from None
    problems: list[str] = []
    if len(profiles) != count:
        problems.append(f"{len(profiles)} profiles, not {count}")
    seen: set[str] = set()
    for p in profiles:
        if not _NAME.fullmatch(p.name):
            problems.append(f"bad name {p.name!r}")
        elif p.name in seen:
            problems.append(f"{p.name!r} named twice")
        seen.add(p.name)
        if not p.instructions.strip():
            problems.append(f"{p.name!r} has no instructions")
    if problems:
        raise ProfileError("; ".join(problems))
    return profiles


async def plan_profiles(model: ChatModel, task: str, count: int) -> tuple[tuple[RelayProfile, ...], str | None]:
    """Ask the model once for ``count`` specialists; on an unusable reply the defaults.
    Returns the profiles and, when they are the defaults, why. A model that raises is not
    an unusable reply: its error propagates."""
    reply = await model(planning_prompt(task, count))
    try:
        return parse_profiles(reply, count), None
    except ProfileError as exc:
        log.info("relay planner's reply unusable (%s): the default specialists run", exc)
        return default_profiles(count), str(exc)
