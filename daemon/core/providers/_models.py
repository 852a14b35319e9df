"""Resolve ``provider/model`` names to provider instances, with credentials.

Provider instances are cached per provider name; the cache is dropped when the
config changes. Keys come from the secret store and are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import logging
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any

import msgspec

from ...errors import ConfigError, InvalidParams
from ...wire.api import VAULT_SETTINGS, ModelEntry
from ..config import Config
from ..secrets import SecretStore, env_vars_for
from .base import Provider, ProviderCredentials
from .registry import (
    KNOWN_PROVIDERS,
    create_provider,
    needs_credentials,
    provider_info,
)

__all__ = ["ModelResolver", "ResolvedModel", "check_model", "split_model", "suggest_model"]

log = logging.getLogger("codetether.models")


class ResolvedModel(msgspec.Struct, frozen=True):
    """A ``provider/model`` name resolved against config and the provider table."""

    provider_name: str
    model: str
    context_window: int

    @property
    def label(self) -> str:
        return f"{self.provider_name}/{self.model}"


def split_model(name: str | None, config: Config) -> tuple[str, str]:
    if not name:
        return config.default.provider, config.default.model
    if "/" in name:
        provider, model = name.split("/", 1)
        if not provider or not model:
            raise ConfigError(f"model {name!r} must look like provider/model")
        return provider, model
    info = provider_info(name)
    if info is not None or name in config.providers:
        # A bare provider name means its default (or configured) model.
        section = config.providers.get(name)
        model = (section.model if section else None) or (info.default_model if info else "")
        if not model:
            raise ConfigError(f"provider {name!r} has no default model: use {name}/<model>")
        return name, model
    return config.default.provider, name


#: Names whose resolution is remembered per config (a client may name any model).
_MEMO_SIZE = 64


class ModelResolver:
    """``_providers`` caches live provider instances by provider name; ``_lock``
    keeps two concurrent first uses from building two instances.

    Resolutions and provider settings are pure functions of the config: they are
    remembered for the config they came from (``_memo_config``), and forgotten when
    ``config`` is another object (a reload). A session's creation and its run resolve
    the same name, once per A2A task each."""

    def __init__(self, config: Config, secrets: SecretStore) -> None:
        self.config = config
        self.secrets = secrets
        self._memo_config: Config | None = None
        self._resolved: dict[str | None, ResolvedModel] = {}
        self._provider_settings: dict[str, dict[str, Any]] = {}
        self._providers: dict[str, Provider] = {}
        self._leases: dict[int, int] = {}  # id(provider) -> runs using it
        self._retired: list[Provider] = []  # replaced by a reload, closed when unused
        self._lock = asyncio.Lock()

    async def reconfigure(self, config: Config, secrets: SecretStore) -> None:
        """Adopt a new config. Providers in use by a run stay open until it ends."""
        async with self._lock:
            self._retired.extend(self._providers.values())
            self.config, self.secrets, self._providers = config, secrets, {}
        await self._close_unused()

    @contextlib.asynccontextmanager
    async def lease(self, resolved: ResolvedModel,
                    env: Mapping[str, str] | None = None) -> AsyncIterator[Provider]:
        """The provider for one run; a config reload cannot close it under the run.

        ``env``: the key and Vault variables of the client that asked (C5). When they
        differ from the daemon's own for this provider, the run gets a provider of its
        own, with credentials resolved from the client's environment, closed after it."""
        if env and self._env_differs(resolved.provider_name, env):
            own = await self._provider_for_env(resolved.provider_name, env)
            try:
                yield own
            finally:
                await _close(own)
            return
        provider = await self.provider(resolved)
        key = id(provider)
        self._leases[key] = self._leases.get(key, 0) + 1
        try:
            yield provider
        finally:
            self._leases[key] -= 1
            if not self._leases[key]:
                del self._leases[key]
            await self._close_unused()

    def _env_differs(self, name: str, env: Mapping[str, str]) -> bool:
        if not needs_credentials(name, self._settings(name)):
            return False
        names = {*env_vars_for(name), *VAULT_SETTINGS, "VAULT_TOKEN"}
        return any(env[k] != os.environ.get(k) for k in names if k in env)

    async def _provider_for_env(self, name: str, env: Mapping[str, str]) -> Provider:
        base = dict(os.environ)
        if any(k.startswith("VAULT_") for k in env):
            # Vault settings come whole from the client or whole from the daemon: never the
            # daemon's token sent to an address the client named.
            base = {k: v for k, v in base.items() if not k.startswith("VAULT_")}
        store = SecretStore(self.config.secrets, env={**base, **env})
        return create_provider(name, await store.get(name), settings=self._settings(name))

    async def _close_unused(self) -> None:
        unused = [p for p in self._retired if id(p) not in self._leases]
        self._retired = [p for p in self._retired if id(p) in self._leases]
        for provider in unused:
            await _close(provider)

    def _memo(self) -> None:
        """Forget what was remembered for another config than the current one."""
        if self._memo_config is not self.config:
            self._memo_config = self.config
            self._resolved.clear()
            self._provider_settings.clear()

    def _settings(self, provider_name: str) -> dict[str, Any]:
        self._memo()
        settings = self._provider_settings.get(provider_name)
        if settings is None:
            settings = self._provider_settings[provider_name] = _provider_settings(self.config, provider_name)
        return dict(settings)  # a copy: a provider may keep and change its own

    def resolve(self, name: str | None) -> ResolvedModel:
        """``name`` from a client (None: the configured default). A bad name from a
        client is InvalidParams; a bad configured default is a ConfigError."""
        try:
            return self._resolve(name)
        except ConfigError as exc:
            if name is None:
                raise
            raise InvalidParams(exc.message) from exc

    def _resolve(self, name: str | None) -> ResolvedModel:
        self._memo()
        resolved = self._resolved.get(name)
        if resolved is None:  # an error is not remembered: it is raised again next time
            resolved = _resolve(name, self.config)
            if len(self._resolved) >= _MEMO_SIZE:
                self._resolved.clear()
            self._resolved[name] = resolved
        return resolved

    async def provider(self, resolved: ResolvedModel) -> Provider:
        async with self._lock:
            provider = self._providers.get(resolved.provider_name)
            if provider is None:
                name = resolved.provider_name
                settings = self._settings(name)
                creds = (await self.secrets.get(name)) if needs_credentials(name, settings) \
                    else ProviderCredentials()
                provider = create_provider(name, creds, settings=settings)
                self._providers[name] = provider
            return provider

    def list_models(self) -> list[ModelEntry]:
        default = f"{self.config.default.provider}/{self.config.default.model}"
        entries: dict[str, ModelEntry] = {}
        for pname, known in KNOWN_PROVIDERS.items():
            if pname == "scripted" and pname not in self.config.providers:
                continue  # the test double is listed only where configured
            for info in known.models:
                label = f"{pname}/{info.id}"
                entries[label] = ModelEntry(id=label, provider=pname,
                                            context_window=info.context_window,
                                            default=label == default,
                                            configured=not needs_credentials(pname)
                                            or pname in self.config.providers)
        from ._gguf import EMBEDDED_MODELS  # every model `models pull` can fetch

        for model_id, embedded in EMBEDDED_MODELS.items():
            label = f"embedded/{model_id}"
            entries.setdefault(label, ModelEntry(id=label, provider="embedded",
                                                 context_window=embedded.n_ctx,
                                                 default=label == default, configured=True))
        for pname, section in self.config.providers.items():
            for model in [section.model, *section.models]:
                if model:
                    label = f"{pname}/{model}"
                    entries[label] = ModelEntry(id=label, provider=pname,
                                                context_window=section.context_window or 8192,
                                                default=label == default)
        if default not in entries:
            entries[default] = ModelEntry(id=default, provider=self.config.default.provider,
                                          context_window=8192, default=True)
        return sorted(entries.values(), key=lambda e: (not e.default, e.id))

    async def aclose(self) -> None:
        for provider in [*self._providers.values(), *self._retired]:
            await _close(provider)
        self._providers.clear()
        self._retired.clear()


