"""Relay checkpoints on disk: one JSON file per relay, ``<dir>/<relay_id>.json``, replaced
atomically and fsynced on every write (temp file + ``os.replace``), so after a kill -9 at
any instant the file holds the last checkpoint whole, never half of one."""

from __future__ import annotations

import builtins
import logging
import re
import secrets
import time
from pathlib import Path

import msgspec

from ...errors import Conflict, NotFound, Unavailable
from ...wire.relay import RelayCheckpoint
from ..storage import atomic_write

__all__ = ["RelayStore", "new_relay_id"]

log = logging.getLogger("codetether.relay")

_ID = re.compile(r"r[0-9]{8}-[0-9]{6}-[0-9a-f]{6}")


def new_relay_id() -> str:
    """A new relay id: sortable by creation time, safe as a file name and a bus topic token."""
    return "r" + time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


class RelayStore:
    """Relay checkpoints under one directory. Synchronous and small (a checkpoint is a
    few KB); one writer per relay is the caller's rule (the relay's own task)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._enc = msgspec.json.Encoder()
        self._dec = msgspec.json.Decoder(RelayCheckpoint)

    def path(self, relay_id: str) -> Path:
        """Where ``relay_id``'s checkpoint lives; :class:`NotFound` for what is not an id."""
        if not _ID.fullmatch(relay_id):
            shown = relay_id if len(relay_id) <= 64 else relay_id[:64] + "…"
            raise NotFound(f"no relay {shown!r}")
        return self.directory / f"{relay_id}.json"

    def save(self, cp: RelayCheckpoint) -> None:
        """Replace the relay's checkpoint whole, durably (fsync before the rename)."""
        path = self.path(cp.relay_id)
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            atomic_write(path, self._enc.encode(cp), 0o600)
        except OSError as exc:
            raise Unavailable(f"cannot write relay {cp.relay_id} checkpoint: {exc.strerror or exc}") from exc

    def get(self, relay_id: str) -> RelayCheckpoint:
        """The last checkpoint written; :class:`NotFound` when there is none."""
        path = self.path(relay_id)
        try:
            return self._dec.decode(path.read_bytes())
        except FileNotFoundError:
            raise NotFound(f"no relay {relay_id!r}") from None
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise Conflict(f"relay {relay_id} checkpoint is corrupt ({path}): {exc}") from exc

    def list(self) -> builtins.list[RelayCheckpoint]:
        """Every readable relay, newest first; a corrupt file is logged and left out."""
        found = []
        try:
            paths = sorted(self.directory.glob("r*.json"))
        except FileNotFoundError:
            return []
        for path in paths:
            try:
                found.append(self._dec.decode(path.read_bytes()))
            except FileNotFoundError:
                continue
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                log.warning("skipping corrupt relay checkpoint %s: %s", path, exc)
        return sorted(found, key=lambda c: (c.created_at, c.relay_id), reverse=True)
