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
"""

from ..app import App
from ._context import CallContext, Emit, Transport
from ._subagents import SubagentRunner
from ._table import API, CallRecord, Handler, Method, Observer
from .a2a import A2AAPI, build_a2a_api
from .agents import AgentsAPI
from .approvals import ApprovalsAPI
from .bus import BusAPI
from .catalog import CatalogAPI
from .cluster import ClusterAPI
from .config import ConfigAPI
from .conveniences import ConveniencesAPI
from .daemon import DaemonAPI
from .okr import OkrAPI
from .peers import PeersAPI
from .ralph import RalphAPI
from .records import RecordsAPI
from .relay import RelayAPI
from .sessions import SessionsAPI
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
                   CatalogAPI(app), ConfigAPI(app), RecordsAPI(app), PeersAPI(app), SwarmAPI(app), BusAPI(app), AgentsAPI(app),
                   OkrAPI(app), RalphAPI(app), RelayAPI(app),
                   ClusterAPI(app), ConveniencesAPI(app), UndoAPI(app)):
        for method in domain.methods():
            table.add(method)
    return table
