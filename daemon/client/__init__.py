"""The one client of the daemon's Unix socket, for the CLI and the language server.

- :class:`Client`: blocking, one request at a time (the CLI).
- :class:`AsyncClient`: asyncio, many requests in flight, reconnects when the daemon
  restarts (the language server).

Both connect through one path (``_spawn.connect``): start the daemon when its socket is
absent (``autostart``), wait for its readiness handshake on a pipe, retry briefly when
another client won the race to start it, and refuse a socket another user serves (S8).
Errors: :class:`DaemonUnavailable` (a :class:`~codetether.daemon.errors.Unavailable`)
and :class:`~codetether.daemon.errors.ConfigError` (an unusable home or socket path);
the daemon's own errors come back as their classes of :mod:`codetether.daemon.errors`.

Import cost: the CLI imports this package on every invocation, so the blocking half is
stdlib-light (no ``socket``, ``asyncio`` or ``typing``) and :class:`AsyncClient` loads
on first use.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: importing typing costs the CLI ~4 ms

from ._spawn import DaemonUnavailable, start_daemon
from ._sync import Client

if TYPE_CHECKING:
    from ._async import AsyncClient

__all__ = ["AsyncClient", "Client", "DaemonUnavailable", "start_daemon"]


def __getattr__(name: str) -> object:
    if name == "AsyncClient":  # asyncio and typing: only the language server pays for them
        from ._async import AsyncClient

        globals()[name] = AsyncClient
        return AsyncClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
