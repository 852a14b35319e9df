"""``okr/*`` methods (issue 11; being built)."""

from __future__ import annotations

from ..app import App
from ._table import Method

__all__ = ["OkrAPI"]


class OkrAPI:
    """The ``okr/*`` methods."""

    def __init__(self, app: App) -> None:
        self.app = app

    def methods(self) -> list[Method]:
        """The ``okr/*`` methods this domain serves."""
        return []
