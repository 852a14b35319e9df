"""``peers/list``: the other agents spawn mode knows (its registry in the data dir)."""

from __future__ import annotations

from ..app import App
from ..core.peers import Peer, PeerRegistry, registry_path
from ..wire import api
from ._context import CallContext
from ._table import Method

__all__ = ["PeersAPI"]


class PeersAPI:
    """The peers registry as the poller last wrote it (read from the file on each call:
    the poller is its one writer)."""

    def __init__(self, app: App) -> None:
        self.app = app

    def methods(self) -> list[Method]:
        """This domain's rows of the method table."""
        return [Method("peers/list", self.on_peers_list, api.Empty, list[Peer], when_broken=True)]

    async def on_peers_list(self, _p: api.Empty, _ctx: CallContext) -> list[Peer]:
        """Every known peer, oldest first: name, url, card, last_seen, introduced, error."""
        return PeerRegistry(registry_path(self.app.paths.data_dir)).peers()
