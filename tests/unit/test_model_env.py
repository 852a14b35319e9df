"""C5 with care: a client's forwarded Vault settings never mix with the daemon's token."""

from __future__ import annotations

import pytest
from codetether.daemon.core.config import Config
from codetether.daemon.core.providers._models import ModelResolver
from codetether.daemon.core.secrets import SecretStore
from codetether.daemon.errors import SecretError


async def test_C5_a_forwarded_vault_address_never_gets_the_daemons_token(monkeypatch, tmp_path):
    monkeypatch.setenv("VAULT_TOKEN", "daemon-token-must-stay-home")
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.vault-token to fall back to
    config = Config()
    models = ModelResolver(config, SecretStore(config.secrets))
    resolved = models.resolve("anthropic/claude-x")
    with pytest.raises(SecretError, match="VAULT_TOKEN is not set"):
        async with models.lease(resolved, {"VAULT_ADDR": "http://127.0.0.1:9"}):
            pass
    await models.aclose()

