"""The agent bus: kind-tagged envelopes on dotted topics, between the agents of one
daemon (:class:`InProcessBus`, the default) or of many hosts (:class:`NatsBus`).

Topics are ``agent.{id}``, ``agent.{id}.events``, ``task.{id}``, ``swarm.{id}``,
``broadcast``, ``results.{key}``, ``tools.{name}`` (built by the ``*_topic`` helpers);
subscriptions take NATS wildcards (``*`` one token, ``>`` the rest). Each agent talks
through a :class:`BusHandle` (publish, subscribe, request/reply with a timeout).
Slow subscribers never stall a publisher: their oldest envelope is dropped and counted
(:attr:`Subscription.dropped`). Coordination kinds (:data:`DURABLE_KINDS`) are kept (a
JSONL log in the data dir, or a JetStream stream) and read back with :meth:`Bus.replay`.
:func:`make_bus` picks the backend from ``[bus] url``. :class:`AgentRegistry` learns
from the bus who is on it (cards, shutdowns, heartbeats).
"""

from ._base import (
    DEFAULT_QUEUE_SIZE,
    DURABLE_KINDS,
    Bus,
    BusClosed,
    BusHandle,
    BusTimeout,
    NoResponders,
    NotARequest,
    State,
    Subscription,
)
from ._factory import (
    make_bus,
)
from ._inproc import (
    InProcessBus,
)
from ._nats import (
    NatsBus,
)
from ._registry import (
    AgentRegistry,
)
from ._topics import (
    BROADCAST,
    BadTopic,
    agent_events_topic,
    agent_topic,
    check_pattern,
    check_topic,
    matches,
    results_topic,
    swarm_topic,
    task_topic,
    tools_topic,
)

__all__ = [
    "BROADCAST",
    "DEFAULT_QUEUE_SIZE",
    "DURABLE_KINDS",
    "AgentRegistry",
    "BadTopic",
    "Bus",
    "BusClosed",
    "BusHandle",
    "BusTimeout",
    "InProcessBus",
    "NatsBus",
    "NoResponders",
    "NotARequest",
    "State",
    "Subscription",
    "agent_events_topic",
    "agent_topic",
    "check_pattern",
    "check_topic",
    "make_bus",
    "matches",
    "results_topic",
    "swarm_topic",
    "task_topic",
    "tools_topic",
]
