"""Provider keys from HashiCorp Vault / OpenBao (KV v2), and, when allowed, the environment.

A provider's key lives at ``<mount>/<path>/<provider>``, by default
``secret/codetether/providers/<provider>``, in the fields of
:class:`ProviderCredentials` (``api_key``, ``base_url``,
``organization``, ``headers``, ``aws_*``, ``region``). ``VAULT_ADDR``,
``VAULT_TOKEN``, ``VAULT_MOUNT`` and ``VAULT_SECRETS_PATH`` override ``[secrets]``.

Resolution order for :meth:`SecretStore.get`:

1. the in-memory cache (``[secrets] cache_ttl`` seconds);
2. Vault, when an address is configured;
3. only if Vault has no entry (or no Vault is configured) and ``allow_env`` is
   true: ``OPENAI_API_KEY`` and friends (see :data:`ENV_KEYS`).

Every failure is a :class:`SecretError` that says where the key belongs, e.g.
``vault kv put secret/codetether/providers/openai api_key=...``. Neither key values
nor the Vault token ever appear in messages, reprs or logs. hvac is imported lazily,
inside the worker thread, so an idle daemon does not carry it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from ...errors import SecretError
from ..config import SecretsSection
from ._credentials import ProviderCredentials
from ._redact import register

__all__ = ["ENV_KEYS", "SecretStore", "env_vars_for"]

log = logging.getLogger("codetether.daemon.secrets")

#: Environment variables consulted (when ``allow_env``) per provider, first set wins.
ENV_KEYS: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "google": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "openrouter": ("OPENROUTER_API_KEY",),
    "moonshot": ("MOONSHOT_API_KEY",),
    "moonshotai": ("MOONSHOT_API_KEY",),
    "zai": ("ZAI_API_KEY",),
    "stepfun": ("STEPFUN_API_KEY",),
    "github-copilot": ("GITHUB_TOKEN",),
    "bedrock": ("AWS_BEARER_TOKEN_BEDROCK",),
}
_AWS_FIELDS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
_PROVIDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_VAULT_TIMEOUT = 10  # seconds per request; a hung Vault must not hang a session


def env_vars_for(provider: str) -> tuple[str, ...]:
    """The key variables for ``provider``; unknown providers use ``<NAME>_API_KEY``."""
    default = (re.sub(r"[^A-Z0-9]", "_", provider.upper()) + "_API_KEY",)
    return ENV_KEYS.get(provider, default)


@dataclass(frozen=True)
class _Target:
    """Where to read, after environment overrides. The token is kept out of repr."""

    addr: str | None
    mount: str
    path: str
    token: str | None = field(default=None, repr=False)
    namespace: str | None = None
    verify: bool | str = True

    def where(self, provider: str) -> str:
        return "/".join(p.strip("/") for p in (self.mount, self.path, provider) if p.strip("/"))

    def put_hint(self, provider: str) -> str:
        fields = (
            "aws_access_key_id=... aws_secret_access_key=... region=..."
            if provider == "bedrock"
            else "api_key=..."
        )
        return f"vault kv put {self.where(provider)} {fields}"


class SecretStore:
    """Resolves :class:`ProviderCredentials` per provider, with a TTL cache.

    ``env`` is read on every lookup (not copied), so ``VAULT_*`` changes apply after
    :meth:`invalidate`. ``clock`` is injectable for tests of the TTL.

    ``_locks`` holds one :class:`asyncio.Lock` per provider; it guards the
    cache-miss path so concurrent ``get`` calls for one provider make one Vault read.
    """

    def __init__(
        self,
        settings: SecretsSection,
        env: Mapping[str, str] = os.environ,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._env = env
        self._clock = clock
        self._cache: dict[str, tuple[float, ProviderCredentials]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def __repr__(self) -> str:
        env, s = self._env, self._settings
        addr = env.get("VAULT_ADDR") or s.vault_addr
        mount = env.get("VAULT_MOUNT") or s.vault_mount
        path = env.get("VAULT_SECRETS_PATH") or s.vault_path
        return f"SecretStore(vault_addr={addr!r}, mount={mount!r}, path={path!r})"

    async def get(self, provider: str) -> ProviderCredentials:
        """The credentials for ``provider``; raises :class:`SecretError` saying where to put them."""
        if not _PROVIDER_NAME.fullmatch(provider) or ".." in provider:
            raise SecretError(f"invalid provider name {provider!r}")
        cached = self._cached(provider)
        if cached is not None:
            return cached
        lock = self._locks.setdefault(provider, asyncio.Lock())
        async with lock:
            cached = self._cached(provider)
            if cached is not None:
                return cached
            creds, source = await self._resolve(provider)
            register(creds.api_key, creds.aws_secret_access_key, creds.aws_session_token,
                     *creds.headers.values())
            if source == "vault" and self._settings.cache_ttl > 0:
                self._cache[provider] = (self._clock() + self._settings.cache_ttl, creds)
            log.debug("credentials for %s resolved from %s", provider, source)
            return creds

    async def field(self, name: str, field_name: str) -> str | None:
        """One field of the Vault secret ``<path>/<name>`` (an A2A peer's ``token`` at
        ``a2a-<peer>``), registered with the redactor; None when Vault is not configured or
        has no such secret or field. Raises :class:`SecretError` when Vault fails."""
        if not _PROVIDER_NAME.fullmatch(name) or ".." in name:
            raise SecretError(f"invalid secret name {name!r}")
        target = self._target()
        if not target.addr:
            return None
        if not target.token:
            target = dataclasses.replace(target, token=await asyncio.to_thread(_token_file, self._env))
        if not target.token:
            return None
        data = await asyncio.to_thread(_vault_read, target, name)
        value = (data or {}).get(field_name)
        if not isinstance(value, str) or not value:
            return None
        register(value)
        return value

    def invalidate(self, provider: str | None = None) -> None:
        """Forget cached credentials for ``provider`` (all providers when None)."""
        if provider is None:
            self._cache.clear()
        else:
            self._cache.pop(provider, None)

    # -- internals ------------------------------------------------------------------

    def _cached(self, provider: str) -> ProviderCredentials | None:
        entry = self._cache.get(provider)
        if entry is None:
            return None
        expires, creds = entry
        if self._clock() >= expires:
            del self._cache[provider]
            return None
        return creds

    def _target(self) -> _Target:
        env, s = self._env, self._settings
        return _Target(
            addr=env.get("VAULT_ADDR") or s.vault_addr,
            mount=env.get("VAULT_MOUNT") or s.vault_mount,
            path=env.get("VAULT_SECRETS_PATH") or s.vault_path,
            token=env.get("VAULT_TOKEN") or None,
            namespace=env.get("VAULT_NAMESPACE") or None,
            verify=env.get("VAULT_CACERT") or env.get("VAULT_CAPATH") or True,
        )

    async def _resolve(self, provider: str) -> tuple[ProviderCredentials, str]:
        target = self._target()
        if target.addr:
            if not target.token:  # fall back to what `vault login` / `bao login` saved
                token = await asyncio.to_thread(_token_file, self._env)
                target = dataclasses.replace(target, token=token)
            if not target.token:
                raise SecretError(
                    f"VAULT_TOKEN is not set (Vault at VAULT_ADDR={target.addr}); "
                    f"log in, then store the key with: {target.put_hint(provider)}"
                )
            data = await asyncio.to_thread(_vault_read, target, provider)
            if data is not None:
                return _credentials(data, provider, target), "vault"
        from_env = self._from_env(provider) if self._settings.allow_env else None
        if from_env is not None:
            return from_env, "environment"
        raise SecretError(self._missing_message(provider, target))

    def _from_env(self, provider: str) -> ProviderCredentials | None:
        env = self._env
        if provider == "bedrock":
            key_id = env.get("AWS_ACCESS_KEY_ID") or None
            secret = env.get("AWS_SECRET_ACCESS_KEY") or None
            token = env.get("AWS_BEARER_TOKEN_BEDROCK") or None
            if not (token or (key_id and secret)):
                return None
            return ProviderCredentials(
                api_key=token,
                aws_access_key_id=key_id,
                aws_secret_access_key=secret,
                aws_session_token=env.get("AWS_SESSION_TOKEN") or None,
                region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            )
        for var in env_vars_for(provider):
            value = (env.get(var) or "").strip()
            if value:
                return ProviderCredentials(api_key=value)
        return None

    def _missing_message(self, provider: str, target: _Target) -> str:
        if target.addr:
            text = (
                f"no key for provider {provider!r}: Vault at VAULT_ADDR={target.addr} has no "
                f"secret at {target.where(provider)}; store one with: {target.put_hint(provider)}"
            )
        else:
            text = (
                f"no key for provider {provider!r}: Vault is not configured (set VAULT_ADDR and "
                f"VAULT_TOKEN, or [secrets] vault_addr); then store the key with: "
                f"{target.put_hint(provider)}"
            )
        variables = ("AWS_ACCESS_KEY_ID",) if provider == "bedrock" else env_vars_for(provider)
        present = [v for v in variables if self._env.get(v)]
        if present and not self._settings.allow_env:
            text += f" ({present[0]} is set, but [secrets] allow_env is false)"
        elif self._settings.allow_env:
            text += f" (or set {' / '.join(variables)})"
        return text


def _token_file(env: Mapping[str, str]) -> str | None:
    """The token `vault login` / `bao login` saved, under the given environment's HOME."""
    home = env.get("HOME")
    if not home:
        return None
    try:
        return (Path(home) / ".vault-token").read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _credentials(data: Mapping[str, Any], provider: str, target: _Target) -> ProviderCredentials:
    fields = dict(data)
    if isinstance(fields.get("headers"), str):  # `vault kv put ... headers='{"X": "y"}'`
        try:
            fields["headers"] = json.loads(fields["headers"])
        except ValueError:
            raise SecretError(
                f"the secret at {target.where(provider)} has a 'headers' field that is not a JSON object"
            ) from None
    for name in ("api_key", *_AWS_FIELDS):
        if isinstance(fields.get(name), str):
            fields[name] = fields[name].strip() or None
    try:
        creds = msgspec.convert(fields, ProviderCredentials)
    except msgspec.ValidationError as exc:
        # msgspec names the field and the expected type, never the value.
        raise SecretError(f"the secret at {target.where(provider)} is malformed: {exc}") from None
    usable = creds.api_key or (
        provider == "bedrock" and creds.aws_access_key_id and creds.aws_secret_access_key
    )
    if not usable:
        field_name = "aws_access_key_id/aws_secret_access_key" if provider == "bedrock" else "api_key"
        raise SecretError(
            f"the secret at {target.where(provider)} has no {field_name} field; "
            f"store it with: {target.put_hint(provider)}"
        )
    return creds


