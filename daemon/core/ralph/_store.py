"""Where a PRD's last run is kept: one JSON file per PRD (``{prd_id}.json``), written
atomically after every change, so ``ralph status`` answers and a run cut short by a
restart is seen as such (what passes is in prd.json itself: ``ralph run`` continues)."""

from __future__ import annotations

from pathlib import Path

import msgspec

from ...errors import NotFound
from ...wire.ralph import RalphState
from ..storage import atomic_write

__all__ = ["RalphStore"]

#: Iterations kept in a saved state (the oldest go first; progress.txt keeps them all).
KEEP_ITERATIONS = 50


class RalphStore:
    """Run states under ``root``; one writer per PRD (its running loop)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, prd_id: str) -> Path:
        if not prd_id or "/" in prd_id or prd_id.startswith("."):
            raise NotFound(f"no Ralph run for {prd_id!r}")
        return self.root / f"{prd_id}.json"

    def save(self, state: RalphState) -> None:
        """Write ``state`` atomically (its last :data:`KEEP_ITERATIONS` iterations)."""
        if len(state.iterations) > KEEP_ITERATIONS:
            state = msgspec.structs.replace(state, iterations=state.iterations[-KEEP_ITERATIONS:])
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write(self._path(state.prd_id), msgspec.json.encode(state), 0o600)

    def get(self, prd_id: str) -> RalphState | None:
        """The last saved run of ``prd_id``; None if it never ran (or its file is damaged)."""
        try:
            return msgspec.json.decode(self._path(prd_id).read_bytes(), type=RalphState)
        except FileNotFoundError:
            return None
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None  # damaged: status shows the PRD alone; the next run rewrites it
