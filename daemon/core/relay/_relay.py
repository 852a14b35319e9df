"""One relay: specialists passing a baton, checkpointed after every step.

Each turn, the current profile's agent (one session per profile, made once and kept for
every round; its id is checkpointed before it is used) gets the task, its instructions
and the baton (the previous turn's reply), runs with tools, and its reply becomes the
next baton. The relay stops when it **converges** (a reply has a line that says only
``DONE`` or ``APPROVED``, markdown around the word allowed), when it **stalls** (a whole
round's replies repeat the round before word for word: the baton stopped changing), or
after ``max_rounds`` rounds; the status is then ``completed`` with that ``stop_reason``.

Exactly once across kill -9. The checkpoint (:class:`RelayStore`, atomic and fsynced)
is written: when a profile's session is made; just before a turn's prompt is sent
(``step = prompt_sent`` with the session's message count, ``prompt_at``); when each of
the turn's tool calls starts and ends (``tool_step``, for watchers); and after the turn,
with its reply recorded, the baton handed on and the next turn named, in one write. A
session's transcript is itself durable: every message reaches the OS as it is appended,
and a side-effecting tool call is fsynced as *started* before it runs, so a resumed
session never runs it twice (it answers "interrupted by a daemon restart"). Resuming a
turn therefore never re-prompts: at ``prompt_sent``, a session that has a user message
past ``prompt_at`` got the prompt, and is *resumed* (what its run left open is finished;
a run that had finished gives its last reply); a session without one is sent the prompt,
which is rebuilt from the checkpoint and so the same. Turns are never run out of order:
only the checkpoint's (round, index) is ever run. Planning is one model call with no side
effect: cut short, it is asked again.

The baton also goes on the bus (topic ``relay.{id}``, an ``agent_message`` from profile
to profile) through the injected hooks, after the checkpoint that records it: watchers
may miss a baton across a crash, the checkpoint never does.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple, Protocol

import msgspec

from ...wire.relay import RelayCheckpoint, RelayProfile, RelayProgress, RelayStopReason, RelayTurn
from ._profiles import ChatModel, plan_profiles
from ._store import RelayStore

__all__ = ["Relay", "RelayHooks", "ToolSeen", "TurnOutcome", "TurnRunner", "converged", "turn_prompt"]

#: A line that says only DONE or APPROVED (markdown emphasis, brackets, a full stop allowed).
_MARKER = re.compile(r"^[ \t*_`#>\[(]*(?:DONE|APPROVED)[ \t*_`.!\])]*$", re.M)


def converged(text: str) -> bool:
    """The reply carries the convergence marker (see the module docstring)."""
    return _MARKER.search(text) is not None


class TurnOutcome(NamedTuple):
    """How one turn's run ended: its final reply, the tool calls it made, why it stopped."""

    text: str
    tool_calls: int
    stop_reason: str


#: Told of each tool call of a turn: its name, and whether it ended (else it started).
ToolSeen = Callable[[str, bool], Awaitable[None]]


class TurnRunner(Protocol):
    """Runs the agents' turns (the API layer's, over the daemon's sessions)."""

    async def create_session(self, cp: RelayCheckpoint, profile: RelayProfile) -> str:
        """A new session for ``profile``; returns its id."""
        ...

    def message_count(self, session_id: str) -> int:
        """How many messages the session's transcript holds now."""
        ...

    def prompt_landed(self, session_id: str, prompt_at: int) -> bool:
        """The session holds a user message at or after index ``prompt_at``."""
        ...

    async def send(self, session_id: str, prompt: str, prompt_at: int, on_tool: ToolSeen) -> TurnOutcome:
        """Append ``prompt`` to the session and run it to its end."""
        ...

    async def resume(self, session_id: str, prompt_at: int, on_tool: ToolSeen) -> TurnOutcome:
        """Finish what the session's interrupted run left open (never re-running a tool
        call that started), or, when its run had finished, give its last reply."""
        ...


class RelayHooks(Protocol):
    """Where a relay reports: progress events, and each baton handed on."""

    async def progress(self, event: RelayProgress) -> None: ...

    async def baton(self, cp: RelayCheckpoint, turn: RelayTurn, to: str | None) -> None: ...


def turn_prompt(cp: RelayCheckpoint, profile: RelayProfile) -> str:
    """The prompt of the checkpoint's current turn, built only from the checkpoint (so a
    turn sent again after a crash is sent the same)."""
    n = len(cp.order)
    nxt = cp.order[(cp.index + 1) % n] if n > 1 else None
    prev = cp.turns[-1].profile if cp.turns else None
    head = (f"[relay {cp.relay_id} · round {cp.round} of at most {cp.max_rounds} · you are "
            f"{profile.name}, {cp.index + 1} of {n}: {' → '.join(cp.order)}]")
    handoff = (f"Handoff from {prev}:\n{cp.baton}" if cp.baton
               else "You go first: there is no handoff yet.")
    close = (f"End your reply with your handoff for {nxt}: what you did, and what they should do next."
             if nxt else "End your reply with what you did and what is left.")
    return (f"{head}\n\nThe task:\n{cp.task}\n\nYour role: {profile.instructions}\n\n{handoff}\n\n{close} "
            "When the task is fully done and checked, put a line that says only APPROVED.")


def _norm(text: str) -> str:
    return " ".join(text.split())


