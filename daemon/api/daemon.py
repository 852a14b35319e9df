"""``daemon/*``: how the daemon is, and asking it to stop."""

from __future__ import annotations

import os
import time

from .. import __version__
from ..app import App
from ..core.config import misplaced_config
from ..wire import api
from ._context import CallContext
from ._table import Method

__all__ = ["DaemonAPI"]


class DaemonAPI:
    """Status and shutdown; both answer while config.toml does not load."""

    def __init__(self, app: App) -> None:
        self.app = app
        # Where its files are does not change while it runs: built once, not per status call.
        self._where = (str(app.paths.socket), str(app.paths.data_dir), str(app.paths.config_file))

    def methods(self) -> list[Method]:
        """This domain's rows of the method table."""
        return [
            Method("daemon/status", self.on_daemon_status, api.Empty, api.DaemonStatus, when_broken=True),
            Method("daemon/shutdown", self.on_daemon_shutdown, api.Empty, api.Ok, when_broken=True),
        ]

    async def on_daemon_status(self, _p: api.Empty, _ctx: CallContext) -> api.DaemonStatus:
        """Version, where its files are, what is loaded and running, and whether every
        store is healthy (``degraded`` if one is not)."""
        app, c = self.app, self.app.config
        health = app.health()
        return api.DaemonStatus(
            version=__version__, pid=os.getpid(), uptime_s=time.time() - app.started,
            socket=self._where[0], data_dir=self._where[1], config_file=self._where[2],
            default_model=f"{c.default.provider}/{c.default.model}",
            sessions_loaded=len(app.runtimes),
            runs_active=sum(1 for r in app.runtimes.values() if r.busy),
            config_warnings=[*app.loaded.warnings, *misplaced_config(app.paths)],
            health=health,
            config_error=app.config_error.message if app.config_error else None,
            stopping=app.stopping,
            degraded=not all(part["ok"] for part in health.values()),
            http_url=app.endpoints.get("http_url"), grpc_address=app.endpoints.get("grpc_address"),
            bus=app.bus_kind, bus_error=app.bus_error)

    async def on_daemon_shutdown(self, _p: api.Empty, _ctx: CallContext) -> api.Ok:
        """Ask the daemon to stop (an ordered shutdown: runs are kept for a resume)."""
        self.app.shutdown_requested.set()
        return api.Ok()
