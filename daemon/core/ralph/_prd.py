"""A ``prd.json``: read and validated, the next story picked, written back atomically.

The file is read twice over: as the JSON it is (kept, with every field this schema does
not know) and as :class:`~codetether.daemon.wire.ralph.Prd`. The loop changes only
``passes`` of a story, and does so in the kept JSON, so writing it back loses nothing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import msgspec

from ...errors import InvalidParams
from ...wire.ralph import Prd, StoryRow, UserStory
from ..storage import atomic_write

__all__ = ["PrdError", "PrdFile", "next_story", "parse_prd", "prd_id", "ready_stories", "story_rows", "validate_prd",
           "widest_stage"]

#: prd.json files larger than this are refused (a PRD is a few kilobytes).
MAX_PRD_BYTES = 4 * 1024 * 1024


class PrdError(InvalidParams):
    """prd.json is unreadable or breaks the schema; the message names the story and field."""


def prd_id(path: Path) -> str:
    """A PRD's id: a digest of its absolute path (a valid bus token, stable across runs)."""
    digest = hashlib.blake2b(str(path.resolve()).encode(errors="surrogatepass"), digest_size=6).hexdigest()
    return f"prd-{digest}"


def parse_prd(text: str | bytes, where: str = "prd.json") -> tuple[dict[str, Any], Prd]:
    """The JSON object of a PRD and its validated :class:`Prd`; :class:`PrdError` saying
    what is wrong, whatever the input."""
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise PrdError(f"{where} is not JSON: {str(exc)[:200]}", data={"field": "prd"}) from exc
    if not isinstance(raw, dict):
        raise PrdError(f"{where} must hold a JSON object, not {type(raw).__name__}", data={"field": "prd"})
    try:
        prd = msgspec.convert(raw, Prd)
    except (msgspec.ValidationError, RecursionError) as exc:
        raise PrdError(f"{where}: {_where_in(raw, str(exc))[:300]}", data={"field": "prd"}) from exc
    for story in prd.user_stories:
        if story.dependencies:  # the seed's older spelling
            story.depends_on = list(dict.fromkeys([*story.depends_on, *story.dependencies]))
            story.dependencies = []
    validate_prd(prd, where)
    return raw, prd


def _where_in(raw: dict[str, Any], message: str) -> str:
    """msgspec says ``at `$.user_stories[2].priority```: add that story's id."""
    marker = "$.user_stories["
    if marker not in message:
        return message
    try:
        index = int(message.split(marker, 1)[1].split("]", 1)[0])
        story = raw["user_stories"][index]
        sid = story.get("id") if isinstance(story, dict) else None
    except (ValueError, IndexError, KeyError, TypeError):
        return message
    return f"{message} (story {sid!r})" if isinstance(sid, str) else message


def validate_prd(prd: Prd, where: str = "prd.json") -> None:
    """Duplicate or empty ids, unknown dependencies and dependency cycles are errors
    naming the story; so are a missing project/feature and no stories at all."""
    if not prd.project.strip() or not prd.feature.strip():
        raise PrdError(f"{where}: 'project' and 'feature' must not be empty", data={"field": "prd"})
    if not prd.user_stories:
        raise PrdError(f"{where}: 'user_stories' is empty: a PRD needs at least one story",
                       data={"field": "prd"})
    ids: dict[str, UserStory] = {}
    for i, story in enumerate(prd.user_stories):
        if not story.id.strip():
            raise PrdError(f"{where}: story {i + 1} ({story.title!r}) has an empty id", data={"field": "prd"})
        if story.id in ids:
            raise PrdError(f"{where}: story id {story.id!r} is used twice", data={"field": "prd"})
        ids[story.id] = story
    for story in prd.user_stories:
        for dep in story.depends_on:
            if dep == story.id:
                raise PrdError(f"{where}: story {story.id!r} depends on itself", data={"field": "prd"})
            if dep not in ids:
                raise PrdError(f"{where}: story {story.id!r} depends on {dep!r}, which is not a story here",
                               data={"field": "prd"})
    cycle = _cycle(prd.user_stories)
    if cycle:
        raise PrdError(f"{where}: stories depend on each other in a circle: {' -> '.join(cycle)}",
                       data={"field": "prd"})


