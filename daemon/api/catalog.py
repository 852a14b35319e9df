"""``models/list`` and ``tools/list``: what the agent can use."""

from __future__ import annotations

from ..app import App
from ..wire import api
from ._context import CallContext
from ._table import Method

__all__ = ["CatalogAPI"]


class CatalogAPI:
    """The models the daemon knows (configured or not) and the agent's tools."""

    def __init__(self, app: App) -> None:
        self.app = app  # the tool registry and models follow config reloads

    def methods(self) -> list[Method]:
        """This domain's rows of the method table."""
        return [
            Method("models/list", self.on_models_list, api.Empty, list[api.ModelEntry]),
            Method("tools/list", self.on_tools_list, api.Empty, list[api.ToolEntry]),
        ]

    async def on_models_list(self, _p: api.Empty, _ctx: CallContext) -> list[api.ModelEntry]:
        """Every known model, the default and the configured ones marked."""
        return self.app.models.list_models()

    async def on_tools_list(self, _p: api.Empty, _ctx: CallContext) -> list[api.ToolEntry]:
        """The agent's tools with their JSON Schemas."""
        return [api.ToolEntry(name=t.name, description=t.description, read_only=t.read_only,
                              parameters=t.schema()) for t in self.app.tools]
