"""Fixtures for the provider contract tests: a scripted vendor server on port 0 and
a factory building each HTTP provider against it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from codetether.daemon.core.providers import (
    CompletionRequest,
    Provider,
    ProviderCredentials,
    ProviderEvent,
    create_provider,
)
from codetether.daemon.testing import ScriptedVendorServer

# No waiting between retries in tests; the backoff maths is tested on its own.
FAST_RETRIES = {"retry_base_delay": 0.0, "max_attempts": 3}

HTTP_VENDORS = ["openai", "anthropic", "gemini", "bedrock", "copilot"]

AWS = {"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG", "region": "eu-west-1"}


def make_provider(vendor: str, server: ScriptedVendorServer, **settings: Any) -> Provider:
    """Provider ``vendor`` pointed at ``server``, with instant retries."""
    settings = {**FAST_RETRIES, **settings}
    if vendor == "openai":
        creds = ProviderCredentials(api_key="sk-test", base_url=server.openai_base_url)
        return create_provider("openai", creds, settings=settings)
    if vendor == "anthropic":
        return create_provider("anthropic", ProviderCredentials(api_key="ak-test", base_url=server.base_url), settings=settings)
    if vendor == "gemini":
        return create_provider("google", ProviderCredentials(api_key="gk-test", base_url=server.base_url), settings=settings)
    if vendor == "bedrock":
        return create_provider("bedrock", ProviderCredentials(base_url=server.base_url, **AWS), settings=settings)
    if vendor == "copilot":
        settings.setdefault("github_api", server.base_url)
        return create_provider("github-copilot", ProviderCredentials(api_key="gho_test"), settings=settings)
    raise AssertionError(vendor)


async def _collect(provider: Provider, request: CompletionRequest) -> list[ProviderEvent]:
    return [event async for event in provider.stream(request)]


@pytest.fixture
def collect() -> Callable[[Provider, CompletionRequest], Any]:
    """``await collect(provider, request)``: every event of one streamed turn."""
    return _collect


@pytest.fixture
async def server() -> AsyncIterator[ScriptedVendorServer]:
    async with ScriptedVendorServer() as srv:
        yield srv


@pytest.fixture
async def provider_for(server: ScriptedVendorServer) -> AsyncIterator[Callable[..., Provider]]:
    """Build providers against ``server``; all are closed at teardown."""
    made: list[Provider] = []

    def build(vendor: str, **settings: Any) -> Provider:
        provider = make_provider(vendor, server, **settings)
        made.append(provider)
        return provider

    yield build
    for provider in made:
        await provider.aclose()
