"""Workers on many hosts, on the wire: the work item a daemon queues, the result a worker
sends back, and the card a worker keeps in the registry.

A :class:`WorkItem` goes on the JetStream work queue (subject ``work.subtasks``); the
worker that claims it reports on the bus topic ``task.{id}`` and ends with a
``task_update`` whose ``metadata["result"]`` is the :class:`WorkResult`. Each worker's
:class:`WorkerCard` lives in the key-value bucket ``codetether_workers`` under its id,
rewritten at every heartbeat and gone once it stops (deregistered, or expired by the
bucket's TTL when the worker died)::

    {"id": "sw_1-docs-3f2a", "swarm_id": "sw_1", "subtask": "docs", "prompt": "...",
     "mode": "auto", "base_commit": "4b8c...", "timeout": 1800.0, "created_at": 1767225600.5}
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

__all__ = ["WorkItem", "WorkResult", "WorkStatus", "WorkerCard", "WorkersParams"]

WorkStatus = Literal["completed", "failed", "timeout", "cancelled"]


class WorkItem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One subtask for any worker: run ``prompt`` in ``mode`` on a checkout of
    ``base_commit`` (of the repository ``repo`` names, a hint for people), in its folder
    ``subdir`` (relative), within ``timeout`` seconds. ``model`` empty: the worker's
    default model."""

    id: str
    swarm_id: str = ""
    subtask: str = ""
    prompt: str
    mode: str = "auto"
    model: str = ""
    base_commit: str = ""
    repo: str = ""
    subdir: str = ""
    timeout: Annotated[float, msgspec.Meta(gt=0)] = 1800.0
    created_at: float = 0.0


class WorkResult(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """How a work item ended on a worker. ``patch`` is ``git format-patch --stdout
    base..HEAD`` of what the agent changed (empty: nothing); ``stop_reason`` is the
    agent's (``end_turn``, ``max_steps``, ``error``, ...); ``error`` says why it failed."""

    id: str
    status: WorkStatus
    text: str = ""
    stop_reason: str = ""
    steps: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    patch: str = ""
    worker: str = ""
    error: str = ""


class WorkerCard(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A live worker as the registry shows it: who and where it is, what it runs now."""

    id: str
    name: str
    host: str = ""
    workspace: str = ""
    max_concurrent: int = 1
    active: tuple[str, ...] = ()
    load: float = 0.0
    started_at: float = 0.0
    updated_at: float = 0.0
    version: str = ""


class WorkersParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``cluster/workers``: no parameters."""
