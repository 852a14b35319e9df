"""JSON-RPC 2.0: method table, dispatch, per-connection request tracking and cancellation."""

from .dispatch import CallContext, CallRecord, Connection, Dispatcher

__all__ = ["CallContext", "CallRecord", "Connection", "Dispatcher"]
