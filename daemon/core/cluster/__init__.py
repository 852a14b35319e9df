"""Workers on many hosts, on NATS JetStream: a work queue of subtasks, a registry of
worker cards with a TTL, the worker that pulls and the dispatcher that sends.

    ClusterLink        one NATS connection; makes sure of the work-queue stream
                       ``CODETETHER_WORK`` (subject ``work.subtasks``) and the key-value
                       bucket ``codetether_workers`` (cards expire after a TTL)
    Worker             pulls items through one shared durable consumer, claims each while
                       it runs (renewed; a dead worker's claim expires and the item is
                       redelivered), reports on ``task.{id}``, acknowledges at the end and
                       gives items back (nak) when it stops; heartbeats rewrite its card
    ClusterDispatcher  queues an item and waits for its result on ``task.{id}``; lists
                       the live workers

What runs an item is injected (:data:`Execute`): this room knows neither git nor the
agent. nats-py is imported only inside this room's functions, when a link starts.
"""

from ._dispatch import ClusterDispatcher, OnProgress
from ._link import CONSUMER, WORK_STREAM, WORK_SUBJECT, WORKERS_BUCKET, ClusterLink
from ._worker import Execute, Progress, Worker, WorkerState, result_message

__all__ = [
    "CONSUMER",
    "WORKERS_BUCKET",
    "WORK_STREAM",
    "WORK_SUBJECT",
    "ClusterDispatcher",
    "ClusterLink",
    "Execute",
    "OnProgress",
    "Progress",
    "Worker",
    "WorkerState",
    "result_message",
]
