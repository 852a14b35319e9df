"""Other A2A agents: calling them (the official ``a2a-sdk`` client, imported only when a
peer is called), and spawn mode's registry of peers kept current by a poller.

    PeerClient       one agent over the SDK: send (streaming or not), get, list, cancel
    fetch_card       a public agent card, over plain httpx
    resolve_peer     a configured ``[a2a.peers.<name>]`` or a URL, with its token
    delegate         hand a peer a message and wait for its answer (``a2a_delegate``)
    PeerRegistry     known peers (name, url, card, last seen, introduced) in ``peers.json``
    PeerPoller       fetch each peer's card on a period; register, update, introduce once
"""

from ._calls import A2A_TOKEN_ENV, Delegation, PeerTarget, delegate, introduce, resolve_peer
from ._client import (
    BINDINGS,
    INTERRUPTED,
    TERMINAL,
    PeerClient,
    card_url,
    choose_binding,
    fetch_card,
    parts_text,
    task_text,
)
from ._poller import DEFAULT_INTERVAL, MIN_INTERVAL, PeerPoller, PollerState
from ._registry import Peer, PeerRegistry, registry_path

__all__ = [
    "A2A_TOKEN_ENV",
    "BINDINGS",
    "DEFAULT_INTERVAL",
    "Delegation",
    "INTERRUPTED",
    "MIN_INTERVAL",
    "Peer",
    "PeerClient",
    "PeerPoller",
    "PeerRegistry",
    "PeerTarget",
    "PollerState",
    "TERMINAL",
    "card_url",
    "choose_binding",
    "delegate",
    "fetch_card",
    "introduce",
    "parts_text",
    "registry_path",
    "resolve_peer",
    "task_text",
]
