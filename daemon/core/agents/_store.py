"""Swarm state on disk: one JSON file per swarm, ``<dir>/<id>.json``, rewritten
atomically (temp file + rename, fsynced) on every change, so ``swarm status`` and
``swarm resume`` work after a daemon restart."""

from __future__ import annotations

import builtins
import logging
import re
import secrets
import time
from pathlib import Path

import msgspec

from ...errors import Conflict, NotFound, Unavailable
from ...wire.swarm import SwarmState
from ..storage import atomic_write

__all__ = ["SwarmStore", "new_swarm_id"]

log = logging.getLogger("codetether.daemon.swarm")

_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def new_swarm_id() -> str:
    """A new swarm id: sortable by creation time, safe as a file name and a ref part."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


class SwarmStore:
    """Swarm states under one directory. Methods are synchronous and small (one state
    is a few KB); one writer per swarm is the caller's rule."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._enc = msgspec.json.Encoder()
        self._dec = msgspec.json.Decoder(SwarmState)

    def _path(self, swarm_id: str) -> Path:
        # Ids are ours; anything that is not one (a path, a dot file) is simply not found.
        if not _ID.fullmatch(swarm_id) or swarm_id.startswith("-"):
            shown = swarm_id if len(swarm_id) <= 64 else swarm_id[:64] + "…"
            raise NotFound(f"no swarm {shown!r}")
        return self.directory / f"{swarm_id}.json"

    def save(self, state: SwarmState) -> None:
        """Write a swarm's state, replacing the previous one whole."""
        path = self._path(state.id)
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            atomic_write(path, self._enc.encode(state), 0o600)
        except OSError as exc:
            raise Unavailable(f"cannot write swarm {state.id} state: {exc.strerror or exc}") from exc

    def get(self, swarm_id: str) -> SwarmState:
        """A swarm's last saved state; :class:`NotFound` when there is none."""
        path = self._path(swarm_id)
        try:
            return self._dec.decode(path.read_bytes())
        except FileNotFoundError:
            raise NotFound(f"no swarm {swarm_id!r}") from None
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise Conflict(f"swarm {swarm_id} state is corrupt ({path}): {exc}") from exc

    def list(self) -> builtins.list[SwarmState]:
        """Every readable swarm, newest first; a corrupt file is logged and left out."""
        states = []
        try:
            paths = sorted(self.directory.glob("*.json"))
        except FileNotFoundError:
            return []
        for path in paths:
            try:
                states.append(self._dec.decode(path.read_bytes()))
            except FileNotFoundError:
                continue  # deleted meanwhile
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                log.warning("skipping corrupt swarm state %s: %s", path, exc)
        return sorted(states, key=lambda s: (s.created_at, s.id), reverse=True)

    def delete(self, swarm_id: str) -> None:
        """Forget a swarm; :class:`NotFound` when there is none."""
        try:
            self._path(swarm_id).unlink()
        except FileNotFoundError:
            raise NotFound(f"no swarm {swarm_id!r}") from None
