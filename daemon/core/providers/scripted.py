"""A scripted model provider: deterministic turns, in-process, zero latency.

Use it in tests and docs wherever a real model would be::

    provider = ScriptedProvider([
        Turn.tool("read_file", {"path": "a.txt"}),
        Turn.text("The file says hello."),
    ])

A daemon can be pointed at it by configuration: provider ``scripted`` with settings
``{"script": "/path/script.json"}`` (or ``.toml``). A script file holds
``{"turns": [...], "fallback": "..."}`` where each turn is a string (a text answer)
or a table with any of ``text``, ``thinking``, ``tool`` + ``arguments`` (an object,
or a string kept verbatim as malformed JSON) + ``id``, ``tool_calls`` (a list of
``{name, arguments, id}``), ``usage``, ``stop_reason``, or ``error`` (an HTTP status)
with ``message`` and ``retry_after``.
"""

from __future__ import annotations

import json
import tomllib
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import ConfigError, ProviderError
from ...wire.messages import ToolCall, Usage
from .base import (
    CompletionRequest,
    ModelInfo,
    ProviderEvent,
    StreamDone,
    TextDelta,
    ThinkingDelta,
    ToolCallReady,
    UsageReport,
)

__all__ = ["DEFAULT_FALLBACK", "Script", "ScriptedError", "ScriptedProvider", "Turn"]

DEFAULT_FALLBACK = "(scripted provider: no more turns)"


