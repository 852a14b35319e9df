"""The gRPC transport for A2A: ``lf.a2a.v1.A2AService`` (1.0) and ``a2a.v1.A2AService`` (0.3).

grpcio aio, over the same API table as HTTP. Stubs come from ``proto/`` through
``scripts/gen-grpc.sh`` into ``_generated/`` (never edited by hand). grpc is imported
only here, so a daemon without the A2A listeners does not pay for it.

grpc's fork support is turned off before grpc starts (unless the environment says
otherwise): with it on, grpc core's fork handler restarts its epoll poller in every
child ``subprocess`` forks, and since grpcio 1.81 that child can abort with EBADF before
it execs (grpc/grpc#43055): a bash tool call failed with exit -6 and grpc's error as its
output. The daemon forks only to exec, so it has no use for the handler.
"""

import os

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

from ._listener import GrpcListener, ListenerState  # noqa: E402 - after the fork setting
from ._service import PRINCIPAL  # noqa: E402
from ._v03 import ProtoJsonV03, V03Adapter  # noqa: E402

__all__ = ["GrpcListener", "ListenerState", "PRINCIPAL", "ProtoJsonV03", "V03Adapter"]
