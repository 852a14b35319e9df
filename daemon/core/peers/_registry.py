"""The registry of known peers: one JSON file in the data dir, replaced atomically.

One writer (the daemon's :class:`~._poller.PeerPoller`) and any number of readers
(``peers/list``): a reader sees the file before or after a write, never half of one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from ..storage import atomic_write

__all__ = ["Peer", "PeerRegistry", "registry_path"]


class Peer(msgspec.Struct, kw_only=True):
    """One known peer: where it is, what its card said, when it last answered."""

    url: str
    #: The card's name (the URL until a card was fetched).
    name: str
    #: The peer's public card as fetched (proto3 JSON), or None before the first answer.
    card: dict[str, Any] | None = None
    #: Unix time of the last successful card fetch.
    last_seen: float | None = None
    #: Unix time the peer was first registered.
    first_seen: float | None = None
    #: Whether our one-time introduction reached it.
    introduced: bool = False
    #: Why the last poll or introduction failed (None after a success).
    error: str | None = None


def registry_path(data_dir: Path) -> Path:
    """Where the registry lives in a data dir."""
    return data_dir / "peers.json"


class PeerRegistry:
    """The peers in ``path``, keyed by URL, in the order they were registered."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._peers: dict[str, Peer] = {}
        self.reload()

    def reload(self) -> None:
        """Read the file again; a missing or unreadable file is an empty registry (the
        poller rebuilds it on its next round)."""
        try:
            peers = msgspec.json.decode(self.path.read_bytes(), type=list[Peer])
        except (FileNotFoundError, msgspec.DecodeError, msgspec.ValidationError):
            peers = []
        self._peers = {p.url: p for p in peers}

    def peers(self) -> list[Peer]:
        """Every peer, oldest first."""
        return list(self._peers.values())

    def get(self, url: str) -> Peer | None:
        """The peer at ``url``, if known."""
        return self._peers.get(_normal(url))

    def put(self, peer: Peer) -> None:
        """Add or replace a peer and write the file."""
        peer.url = _normal(peer.url)
        self._peers[peer.url] = peer
        self.save()

    def save(self) -> None:
        """Write the whole registry (0600: cards may name private hosts)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, msgspec.json.encode(list(self._peers.values())), 0o600, durable=False)


def _normal(url: str) -> str:
    return url.strip().rstrip("/")
