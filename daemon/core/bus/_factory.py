"""Choosing a backend from configuration: ``[bus] url``."""

from __future__ import annotations

from pathlib import Path

from ...errors import ConfigError
from ._base import DEFAULT_QUEUE_SIZE, Bus
from ._inproc import InProcessBus
from ._nats import NatsBus  # nats-py itself is imported only when a NatsBus starts

__all__ = ["make_bus"]


def make_bus(url: str | None, data_dir: Path | None, *, queue_size: int = DEFAULT_QUEUE_SIZE) -> Bus:
    """The bus for ``url``: none or empty is the in-process bus (durable log in ``data_dir``),
    ``nats://`` (or ``tls://``) is :class:`NatsBus`. Not started: ``async with make_bus(...)``."""
    if not url:
        return InProcessBus(data_dir, queue_size=queue_size)
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("nats", "tls"):
        return NatsBus(url, queue_size=queue_size)
    raise ConfigError(f"[bus] url {url!r}: expected nats://HOST:PORT (or nothing, for the in-process bus)")
