"""Transports: each decodes its frames, builds a CallContext, calls the API, encodes the answer.

``unix``: newline-delimited JSON-RPC 2.0 on the daemon socket (next: HTTP and gRPC for A2A).
"""

from .unix import UnixListener

__all__ = ["UnixListener"]
