"""Provider names → provider instances, and the static table of known providers.

Importing this module is cheap on purpose: it is read on every CLI start (model
listings, ``needs_credentials``), so the provider modules (httpx, botocore,
llama_cpp) are imported only inside :func:`create_provider`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...errors import ConfigError
from .base import ModelInfo, Provider, ProviderCredentials

__all__ = [
    "KNOWN_PROVIDERS",
    "ProviderInfo",
    "create_provider",
    "needs_credentials",
    "provider_info",
    "split_model_ref",
]


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """A provider the registry knows: its protocol, default model and model table."""

    name: str
    api: str  # "openai" | "anthropic" | "gemini" | "bedrock" | "copilot" | "embedded" | "scripted"
    default_model: str
    models: tuple[ModelInfo, ...] = field(default=())
    needs_credentials: bool = True
    description: str = ""


def _info(name: str, api: str, default: str, ctx: int, description: str, *, keyless: bool = False) -> ProviderInfo:
    models = (ModelInfo(provider=name, id=default, context_window=ctx),) if default else ()
    return ProviderInfo(name, api, default, models, not keyless, description)


# Defaults follow the seed's provider table; context windows are the vendors' published ones.
KNOWN_PROVIDERS: dict[str, ProviderInfo] = {
    p.name: p
    for p in (
        _info("zai", "openai", "glm-5", 200_000, "Z.AI flagship - GLM-5 agentic coding"),
        _info("moonshotai", "openai", "kimi-k2.5", 262_144, "Moonshot AI - excellent for coding"),
        _info("github-copilot", "copilot", "claude-opus-4", 128_000, "GitHub Copilot models"),
        _info("openrouter", "openai", "stepfun/step-3.5-flash:free", 262_144, "Access to many models"),
        _info("google", "gemini", "gemini-2.5-pro", 1_048_576, "Google AI"),
        _info("anthropic", "anthropic", "claude-sonnet-4-20250514", 200_000, "Direct or via Azure"),
        _info("stepfun", "openai", "step-3.5-flash", 262_144, "Chinese reasoning model"),
        _info("bedrock", "bedrock", "us.anthropic.claude-sonnet-4-20250514-v1:0", 200_000, "Amazon Bedrock Converse API"),
        _info("openai", "openai", "gpt-4o", 128_000, "OpenAI"),
        _info("ollama", "openai", "", 0, "Local Ollama server", keyless=True),
        _info("llamacpp", "openai", "", 0, "Local llama.cpp server", keyless=True),
        _info("vllm", "openai", "", 0, "Local vLLM server", keyless=True),
        _info("embedded", "embedded", "smollm2-135m", 8192, "Embedded SmolLM2-135M (no key, no network)", keyless=True),
        _info("scripted", "scripted", "scripted", 32_768, "Scripted test double (codetether.daemon.testing)", keyless=True),
    )
}

_ALIASES = {"gemini": "google", "copilot": "github-copilot", "local": "embedded", "moonshot": "moonshotai"}
_APIS = frozenset({"openai", "anthropic", "gemini", "bedrock", "copilot", "embedded", "scripted"})


def provider_info(name: str) -> ProviderInfo | None:
    """The table entry of ``name`` or one of its aliases (``gemini``, ``copilot``, ``local``)."""
    return KNOWN_PROVIDERS.get(_ALIASES.get(name, name))


def split_model_ref(ref: str) -> tuple[str, str]:
    """``"openrouter/stepfun/step-3.5-flash:free"`` → ``("openrouter", "stepfun/step-3.5-flash:free")``.

    Only the first slash separates: model ids themselves may contain slashes.
    A bare provider name yields its default model.
    """
    provider, _, model = ref.partition("/")
    info = provider_info(provider)
    return provider, model or (info.default_model if info else "")


def needs_credentials(name: str, settings: Mapping[str, Any] | None = None) -> bool:
    """Whether ``name`` needs a Vault secret before it can serve a request.

    Keyless: the embedded model, the scripted double, local servers, and custom
    OpenAI-compatible names whose ``base_url`` is configured in settings (a key is
    then optional and used when Vault has one).
    """
    info = provider_info(name)
    if info is not None:
        return info.needs_credentials
    return not (settings or {}).get("base_url")


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
    api = str(settings.get("api") or (info.api if info else ""))
    if not api:
        if not (creds.base_url or settings.get("base_url")):
            raise ConfigError(
                f"unknown provider {name!r}: set base_url (OpenAI-compatible) or api "
                f"({', '.join(sorted(_APIS))}) in its settings"
            )
        api = "openai"
    if api not in _APIS:
        raise ConfigError(f"provider {name!r}: unknown api {api!r}; one of {', '.join(sorted(_APIS))}")
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
    # The scripted double ships in codetether.daemon.testing (public test API); it is
    # reachable by name so end-to-end tests can configure a daemon to use it.
    from ...testing.scripted import ScriptedProvider

    return ScriptedProvider.from_settings(settings, name=name)
