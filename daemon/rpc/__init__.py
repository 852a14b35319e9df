"""JSON-RPC 2.0: framing-free dispatch onto the API, per-connection request tracking and cancellation."""

from .dispatch import Caller, Connection

__all__ = ["Caller", "Connection"]
