"""The provider registry: names, defaults, credentials, and a light import."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest
from codetether.daemon.core.providers import (
    KNOWN_PROVIDERS,
    ModelInfo,
    ProviderCredentials,
    create_provider,
    needs_credentials,
    split_model_ref,
)
from codetether.daemon.core.providers.anthropic import AnthropicProvider
from codetether.daemon.core.providers.bedrock import BedrockProvider
from codetether.daemon.core.providers.copilot import CopilotProvider
from codetether.daemon.core.providers.embedded import EmbeddedProvider
from codetether.daemon.core.providers.gemini import GeminiProvider
from codetether.daemon.core.providers.openai import OpenAIProvider
from codetether.daemon.errors import ConfigError
from codetether.daemon.testing import ScriptedProvider

CREDS = ProviderCredentials(api_key="k", aws_access_key_id="a", aws_secret_access_key="b")


def test_seed_defaults():
    defaults = {name: info.default_model for name, info in KNOWN_PROVIDERS.items()}
    assert defaults["zai"] == "glm-5"
    assert defaults["moonshotai"] == "kimi-k2.5"
    assert defaults["github-copilot"] == "claude-opus-4"
    assert defaults["openrouter"] == "stepfun/step-3.5-flash:free"
    assert defaults["google"] == "gemini-2.5-pro"
    assert defaults["anthropic"] == "claude-sonnet-4-20250514"
    assert defaults["stepfun"] == "step-3.5-flash"
    assert "bedrock" in defaults
    assert defaults["embedded"] == "smollm2-135m"
    assert KNOWN_PROVIDERS["zai"].models[0].context_window == 200_000
    assert KNOWN_PROVIDERS["embedded"].models[0].context_window == 8192  # SmolLM2's trained context


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("openai", OpenAIProvider),
        ("openrouter", OpenAIProvider),
        ("moonshotai", OpenAIProvider),
        ("zai", OpenAIProvider),
        ("stepfun", OpenAIProvider),
        ("anthropic", AnthropicProvider),
        ("google", GeminiProvider),
        ("gemini", GeminiProvider),
        ("bedrock", BedrockProvider),
        ("github-copilot", CopilotProvider),
        ("embedded", EmbeddedProvider),
        ("scripted", ScriptedProvider),
    ],
)
async def test_create_provider_by_name(name, cls):
    provider = create_provider(name, CREDS)
    assert type(provider) is cls
    assert provider.name == name
    await provider.aclose()


async def test_custom_names():
    local = create_provider("lan-vllm", ProviderCredentials(), settings={"base_url": "http://10.0.0.2:8000/v1"})
    assert isinstance(local, OpenAIProvider)
    gateway = create_provider("corp-claude", ProviderCredentials(api_key="k", base_url="https://gw"), settings={"api": "anthropic"})
    assert isinstance(gateway, AnthropicProvider)
    with pytest.raises(ConfigError, match="unknown api"):
        create_provider("x", CREDS, settings={"api": "telepathy"})
    for p in (local, gateway):
        await p.aclose()


def test_needs_credentials():
    assert not needs_credentials("embedded")
    assert not needs_credentials("scripted")
    assert not needs_credentials("ollama")
    assert needs_credentials("anthropic") and needs_credentials("bedrock") and needs_credentials("gemini")
    assert needs_credentials("corp-gateway")
    assert not needs_credentials("corp-gateway", {"base_url": "http://localhost:1234/v1"})


def test_split_model_ref():
    assert split_model_ref("openrouter/stepfun/step-3.5-flash:free") == ("openrouter", "stepfun/step-3.5-flash:free")
    assert split_model_ref("zai") == ("zai", "glm-5")
    assert split_model_ref("mystery") == ("mystery", "")


async def test_list_models_includes_configured_model():
    provider = create_provider("zai", CREDS, settings={"model": "glm-4.6"})
    models = await provider.list_models()
    await provider.aclose()
    assert [m.id for m in models] == ["glm-5", "glm-4.6"]
    assert all(isinstance(m, ModelInfo) and m.provider == "zai" for m in models)


def test_registry_import_stays_light():
    code = (
        "import sys; import codetether.daemon.core.providers.registry; "
        "import codetether.daemon.testing; "
        "heavy = [m for m in ('httpx', 'llama_cpp', 'botocore', 'aiohttp') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "module",
    [
        "codetether.daemon.core.providers",
        "codetether.daemon.core.providers._convert",
        "codetether.daemon.core.providers._http",
        "codetether.daemon.core.providers._tooltext",
        "codetether.daemon.core.providers.anthropic",
        "codetether.daemon.core.providers.bedrock",
        "codetether.daemon.core.providers.copilot",
        "codetether.daemon.core.providers.embedded",
        "codetether.daemon.core.providers.gemini",
        "codetether.daemon.core.providers.openai",
        "codetether.daemon.core.providers.registry",
        "codetether.daemon.testing",
        "codetether.daemon.testing._render",
        "codetether.daemon.core.providers.scripted",
        "codetether.daemon.testing.vendor_servers",
    ],
)
def test_all_is_sorted_and_exported(module):
    mod = importlib.import_module(module)
    assert list(mod.__all__) == sorted(mod.__all__)
    for name in mod.__all__:
        assert getattr(mod, name) is not None
