"""The gRPC listener: one grpcio aio server with the two A2A services, health and reflection.

Bounds: at most ``max_concurrent_rpcs`` A2A calls at once (the next one is answered
RESOURCE_EXHAUSTED; counted by the handlers, see :class:`._service.Slots`, with grpcio's
own bound at twice that for health and reflection), requests of at most
``max_message_bytes``, and no SO_REUSEPORT, so
a second daemon on a taken port fails to start instead of sharing it silently. Health
(``grpc.health.v1.Health``) and reflection stay public; the A2A services need the bearer
token (see :mod:`._service`). The server runs on grpc's own loop thread and the API on
the caller's loop (see :mod:`._loop` for why: fair service under HTTP load).
"""

from __future__ import annotations

import asyncio
import enum
import logging

import grpc
from google.protobuf import descriptor, descriptor_pool
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2

from ...api import API
from ...errors import Unavailable
from ._generated import _pool, a2a_pb2, a2a_v0_3_pb2
from ._loop import grpc_loop, run_on
from ._service import Service, Slots
from ._v03 import ProtoJsonV03, V03Adapter

__all__ = ["GrpcListener", "ListenerState"]

log = logging.getLogger("codetether.grpc")

MAX_CONCURRENT_RPCS = 256
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


class ListenerState(enum.Enum):
    """NEW -> SERVING -> STOPPED; a stopped listener does not start again."""

    NEW = "new"
    SERVING = "serving"
    STOPPED = "stopped"


def _adopt(pool: descriptor_pool.DescriptorPool, file: descriptor.FileDescriptor) -> None:
    """Copy ``file`` (and what it imports) into ``pool``, so reflection can describe it."""
    for dep in file.dependencies:
        _adopt(pool, dep)
    try:
        pool.FindFileByName(file.name)
    except KeyError:
        pool.AddSerializedFile(file.serialized_pb)


class GrpcListener:
    """Serves ``lf.a2a.v1.A2AService`` and ``a2a.v1.A2AService`` (0.3) over ``api`` on host:port.

    ``token`` is the bearer token every A2A call must carry; ``v03_api_adapter`` turns
    the 0.3 rpcs into 1.0 calls and back. :meth:`start` returns the bound port (port 0
    picks a free one). The grpcio server is the only thing held; ``state`` says where
    it is in its life.
    """

    def __init__(self, api: API, host: str, port: int, *, token: str,
                 v03_api_adapter: V03Adapter | None = None,
                 max_concurrent_rpcs: int = MAX_CONCURRENT_RPCS,
                 max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        if not token:
            raise ValueError("the gRPC listener needs a bearer token")
        self.api = api
        self.host = host
        self.port = port
        self.max_concurrent_rpcs = max_concurrent_rpcs
        self.max_message_bytes = max_message_bytes
        self.state = ListenerState.NEW
        v1 = a2a_pb2.DESCRIPTOR.services_by_name["A2AService"]
        v03 = a2a_v0_3_pb2.DESCRIPTOR.services_by_name["A2AService"]
        slots = Slots(max_concurrent_rpcs)
        self._services = [
            Service(api, v1, token=token, version="1.0", slots=slots),
            Service(api, v03, token=token, version="0.3", adapter=v03_api_adapter or ProtoJsonV03(),
                    slots=slots),
        ]
        self._server: grpc.aio.Server | None = None
        self._health: health.aio.HealthServicer | None = None

    @property
    def address(self) -> str:
        """``host:port`` as bound (after :meth:`start`)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    async def start(self) -> int:
        """Bind and start serving; the bound port.

        The grpcio server runs on grpc's own loop (:mod:`._loop`, why there); the API
        calls run on the loop that called this.
        """
        if self.state is not ListenerState.NEW:
            raise RuntimeError(f"gRPC listener is {self.state.value}; make a new one")
        owner = asyncio.get_running_loop()
        port = await run_on(grpc_loop(), self._start(owner))
        self.port = port
        self.state = ListenerState.SERVING
        log.info("gRPC listening on %s", self.address)
        return port

    async def _start(self, owner: asyncio.AbstractEventLoop) -> int:
        server = grpc.aio.server(
            maximum_concurrent_rpcs=2 * self.max_concurrent_rpcs + 16,
            options=[("grpc.so_reuseport", 0),
                     ("grpc.max_receive_message_length", self.max_message_bytes),
                     ("grpc.max_send_message_length", self.max_message_bytes)])
        server.add_generic_rpc_handlers(tuple(s.handler(owner) for s in self._services))
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        for file in (health_pb2.DESCRIPTOR, reflection_pb2.DESCRIPTOR):
            _adopt(_pool.POOL, file)
        names = [s.full_name for s in self._services]
        reflection.enable_server_reflection(
            [*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server, pool=_pool.POOL)
        try:
            port: int = server.add_insecure_port(f"{self._bind_host()}:{self.port}")
        except RuntimeError as exc:  # grpcio: "Failed to bind to address"
            raise Unavailable(f"gRPC cannot listen on {self.address}: {exc}") from exc
        if not port:
            raise Unavailable(f"gRPC cannot listen on {self.address}")
        await server.start()
        self._server = server
        for name in ("", *names):
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        return port

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting; calls in flight get ``grace`` seconds, then are cancelled."""
        if self.state is not ListenerState.SERVING:
            self.state = ListenerState.STOPPED
            return
        self.state = ListenerState.STOPPED
        await run_on(grpc_loop(), self._stop(grace))

    async def _stop(self, grace: float | None) -> None:
        if self._health is not None:
            await self._health.enter_graceful_shutdown()  # watchers see NOT_SERVING first
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None

    def _bind_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