def _provider_settings(config: Config, provider_name: str) -> dict[str, Any]:
    section = config.providers.get(provider_name)
    if section is None:
        return {}
    return {k: v for k, v in msgspec.structs.asdict(section).items() if v not in (None, [], {})}


def _resolve(name: str | None, config: Config) -> ResolvedModel:
    provider_name, model = split_model(name, config)
    settings = _provider_settings(config, provider_name)
    known = provider_info(provider_name)
    if known is None and "base_url" not in settings and "api" not in settings:
        raise ConfigError(
            f"unknown provider {provider_name!r}: known are {', '.join(sorted(KNOWN_PROVIDERS))}, "
            f"or add [providers.{provider_name}] base_url = ... to the config")
    api = settings.get("api") or (known.api if known else "openai")
    if api == "embedded" and not settings.get("model_path"):
        from ._gguf import EMBEDDED_MODELS, unknown_model_error

        if model not in EMBEDDED_MODELS:
            suggestion = suggest_model(model, config)
            if suggestion:
                raise ConfigError(f"unknown embedded model {model!r}; did you mean {suggestion!r}?")
            raise unknown_model_error(model)
    window = settings.get("context_window") or _known_window(known, model)
    return ResolvedModel(provider_name, model, int(window or 8192))


def _labels(config: Config) -> list[str]:
    """Every ``provider/model`` we know of: the provider table, then the config."""
    from ._gguf import EMBEDDED_MODELS

    labels = [f"{p}/{info.id}" for p, known in KNOWN_PROVIDERS.items() if p != "scripted"
              for info in known.models]
    labels += [f"embedded/{m}" for m in EMBEDDED_MODELS]
    for pname, section in config.providers.items():
        labels += [f"{pname}/{m}" for m in [section.model, *section.models] if m]
    return list(dict.fromkeys(labels))


