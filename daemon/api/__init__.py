"""The daemon's one request handler, whatever the transport.

Every method is an ``on_<method>(params, ctx)`` of one domain module (``daemon``,
``sessions``, ``approvals``, ``catalog``, ``config``, ``records``, ``peers``) that takes only the
components it uses; ``a2a`` holds the A2A methods, a table of their own
(:func:`build_a2a_api`) that the HTTP and gRPC transports serve. A transport decodes a request, builds a :class:`CallContext`
(peer, principal, transport, request id, deadline and an ``emit`` sink it
implements), calls :meth:`API.call` or :meth:`API.stream`, and encodes the answer;
errors are mapped through the one table in :mod:`codetether.daemon.errors`.

A streaming method (``session/prompt``, ``session/resume``) is an async iterator of
notes that ends with its answer: the Unix transport sends the notes as
``session/event`` notifications before the response; an SSE or gRPC server stream
sends them as they are.

The domains an idle daemon has no use for (agents, bus, cluster, conveniences, peers,
swarm, undo) are registered by name and imported on their first call
(:meth:`API.add_lazy`), so ``codetether serve`` does not load them at start.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ..app import App
from ._context import CallContext, Emit, Transport
from ._subagents import SubagentRunner
from ._table import API, CallRecord, Handler, Method, Observer
from .a2a import A2AAPI, build_a2a_api
from .approvals import ApprovalsAPI
from .catalog import CatalogAPI
from .config import ConfigAPI
from .daemon import DaemonAPI
from .okr import OkrAPI
from .ralph import RalphAPI
from .records import RecordsAPI
from .relay import RelayAPI
from .sessions import SessionsAPI

TYPE_CHECKING = False
if TYPE_CHECKING:  # loaded on first use: see _LAZY and __getattr__ below
    from .agents import AgentsAPI
    from .bus import BusAPI
    from .cluster import ClusterAPI
    from .conveniences import ConveniencesAPI
    from .peers import PeersAPI
    from .swarm import SwarmAPI
    from .undo import UndoAPI

__all__ = [
    "A2AAPI",
    "API",
    "AgentsAPI",
    "ApprovalsAPI",
    "BusAPI",
    "CallContext",
    "CallRecord",
    "CatalogAPI",
    "ClusterAPI",
    "ConfigAPI",
    "ConveniencesAPI",
    "DaemonAPI",
    "Emit",
    "Handler",
    "Method",
    "Observer",
    "OkrAPI",
    "PeersAPI",
    "RalphAPI",
    "RecordsAPI",
    "RelayAPI",
    "SessionsAPI",
    "SubagentRunner",
    "SwarmAPI",
    "Transport",
    "UndoAPI",
    "build_a2a_api",
    "build_api",
]


def build_api(app: App) -> API:
    """Every method of the daemon over ``app``'s components, audited by its recorder."""
    table = API(config_error=lambda: app.config_error)
    table.observers.append(app.recorder.on_call)
    SubagentRunner.install(app)
    for domain in (DaemonAPI(app), SessionsAPI(app), ApprovalsAPI(app.approvals, app.runtimes),
                   CatalogAPI(app), ConfigAPI(app), RecordsAPI(app),
                   OkrAPI(app), RalphAPI(app), RelayAPI(app)):
        for method in domain.methods():
            table.add(method)
    for name, (_, names) in _LAZY.items():
        table.add_lazy(names, _later(name, app))
    return table


# Domains an idle daemon has no use for (and whose modules nothing else loads at start):
# their method names are registered at start, their modules imported on the first call of
# any of them. The names are each domain's own ``methods()``, which the table checks when
# it loads one; tests/unit/test_api.py loads them all.


class _Domain(Protocol):
    def methods(self) -> list[Method]: ...


def _later(name: str, app: App) -> Callable[[], list[Method]]:
    return lambda: _domain(name)(app).methods()


def _domain(name: str) -> Callable[[App], _Domain]:
    """The lazy domain class ``name``, imported from its module."""
    # The import statement's own path (not importlib's), so ``-X importtime`` shows it.
    module = __import__(__name__ + _LAZY[name][0], fromlist=(name,))
    cls: Callable[[App], _Domain] = getattr(module, name)
    return cls


#: class name -> (its module, its method names)
_LAZY: dict[str, tuple[str, tuple[str, ...]]] = {
    "AgentsAPI": (".agents", ("agents/list",)),
    "BusAPI": (".bus", ("bus/tail",)),
    "ClusterAPI": (".cluster", ("cluster/workers",)),
    "ConveniencesAPI": (".conveniences", ("instructions/get", "session/export", "session/import")),
    "PeersAPI": (".peers", ("peers/list",)),
    "SwarmAPI": (".swarm", ("swarm/cancel", "swarm/list", "swarm/resume", "swarm/start", "swarm/status")),
    "UndoAPI": (".undo", ("session/undo",)),
}


def __getattr__(name: str) -> object:
    # The lazy domains' classes, for ``from codetether.daemon.api import SwarmAPI``.
    if name in _LAZY:
        return _domain(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
