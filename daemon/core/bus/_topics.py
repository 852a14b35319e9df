"""Topic names, their grammar, and the NATS wildcard matcher.

A topic is dot-separated tokens, as a NATS subject: ``task.t1``, ``agent.a1.events``.
A token is 1..64 printable ASCII characters other than ``.``, ``*``, ``>`` (no spaces);
a topic has at most 16 tokens and 255 characters. A first token starting with ``$`` or
equal to ``_INBOX`` is reserved (NATS system subjects, request inboxes, our JetStream
copies). A *pattern* may also use wildcards, as NATS spells them: ``*`` is exactly one
token, ``>`` is one or more trailing tokens and may only be the last token.

The name helpers (:func:`agent_topic`, ...) take any non-empty id: characters outside
``[A-Za-z0-9_:@+=/-]`` are percent-encoded (``agent.my%20agent``), and an id still longer
than a token may be becomes ``~`` and its BLAKE2b digest; distinct ids stay distinct.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

from ...errors import InvalidParams

__all__ = [
    "BROADCAST",
    "BadTopic",
    "agent_events_topic",
    "agent_topic",
    "check_pattern",
    "check_topic",
    "matches",
    "results_topic",
    "swarm_topic",
    "task_topic",
    "tools_topic",
]

BROADCAST: Final = "broadcast"
MAX_TOKENS: Final = 16
MAX_TOKEN_CHARS: Final = 64
MAX_TOPIC_CHARS: Final = 255

_TOKEN = re.compile(r"[!-)+-\-/-=?-~]+")  # printable ASCII without '*' (2a), '.' (2e), '>' (3e)
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-:@+=/")


class BadTopic(InvalidParams, ValueError):
    """A topic or pattern breaks the grammar; the message says which part and why."""


def _check(text: object, *, wildcards: bool) -> tuple[str, ...]:
    what = "pattern" if wildcards else "topic"
    if not isinstance(text, str):
        raise BadTopic(f"bus {what} must be a string, not {type(text).__name__}")
    if not text:
        raise BadTopic(f"bus {what} is empty")
    if len(text) > MAX_TOPIC_CHARS:
        raise BadTopic(f"bus {what} {text[:40]!r}... is longer than {MAX_TOPIC_CHARS} characters")
    tokens = tuple(text.split("."))
    if len(tokens) > MAX_TOKENS:
        raise BadTopic(f"bus {what} {text!r} has more than {MAX_TOKENS} tokens")
    last = len(tokens) - 1
    for i, token in enumerate(tokens):
        if wildcards and token == "*":
            continue
        if wildcards and token == ">":
            if i != last:
                raise BadTopic(f"bus pattern {text!r}: '>' may only be the last token")
            continue
        if not token:
            raise BadTopic(f"bus {what} {text!r} has an empty token (a leading, trailing or double '.')")
        if len(token) > MAX_TOKEN_CHARS:
            raise BadTopic(f"bus {what} {text!r}: token {i + 1} is longer than {MAX_TOKEN_CHARS} characters")
        if _TOKEN.fullmatch(token) is None:
            if not wildcards and token in ("*", ">"):
                raise BadTopic(f"bus topic {text!r}: wildcards ('*', '>') are for subscribing, not publishing")
            raise BadTopic(f"bus {what} {text!r}: token {token!r} may hold printable ASCII other than "
                           f"'.', '*', '>' and spaces")
    first = tokens[0]
    if first.startswith("$") or first == "_INBOX":
        raise BadTopic(f"bus {what} {text!r}: {first!r} is reserved")
    return tokens


def check_topic(topic: object) -> str:
    """``topic`` if it is a valid concrete topic (no wildcards), else :class:`BadTopic`."""
    _check(topic, wildcards=False)
    assert isinstance(topic, str)
    return topic


def check_pattern(pattern: object) -> tuple[str, ...]:
    """The tokens of a valid subscription pattern, else :class:`BadTopic`."""
    return _check(pattern, wildcards=True)


def match_tokens(pattern: tuple[str, ...], topic: tuple[str, ...]) -> bool:
    """True when a checked pattern's tokens match a topic's tokens."""
    n = len(topic)
    for i, p in enumerate(pattern):
        if p == ">":
            return n > i
        if i >= n or (p != "*" and p != topic[i]):
            return False
    return len(pattern) == n


def matches(pattern: str, topic: str) -> bool:
    """True when ``topic`` matches ``pattern``; both are checked (:class:`BadTopic`)."""
    return match_tokens(check_pattern(pattern), tuple(check_topic(topic).split(".")))


def _token(value: str, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise BadTopic(f"{what} must be a non-empty string")
    if all(c in _SAFE for c in value) and len(value) <= MAX_TOKEN_CHARS:
        return value
    escaped = "".join(c if c in _SAFE else "".join(f"%{b:02X}" for b in c.encode(errors="surrogatepass"))
                      for c in value)
    if len(escaped) <= MAX_TOKEN_CHARS:
        return escaped
    # Too long even escaped: a digest stands in ('~' never appears in an escaped id).
    return "~" + hashlib.blake2b(value.encode(errors="surrogatepass"), digest_size=16).hexdigest()


def agent_topic(agent_id: str) -> str:
    """``agent.{id}``: messages to one agent (its inbox; requests to it)."""
    return f"agent.{_token(agent_id, 'agent id')}"


def agent_events_topic(agent_id: str) -> str:
    """``agent.{id}.events``: what one agent reports (ready, thinking, shutdown)."""
    return f"agent.{_token(agent_id, 'agent id')}.events"


def task_topic(task_id: str) -> str:
    """``task.{id}``: a task's updates and artifacts."""
    return f"task.{_token(task_id, 'task id')}"


def swarm_topic(swarm_id: str) -> str:
    """``swarm.{id}``: a swarm's progress events."""
    return f"swarm.{_token(swarm_id, 'swarm id')}"


def results_topic(key: str) -> str:
    """``results.{key}``: shared results under one key."""
    return f"results.{_token(key, 'result key')}"


def tools_topic(name: str) -> str:
    """``tools.{name}``: requests to the agent that serves one tool."""
    return f"tools.{_token(name, 'tool name')}"
