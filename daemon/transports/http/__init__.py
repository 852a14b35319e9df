"""The A2A HTTP transport (aiohttp): one API table served over A2A's HTTP bindings.

Routes (everything but the probes and the card needs ``Authorization: Bearer <token>``):

- ``POST /``, ``/a2a`` (and ``/a2a/``): JSON-RPC 2.0 (A2A 1.0 method names, and the 0.3
  names in 0.3 shapes); a streaming method answers ``text/event-stream``;
- the A2A 1.0 HTTP+JSON binding: ``POST /message:send``, ``POST /message:stream`` (SSE),
  ``GET /tasks/{id}``, ``GET /tasks``, ``POST /tasks/{id}:cancel``,
  ``GET|POST /tasks/{id}:subscribe`` (SSE), ``/tasks/{taskId}/pushNotificationConfigs[/{id}]``
  (POST, GET, DELETE), ``GET /extendedAgentCard``; each also under ``/{tenant}``;
- ``GET /.well-known/agent-card.json`` and ``/.well-known/agent.json`` (public, ETag);
- ``GET /health`` (public, 200 while serving), ``GET /ready`` (public, 503 while draining);
- with a ``rest_api``: ``GET /v1/audit/events``, ``POST /v1/audit/query``, ``GET /v1/sessions``.

Only decoding, the call context, encoding and the error mapping live here
(:mod:`codetether.daemon.errors`' one table); every answer comes from the API.
"""

from ._listener import HttpListener, ListenerState

__all__ = ["HttpListener", "ListenerState"]