def _cycle(stories: list[UserStory]) -> list[str]:
    """One dependency cycle (its ids, the first repeated at the end), or []."""
    deps = {s.id: s.depends_on for s in stories}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in deps:
        if state.get(start):
            continue
        path: list[str] = []
        stack: list[tuple[str, int]] = [(start, 0)]  # iterative: a deep chain must not recurse
        while stack:
            node, i = stack.pop()
            if i == 0:
                state[node] = 1
                path.append(node)
            if i < len(deps[node]):
                stack.append((node, i + 1))
                nxt = deps[node][i]
                if state.get(nxt) == 1:
                    return path[path.index(nxt):] + [nxt]
                if not state.get(nxt):
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                path.pop()
    return []


def ready_stories(prd: Prd) -> list[UserStory]:
    """Every story that may run now: not passing yet, every dependency passing; the
    highest priority (1 first) first, then the lowest complexity, then file order. None
    of them depends on another (each one's dependencies pass; they do not)."""
    passing = {s.id for s in prd.user_stories if s.passes}
    ready = [(s.priority, _complexity(s), i, s) for i, s in enumerate(prd.user_stories)
             if not s.passes and all(d in passing for d in s.depends_on)]
    return [r[3] for r in sorted(ready, key=lambda r: r[:3])]


def next_story(prd: Prd) -> UserStory | None:
    """The story to work on next: the first of :func:`ready_stories`."""
    ready = ready_stories(prd)
    return ready[0] if ready else None


def widest_stage(prd: Prd) -> int:
    """The most stories not passing yet that could run together: the widest level of
    their dependency graph (a story's level is one past its deepest unfinished
    dependency). At least 1; 1 when every story passes. The PRD must be valid."""
    by_id = {s.id: s for s in prd.user_stories if not s.passes}
    level: dict[str, int] = {}
    for start in by_id:
        stack = [start]
        while stack:  # iterative: a deep chain must not recurse
            sid = stack[-1]
            todo = [d for d in by_id[sid].depends_on if d in by_id and d not in level]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            level[sid] = 1 + max((level[d] for d in by_id[sid].depends_on if d in by_id), default=-1)
    widths: dict[int, int] = {}
    for lv in level.values():
        widths[lv] = widths.get(lv, 0) + 1
    return max(widths.values(), default=1)


def _complexity(story: UserStory) -> int:
    c = story.complexity
    if isinstance(c, int):
        return c
    try:
        return int(str(c))
    except ValueError:
        return 3


def story_rows(prd: Prd) -> tuple[StoryRow, ...]:
    """Every story with whether it passes, is ready, or waits on a dependency."""
    passing = {s.id for s in prd.user_stories if s.passes}
    return tuple(StoryRow(id=s.id, title=s.title, priority=s.priority, depends_on=tuple(s.depends_on),
                          status="passes" if s.passes else "ready" if all(d in passing for d in s.depends_on)
                          else "blocked") for s in prd.user_stories)


class PrdFile:
    """One prd.json on disk: its kept JSON (``raw``) and its validated :class:`Prd`.
    Not safe for concurrent writers; one run owns a PRD at a time (the API sees to it)."""

    def __init__(self, path: Path, raw: dict[str, Any], prd: Prd) -> None:
        self.path = path
        self.raw = raw
        self.prd = prd

    @classmethod
    def load(cls, path: Path) -> PrdFile:
        """Read and validate ``path``; :class:`PrdError` (or NotFound-like PrdError)."""
        try:
            with path.open("rb") as fh:
                data = fh.read(MAX_PRD_BYTES + 1)
        except FileNotFoundError as exc:
            raise PrdError(f"{path} does not exist", data={"field": "prd"}) from exc
        except OSError as exc:
            raise PrdError(f"{path} cannot be read: {exc.strerror}", data={"field": "prd"}) from exc
        if len(data) > MAX_PRD_BYTES:
            raise PrdError(f"{path} is larger than {MAX_PRD_BYTES} bytes", data={"field": "prd"})
        raw, prd = parse_prd(data, str(path))
        return cls(path, raw, prd)

    def mark_passed(self, story_id: str) -> None:
        """Set ``passes`` of one story, in the kept JSON and the Struct alike."""
        for story, entry in zip(self.prd.user_stories, self.raw["user_stories"], strict=True):
            if story.id == story_id:
                story.passes = True
                entry["passes"] = True
                return
        raise KeyError(story_id)

    def save(self) -> None:
        """Write the kept JSON back atomically (readers see the old file or the new one)."""
        text = json.dumps(self.raw, indent=2, ensure_ascii=False) + "\n"
        atomic_write(self.path, text.encode())

    @property
    def passed(self) -> int:
        return sum(1 for s in self.prd.user_stories if s.passes)

    @property
    def complete(self) -> bool:
        return all(s.passes for s in self.prd.user_stories)
