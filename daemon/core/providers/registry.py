"""Provider names → provider instances (the static table of known providers is re-exported
from :mod:`._known`).

Importing this module is cheap on purpose (a test holds it to that): a daemon pays
only for the providers it uses, so the provider modules (httpx, botocore, llama_cpp)
are imported only inside :func:`create_provider`.
"""

from __future__ import annotations

from typing import Any, assert_never, cast

from ...errors import ConfigError
from ..config import ProviderApi
from ._known import (
    KNOWN_PROVIDERS,
    PROVIDER_APIS,
    ProviderInfo,
    needs_credentials,
    provider_info,
    split_model_ref,
)
from .base import Provider, ProviderCredentials

__all__ = [
    "KNOWN_PROVIDERS",
    "PROVIDER_APIS",
    "ProviderInfo",
    "create_provider",
    "needs_credentials",
    "provider_info",
    "split_model_ref",
]


def create_provider(
    name: str,
    creds: ProviderCredentials,
    *,
    settings: dict[str, Any] | None = None,
) -> Provider:
    """An instance of provider ``name``.

    Known names pick their protocol; any other name is an OpenAI-compatible server
    when a ``base_url`` is configured, or speaks the protocol named by
    ``settings["api"]`` (for example an Anthropic-compatible gateway).
    """
    settings = dict(settings or {})
    info = provider_info(name)
    text = str(settings.get("api") or (info.api if info else ""))
    if not text:
        if not (creds.base_url or settings.get("base_url")):
            raise ConfigError(
                f"unknown provider {name!r}: set base_url (OpenAI-compatible) or api "
                f"({', '.join(sorted(PROVIDER_APIS))}) in its settings"
            )
        text = "openai"
    if text not in PROVIDER_APIS:
        raise ConfigError(f"provider {name!r}: unknown api {text!r}; one of {', '.join(sorted(PROVIDER_APIS))}")
    # Narrowed branch by branch below, so mypy fails here if ProviderApi grows an API
    # that has no branch (assert_never).
    api = cast(ProviderApi, text)
    if info is not None and info.default_model:
        settings.setdefault("model", info.default_model)
    # Imported here, not at module top: see the module docstring.
    if api == "openai":
        from .openai import OpenAIProvider

        return OpenAIProvider(name, creds, settings=settings)
    if api == "anthropic":
        from .anthropic import AnthropicProvider

        return AnthropicProvider(name, creds, settings=settings)
    if api == "gemini":
        from .gemini import GeminiProvider

        return GeminiProvider(name, creds, settings=settings)
    if api == "bedrock":
        try:
            from .bedrock import BedrockProvider
        except ImportError as exc:  # botocore is the [bedrock] extra, not a core dependency
            raise ConfigError(
                f"provider {name!r} (Amazon Bedrock) needs botocore: pip install 'codetether[bedrock]'"
            ) from exc

        return BedrockProvider(name, creds, settings=settings)
    if api == "copilot":
        from .copilot import CopilotProvider

        return CopilotProvider(name, creds, settings=settings)
    if api == "embedded":
        from .embedded import EmbeddedProvider

        return EmbeddedProvider(name, creds, settings=settings)
    if api == "scripted":
        # The scripted provider: an ordinary provider that plays a script (re-exported by
        # codetether.daemon.testing), so end-to-end tests configure a daemon to use it.
        from .scripted import ScriptedProvider

        return ScriptedProvider.from_settings(settings, name=name)
    assert_never(api)
