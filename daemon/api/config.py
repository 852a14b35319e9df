"""``config/get`` and ``config/set``: the configuration file, read and edited in place."""

from __future__ import annotations

from ..app import App
from ..core.approvals import refuse_agent_processes
from ..core.config import Config, config_as_dict, set_config_value
from ..core.providers import check_model
from ..wire import api
from ._context import CallContext
from ._table import Method

__all__ = ["ConfigAPI"]


class ConfigAPI:
    """The effective config and its warnings; setting one key (kept only if the whole
    file still validates, and the default model can still run)."""

    def __init__(self, app: App) -> None:
        self.app = app

    def methods(self) -> list[Method]:
        """This domain's rows of the method table."""
        return [
            Method("config/get", self.on_config_get, api.Empty, api.ConfigView, when_broken=True),
            Method("config/set", self.on_config_set, api.ConfigSetParams, api.ConfigView),
        ]

    async def on_config_get(self, _p: api.Empty, _ctx: CallContext) -> api.ConfigView:
        """The config file's path, the effective configuration, and its warnings."""
        app = self.app
        return api.ConfigView(path=str(app.paths.config_file), config=config_as_dict(app.config),
                              warnings=list(app.loaded.warnings))

    async def on_config_set(self, p: api.ConfigSetParams, ctx: CallContext) -> api.ConfigView:
        """Set one dotted key; a process the agent started may not (S5)."""
        refuse_agent_processes(ctx, "change the configuration")

        def runnable(config: Config) -> None:  # C10: never switch to a model that cannot run
            if p.key.startswith(("default.", "providers.")):
                check_model(f"{config.default.provider}/{config.default.model}", config)

        await self.app.apply_config(set_config_value(self.app.paths.config_file, p.key, p.value, runnable))
        return await self.on_config_get(api.Empty(), ctx)