def _vault_read(target: _Target, provider: str) -> dict[str, Any] | None:
    """Read one KV v2 secret (blocking; runs in a worker thread). None: no such secret."""
    import hvac  # deferred: keeps hvac out of an idle daemon
    import requests
    from hvac import exceptions as hx

    where = target.where(provider)
    addr = f"VAULT_ADDR={target.addr}"
    client = hvac.Client(
        url=target.addr,
        token=target.token or "",
        namespace=target.namespace,
        verify=target.verify,
        timeout=_VAULT_TIMEOUT,
    )
    try:
        response = client.secrets.kv.v2.read_secret_version(
            path=f"{target.path.strip('/')}/{provider}",
            mount_point=target.mount.strip("/"),
            raise_on_deleted_version=True,
        )
    except hx.InvalidPath:
        return None
    except (hx.Forbidden, hx.Unauthorized) as exc:
        raise SecretError(
            f"Vault at {addr} refused the token in VAULT_TOKEN for {where} "
            f"(expired, wrong server, or no policy for this path)"
        ) from exc
    except hx.VaultError as exc:
        raise SecretError(f"Vault at {addr} failed reading {where}: {type(exc).__name__}") from exc
    except requests.exceptions.RequestException as exc:
        raise SecretError(f"cannot reach Vault at {addr}: {type(exc).__name__}") from exc
    finally:
        client.adapter.close()
    data = (response or {}).get("data", {}).get("data")
    if not isinstance(data, dict):
        raise SecretError(f"Vault at {addr} returned no data for {where} (is the mount KV v2?)")
    return data
