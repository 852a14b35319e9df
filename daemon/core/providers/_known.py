"""The static table of known providers, their aliases, and the one list of provider APIs.

Kept apart from :mod:`.registry` (which imports the vendor modules on demand) so the
vendor modules can read the table without importing the registry back.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config import ProviderApi
from .base import ModelInfo

__all__ = [
    "KNOWN_PROVIDERS",
    "PROVIDER_APIS",
    "ProviderInfo",
    "needs_credentials",
    "provider_info",
    "split_model_ref",
]

#: Every protocol a provider can speak: the one list, read from the config schema's
#: ``ProviderApi`` (the scripted test double is one of them, like any other).
PROVIDER_APIS: frozenset[str] = frozenset(typing.get_args(ProviderApi))


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """A provider the registry knows: its protocol, default model and model table."""

    name: str
    api: ProviderApi
    default_model: str
    models: tuple[ModelInfo, ...] = field(default=())
    needs_credentials: bool = True
    description: str = ""


def _info(name: str, api: ProviderApi, default: str, ctx: int, description: str, *, keyless: bool = False) -> ProviderInfo:
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
