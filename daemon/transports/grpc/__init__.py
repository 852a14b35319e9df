"""The gRPC transport for A2A: ``lf.a2a.v1.A2AService`` (1.0) and ``a2a.v1.A2AService`` (0.3).

grpcio aio, over the same API table as HTTP. Stubs come from ``proto/`` through
``scripts/gen-grpc.sh`` into ``_generated/`` (never edited by hand). grpc is imported
only here, so a daemon without the A2A listeners does not pay for it.
"""

from ._listener import GrpcListener, ListenerState
from ._service import PRINCIPAL
from ._v03 import ProtoJsonV03, V03Adapter

__all__ = ["GrpcListener", "ListenerState", "PRINCIPAL", "ProtoJsonV03", "V03Adapter"]
