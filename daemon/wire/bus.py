"""The agent bus on the wire: the envelope and its kind-tagged messages.

An envelope is ``{id, topic, sender_id, correlation_id, timestamp, message}`` (plus
``reply_to`` on a request, left out otherwise); ``message`` is one of the Structs below,
told apart by its ``kind`` field::

    {"id": "b1-7", "topic": "task.t1", "sender_id": "agent-a", "timestamp": 1767225600.5,
     "message": {"kind": "task_update", "task_id": "t1", "state": "TASK_STATE_WORKING"}}

``timestamp`` is Unix time in seconds. ``agent_message`` and ``artifact_update`` carry
A2A 1.0 parts (:class:`~codetether.daemon.wire.a2a.Part`), so a message can go to or come
from an A2A peer without conversion. :func:`decode_envelope` turns any bytes into an
envelope or raises :class:`~codetether.daemon.errors.InvalidParams` naming what is wrong;
hostile input never raises anything else.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from ..errors import InvalidParams
from .a2a import Part, TaskState

__all__ = [
    "BUS_MESSAGE_KINDS",
    "AgentMessage",
    "AgentReady",
    "AgentShutdown",
    "AgentThinking",
    "ArtifactUpdate",
    "BusEnvelope",
    "BusMessage",
    "Heartbeat",
    "SharedResult",
    "SwarmEvent",
    "TaskUpdate",
    "ToolRequest",
    "ToolResponse",
    "decode_envelope",
    "encode_envelope",
]


class _Msg(msgspec.Struct, tag_field="kind", frozen=True, kw_only=True, omit_defaults=True):
    """Base of the bus messages: ``kind`` is the tag, defaults are left out of the JSON."""


class AgentReady(_Msg, tag="agent_ready", frozen=True):
    """An agent is up and listening on ``agent.{agent_id}``: what the registry lists.
    ``role`` is "local", "subagent" (``url`` ``bus://local/{name}``, ``parent_id`` its
    parent), "worker" or "peer"; ``url`` is where it is reached."""

    agent_id: str
    name: str = ""
    capabilities: list[str] = []
    role: str = "local"
    url: str = ""
    parent_id: str = ""
    description: str = ""


class AgentShutdown(_Msg, tag="agent_shutdown", frozen=True):
    """An agent is going away (``reason`` says why, when known)."""

    agent_id: str
    reason: str = ""


class AgentMessage(_Msg, tag="agent_message", frozen=True):
    """A message from one agent to another (``to``), in A2A parts."""

    to: str
    parts: list[Part]
    context_id: str = ""
    task_id: str = ""


class TaskUpdate(_Msg, tag="task_update", frozen=True):
    """A task changed state; ``message`` is a short human note, ``metadata`` anything else."""

    task_id: str
    state: TaskState
    message: str = ""
    parent_id: str = ""
    metadata: dict[str, Any] | None = None


class ArtifactUpdate(_Msg, tag="artifact_update", frozen=True):
    """An output of a task, whole or (``append``) one chunk of it."""

    task_id: str
    artifact_id: str
    parts: list[Part]
    name: str = ""
    append: bool = False
    last_chunk: bool = False


class SharedResult(_Msg, tag="shared_result", frozen=True):
    """A result put where others can find it (``results.{key}``)."""

    key: str
    value: Any = None
    tags: list[str] = []


class ToolRequest(_Msg, tag="tool_request", frozen=True):
    """Ask the agent owning ``tools.{tool}`` to run it; answered by a :class:`ToolResponse`."""

    tool: str
    arguments: dict[str, Any] = {}


class ToolResponse(_Msg, tag="tool_response", frozen=True):
    """The answer to a :class:`ToolRequest`: ``output`` when ``ok``, else ``error``."""

    tool: str
    ok: bool = True
    output: str = ""
    error: str = ""


class Heartbeat(_Msg, tag="heartbeat", frozen=True):
    """An agent or worker is alive: how many tasks it runs and its load (0..1)."""

    agent_id: str
    active_tasks: int = 0
    load: float = 0.0


class AgentThinking(_Msg, tag="agent_thinking", frozen=True):
    """A piece of an agent's visible reasoning, for watchers."""

    agent_id: str
    text: str


class SwarmEvent(_Msg, tag="swarm_event", frozen=True):
    """Progress of a swarm on ``swarm.{swarm_id}``.

    ``phase`` names the step (``planned``, ``stage_started``, ``started``, ``progress``,
    ``completed``, ``failed``, ``merged``, ``conflict``, ``cancelled``, ``done``, ...);
    ``subtask`` is empty for events of the whole swarm; ``data`` holds the details a
    phase has (steps, tokens, diff summary).
    """

    swarm_id: str
    phase: str
    subtask: str = ""
    detail: str = ""
    data: dict[str, Any] | None = None


BusMessage = (AgentReady | AgentShutdown | AgentMessage | TaskUpdate | ArtifactUpdate | SharedResult
              | ToolRequest | ToolResponse | Heartbeat | AgentThinking | SwarmEvent)

#: Every message kind, by its tag.
BUS_MESSAGE_KINDS: Final[dict[str, type[_Msg]]] = {
    str(cls.__struct_config__.tag): cls
    for cls in (AgentReady, AgentShutdown, AgentMessage, TaskUpdate, ArtifactUpdate, SharedResult,
                ToolRequest, ToolResponse, Heartbeat, AgentThinking, SwarmEvent)
}


class BusEnvelope(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One message on one topic. ``correlation_id`` ties a reply (or a follow-up) to the
    envelope ``id`` it answers; ``reply_to`` is set on requests only: where the answer goes."""

    id: str
    topic: str
    sender_id: str
    correlation_id: str | None = None
    timestamp: float
    message: BusMessage
    reply_to: str | None = None


_decoder = msgspec.json.Decoder(BusEnvelope)
_encoder = msgspec.json.Encoder()


def encode_envelope(envelope: BusEnvelope) -> bytes:
    """The envelope as one line of JSON (no newline)."""
    return _encoder.encode(envelope)


def decode_envelope(data: bytes | bytearray | memoryview | str) -> BusEnvelope:
    """Decode one envelope; :class:`InvalidParams` (with msgspec's reason and path) on bad input."""
    try:
        return _decoder.decode(data)
    except msgspec.DecodeError as exc:  # ValidationError included
        raise InvalidParams(f"bad bus envelope: {exc}") from None
    except RecursionError:
        raise InvalidParams("bad bus envelope: nested too deeply") from None