def suggest_model(name: str, config: Config) -> str | None:
    """The ``provider/model`` a user most likely meant by ``name`` (C9): an exact model
    id under another provider (``gpt-4o`` → ``openai/gpt-4o``), else the closest label
    or model id by spelling; None when nothing is close."""
    labels = _labels(config)
    by_model: dict[str, str] = {}
    for label in labels:
        by_model.setdefault(label.split("/", 1)[1], label)
    if name in by_model:
        return by_model[name]
    close = difflib.get_close_matches(name, [*labels, *by_model], n=1, cutoff=0.6)
    if not close:
        return None
    return close[0] if close[0] in labels else by_model[close[0]]


def check_model(name: str, config: Config) -> ResolvedModel:
    """Refuse a model that cannot run as configured (C10): an unknown provider, an
    unknown embedded model (with a "did you mean"), an embedded model whose file is not
    downloaded (naming ``codetether models pull``), or Bedrock without botocore.

    For ``config/set`` of ``default.model``/``default.provider``: ``name`` is a
    ``provider/model`` or bare name as a client gives it, checked against ``config``
    (the config being set). Raises ConfigError; returns the resolved model.
    """
    resolved = _resolve(name, config)
    settings = _provider_settings(config, resolved.provider_name)
    info = provider_info(resolved.provider_name)
    api = settings.get("api") or (info.api if info else "openai")
    if api == "embedded" and not settings.get("model_path"):
        from ._gguf import find_model_file

        if find_model_file(resolved.model) is None:
            raise ConfigError(f"embedded model {resolved.model!r} is not downloaded: "
                              f"run `codetether models pull {resolved.model}` first")
    elif api == "bedrock":
        import importlib.util

        if importlib.util.find_spec("botocore") is None:
            raise ConfigError("Amazon Bedrock needs botocore: pip install 'codetether[bedrock]'")
    return resolved


def _known_window(known: Any, model: str) -> int | None:
    if known is None:
        return None
    for info in known.models:
        if info.id == model:
            return int(info.context_window)
    windows = [info.context_window for info in known.models if info.context_window]
    return int(windows[0]) if windows else None


async def _close(provider: Provider) -> None:
    try:
        await provider.aclose()
    except Exception:  # noqa: BLE001 - closing must not stop the others
        log.exception("closing provider %s failed", getattr(provider, "name", "?"))