@dataclass(frozen=True, slots=True)
class ScriptedError:
    """A failed turn: the HTTP status a vendor would answer, and its message."""

    status: int
    message: str = "scripted failure"
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class Turn:
    """One model turn: the provider events it streams, or an error it fails with.

    Builders cover the usual shapes; ``Turn(events=(...))`` takes any events.
    Usage and a stop reason are added when the events lack them.
    """

    events: tuple[ProviderEvent, ...] = ()
    error: ScriptedError | None = None

    @classmethod
    def text(cls, text: str, *, thinking: str | None = None, usage: Usage | None = None) -> Turn:
        events: list[ProviderEvent] = [ThinkingDelta(thinking)] if thinking else []
        events.append(TextDelta(text))
        return cls(tuple(events))._normalized(usage)

    @classmethod
    def tool(
        cls,
        name: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        id: str | None = None,
        text: str = "",
        usage: Usage | None = None,
    ) -> Turn:
        """A turn calling one tool with well-formed arguments (optionally after text)."""
        return cls.raw_tool(name, json.dumps(dict(arguments or {})), id=id, text=text, usage=usage)

    @classmethod
    def raw_tool(
        cls, name: str, raw_arguments: str, *, id: str | None = None, text: str = "", usage: Usage | None = None
    ) -> Turn:
        """A tool call whose argument text is sent verbatim, malformed JSON included."""
        return cls.tools(ToolCall(id=id or "", name=name, arguments=raw_arguments), text=text, usage=usage)

    @classmethod
    def tools(cls, *calls: ToolCall, text: str = "", usage: Usage | None = None) -> Turn:
        """Several tool calls in one turn; calls without an id get ``call_<n>``."""
        events: list[ProviderEvent] = [TextDelta(text)] if text else []
        for n, call in enumerate(calls):
            if not call.id:
                call = ToolCall(id=f"call_{n}_{call.name}", name=call.name, arguments=call.arguments)
            events.append(ToolCallReady(call))
        return cls(tuple(events))._normalized(usage)

    @classmethod
    def failure(cls, status: int, message: str = "scripted failure", *, retry_after: float | None = None) -> Turn:
        """A turn the vendor answers with HTTP ``status`` (429, 401, 500, ...)."""
        return cls(error=ScriptedError(status, message, retry_after))

    @classmethod
    def coerce(cls, value: Turn | str | Iterable[ProviderEvent] | Mapping[str, Any]) -> Turn:
        """A Turn from a Turn, a plain string, an event list or a script-file table."""
        if isinstance(value, Turn):
            return value._normalized()
        if isinstance(value, str):
            return cls.text(value)
        if isinstance(value, Mapping):
            return cls._parse(value)
        return cls(tuple(value))._normalized()

    @classmethod
    def _parse(cls, doc: Mapping[str, Any]) -> Turn:
        if "error" in doc:
            message = str(doc.get("message", "scripted failure"))
            return cls.failure(int(doc["error"]), message, retry_after=doc.get("retry_after"))
        events: list[ProviderEvent] = []
        if doc.get("thinking"):
            events.append(ThinkingDelta(str(doc["thinking"])))
        if doc.get("text"):
            events.append(TextDelta(str(doc["text"])))
        specs = list(doc.get("tool_calls", ()))
        if "tool" in doc:
            specs.append({"name": doc["tool"], "arguments": doc.get("arguments", {}), "id": doc.get("id")})
        for n, spec in enumerate(specs):
            args = spec.get("arguments", {})
            raw = args if isinstance(args, str) else json.dumps(args)
            call_id = spec.get("id") or f"call_{n}_{spec['name']}"
            events.append(ToolCallReady(ToolCall(id=call_id, name=str(spec["name"]), arguments=raw)))
        if isinstance(doc.get("usage"), Mapping):
            u = doc["usage"]
            events.append(UsageReport(Usage(int(u.get("input_tokens", 0)), int(u.get("output_tokens", 0)))))
        if doc.get("stop_reason"):
            events.append(StreamDone(str(doc["stop_reason"])))
        return cls(tuple(events))._normalized()

    def _normalized(self, usage: Usage | None = None) -> Turn:
        if self.error is not None:
            return self
        events: list[ProviderEvent] = [e for e in self.events if not isinstance(e, (UsageReport, StreamDone))]
        reports = [e for e in self.events if isinstance(e, UsageReport)]
        done = [e for e in self.events if isinstance(e, StreamDone)]
        if usage is None and not reports:
            size = sum(len(getattr(e, "text", "")) for e in events)
            size += sum(len(e.call.arguments) for e in events if isinstance(e, ToolCallReady))
            usage = Usage(input_tokens=10, output_tokens=max(1, size // 4))
        tail: list[ProviderEvent] = [UsageReport(usage)] if usage is not None else [reports[-1]]
        events.extend(tail)
        stop = "tool_use" if any(isinstance(e, ToolCallReady) for e in events) else "end_turn"
        events.append(done[-1] if done else StreamDone(stop))
        return Turn(tuple(events))

    # Views the vendor servers render from.
    @property
    def text_content(self) -> str:
        return "".join(e.text for e in self.events if isinstance(e, TextDelta))

    @property
    def thinking_content(self) -> str:
        return "".join(e.text for e in self.events if isinstance(e, ThinkingDelta))

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [e.call for e in self.events if isinstance(e, ToolCallReady)]

    @property
    def usage(self) -> Usage:
        return next((e.usage for e in reversed(self.events) if isinstance(e, UsageReport)), Usage())

    @property
    def stop_reason(self) -> str:
        return next((e.stop_reason for e in reversed(self.events) if isinstance(e, StreamDone)), "end_turn")


@dataclass(slots=True)
class Script:
    """The queue of turns one double plays; when it runs out, a fixed text answer."""

    turns: deque[Turn] = field(default_factory=deque)
    fallback: str = DEFAULT_FALLBACK

    @classmethod
    def of(cls, turns: Iterable[Any] = (), fallback: str = DEFAULT_FALLBACK) -> Script:
        return cls(deque(Turn.coerce(t) for t in turns), fallback)

    @classmethod
    def load(cls, path: str | Path) -> Script:
        """Read a ``.json`` or ``.toml`` script file (format: see the module docstring)."""
        path = Path(path)
        try:
            raw = path.read_bytes()
            doc = tomllib.loads(raw.decode()) if path.suffix == ".toml" else json.loads(raw)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read provider script {str(path)!r}: {exc}") from exc
        if isinstance(doc, list):
            doc = {"turns": doc}
        try:
            return cls.of(doc.get("turns", ()), str(doc.get("fallback", DEFAULT_FALLBACK)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"invalid provider script {str(path)!r}: {exc!r}") from exc

    def add(self, *turns: Any) -> None:
        self.turns.extend(Turn.coerce(t) for t in turns)

    def next_turn(self) -> Turn:
        return self.turns.popleft() if self.turns else Turn.text(self.fallback)


def error_for(provider: str, error: ScriptedError) -> ProviderError:
    """The error a real provider raises for this status, after its retries."""
    from ._http import auth_error  # shares the real message wording

    if error.status in (401, 403):
        return auth_error(provider, f"HTTP {error.status}: {error.message}")
    data = {"provider": provider, "status": error.status}
    return ProviderError(f"{provider}: HTTP {error.status}: {error.message}", data=data)


class ScriptedProvider:
    """The Provider protocol, played from a :class:`Script`.

    ``requests`` records every CompletionRequest received, in order, unless ``record`` is
    false: a provider a daemon builds from its config lives as long as the daemon, and
    nobody can read its record there, so it keeps none (it held ~2 KB per task).
    """

    def __init__(self, turns: Iterable[Any] = (), *, name: str = "scripted", fallback: str = DEFAULT_FALLBACK,
                 record: bool = True) -> None:
        self.name = name
        self.script = Script.of(turns, fallback)
        self.requests: list[CompletionRequest] = []
        self.record = record
        self._closed = False

    @classmethod
    def from_file(cls, path: str | Path, *, name: str = "scripted", record: bool = True) -> ScriptedProvider:
        provider = cls(name=name, record=record)
        provider.script = Script.load(path)
        return provider

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], *, name: str = "scripted") -> ScriptedProvider:
        """From provider settings (the daemon's config): ``script`` (a file path) or inline
        ``turns``; such a provider records no requests."""
        if settings.get("script"):
            return cls.from_file(str(settings["script"]), name=name, record=False)
        return cls(settings.get("turns", ()), name=name, fallback=str(settings.get("fallback", DEFAULT_FALLBACK)),
                   record=False)

    def add(self, *turns: Any) -> None:
        """Queue more turns."""
        self.script.add(*turns)

    async def stream(self, request: CompletionRequest) -> AsyncIterator[ProviderEvent]:
        """Play the next turn."""
        if self._closed:
            raise ProviderError(f"provider {self.name!r} is closed")
        if self.record:
            self.requests.append(request)
        turn = self.script.next_turn()
        if turn.error is not None:
            raise error_for(self.name, turn.error)
        for event in turn.events:
            yield event

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo(provider=self.name, id="scripted", context_window=32_768)]

    async def aclose(self) -> None:
        self._closed = True