class Relay:
    """Drives one relay from its checkpoint to its end (see the module docstring). Run
    by one task at a time (the caller's rule): ``cp`` is that task's alone."""

    def __init__(self, cp: RelayCheckpoint, *, store: RelayStore, model: ChatModel, runner: TurnRunner,
                 hooks: RelayHooks, preserve_on_cancel: Callable[[], bool] = lambda: False) -> None:
        self.cp = cp
        self.store = store
        self.model = model
        self.runner = runner
        self.hooks = hooks
        self.preserve_on_cancel = preserve_on_cancel

    def _save(self, **changes: Any) -> None:
        self.cp = msgspec.structs.replace(self.cp, seq=self.cp.seq + 1, updated_at=time.time(), **changes)
        self.store.save(self.cp)

    async def _progress(self, phase: Any, *, profile: str | None = None, detail: str = "") -> None:
        await self.hooks.progress(RelayProgress(relay_id=self.cp.relay_id, phase=phase, profile=profile,
                                                round=self.cp.round, detail=detail, ts=time.time()))

    async def run(self) -> RelayCheckpoint:
        """Plan if not planned, then run turns until the relay stops; returns the final
        checkpoint. A failed turn or model call ends it ``failed`` (resumable); a
        cancellation ``cancelled`` (resumable), unless ``preserve_on_cancel()`` (the daemon
        is stopping), which leaves it ``running`` for a resume after the restart."""
        try:
            if self.cp.status == "completed":
                return self.cp
            if not self.cp.order:
                await self._plan()
            elif self.cp.turns or self.cp.step != "idle":
                where = f"round {self.cp.round}, {self.cp.order[self.cp.index]}"
                await self._progress("resumed", detail=where + (" (mid-turn)" if self.cp.step != "idle" else ""))
            self._save(status="running", error=None)
            while self.cp.status == "running":
                await self._turn()
            await self._progress("completed", detail=self.cp.stop_reason or "")
            return self.cp
        except asyncio.CancelledError:
            if not self.preserve_on_cancel():
                self._save(status="cancelled")
            raise
        except Exception as exc:  # noqa: BLE001 - a failed relay is saved, resumable
            message = getattr(exc, "message", None) or repr(exc)
            self._save(status="failed", error=str(message))
            await self._progress("failed", detail=str(message))
            return self.cp

    async def _plan(self) -> None:
        self._save(status="planning")
        await self._progress("planning")
        profiles, why = await plan_profiles(self.model, self.cp.task, self.cp.agents)
        order = tuple(p.name for p in profiles)
        self._save(profiles=profiles, order=order, round=1, index=0, step="idle")
        await self._progress("planned", detail=" → ".join(order) + (f" (defaults: {why})" if why else ""))

    def _profile(self, name: str) -> RelayProfile:
        return next(p for p in self.cp.profiles if p.name == name)

    async def _turn(self) -> None:
        cp = self.cp
        name = cp.order[cp.index]
        profile = self._profile(name)
        session_id = cp.sessions.get(name)
        if session_id is None:
            session_id = await self.runner.create_session(cp, profile)
            self._save(sessions={**cp.sessions, name: session_id})
        started = time.time()

        async def on_tool(tool: str, ended: bool) -> None:
            begun, done = self.cp.tool_step
            self._save(tool_step=(begun, done + 1) if ended else (begun + 1, done))
            if not ended:
                await self._progress("tool", profile=name, detail=tool)

        resumed = self.cp.step == "prompt_sent"
        if resumed and self.runner.prompt_landed(session_id, self.cp.prompt_at):
            outcome = await self.runner.resume(session_id, self.cp.prompt_at, on_tool)
        else:
            prompt = turn_prompt(self.cp, profile)
            prompt_at = self.runner.message_count(session_id)
            self._save(step="prompt_sent", prompt_at=prompt_at, tool_step=(0, 0))
            await self._progress("turn", profile=name)
            outcome = await self.runner.send(session_id, prompt, prompt_at, on_tool)
        if outcome.stop_reason in ("error", "cancelled"):
            raise RuntimeError(f"{name}'s turn ended: {outcome.text}")
        self._finish(RelayTurn(round=self.cp.round, index=self.cp.index, profile=name, session_id=session_id,
                               text=outcome.text, tool_calls=outcome.tool_calls, stop_reason=outcome.stop_reason,
                               resumed=resumed, started_at=started, finished_at=time.time()))
        turn = self.cp.turns[-1]
        to = None if self.cp.status != "running" else self.cp.order[self.cp.index]
        await self.hooks.baton(self.cp, turn, to)
        first = outcome.text.strip().splitlines()[0][:100] if outcome.text.strip() else "(no reply)"
        await self._progress("baton", profile=name, detail=f"{to or 'end'}: {first}")

    def _finish(self, turn: RelayTurn) -> None:
        """Record the turn, hand the baton on and name the next turn: one write."""
        cp = self.cp
        turns = (*cp.turns, turn)
        index, rnd = cp.index + 1, cp.round
        wrapped = index == len(cp.order)
        if wrapped:
            index, rnd = 0, rnd + 1
        stop: RelayStopReason | None = None
        if converged(turn.text):
            stop = "converged"
        elif wrapped and self._stalled(turns, cp.round):
            stop = "stalled"
        elif rnd > cp.max_rounds:
            stop = "max_rounds"
        self._save(turns=turns, baton=turn.text, index=index, round=rnd, step="idle", prompt_at=0,
                   tool_step=(0, 0), status="completed" if stop else "running", stop_reason=stop)

    @staticmethod
    def _stalled(turns: tuple[RelayTurn, ...], rnd: int) -> bool:
        this = [_norm(t.text) for t in turns if t.round == rnd]
        before = [_norm(t.text) for t in turns if t.round == rnd - 1]
        return rnd > 1 and this == before
