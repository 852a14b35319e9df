"""Shared HTTP plumbing of the vendor providers: client creation, retries, error mapping.

Every HTTP provider subclasses :class:`HttpProvider` and implements one attempt
(``_stream_once``); retries and the mapping of vendor failures onto our error tree
live here, once::

    vendor outcome                          raised to the agent loop
    401, 403                                ProviderAuthError (names the key's Vault path)
    408, 409, 425, 429, 5xx, 529            retried with backoff, then ProviderError
    httpx.TransportError (connect, reset)   retried with backoff, then ProviderError
    other 4xx                               ProviderError carrying the vendor's message
    malformed stream                        ProviderError

Retries happen only while nothing has been yielded: once a token reached the agent
loop, replaying the turn would duplicate output, so a later failure is final.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import random
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
import msgspec
from httpx_sse import EventSource, SSEError, aconnect_sse

from ...errors import ConfigError, ProviderAuthError, ProviderError, SecretError
from ._known import provider_info
from .base import CompletionRequest, ModelInfo, ProviderCredentials, ProviderEvent

__all__ = [
    "HttpProvider",
    "RetryPolicy",
    "RetryableError",
    "auth_error",
    "decode_json",
    "error_for_status",
    "make_client",
    "missing_key_error",
    "parse_retry_after",
    "vault_path",
]

_RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})


class RetryPolicy(msgspec.Struct, frozen=True):
    """Bounded exponential backoff with full jitter.

    ``attempts`` counts the first try. A vendor's Retry-After wins over the computed
    delay, capped by ``max_retry_after`` so a hostile header cannot park a session.
    """

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_retry_after: float = 60.0

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> RetryPolicy:
        default = cls()
        try:
            return cls(
                attempts=max(1, int(settings.get("max_attempts", default.attempts))),
                base_delay=float(settings.get("retry_base_delay", default.base_delay)),
                max_delay=float(settings.get("retry_max_delay", default.max_delay)),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"invalid retry settings: {exc}") from exc

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        if retry_after is not None:
            return max(0.0, min(retry_after, self.max_retry_after))
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return random.uniform(0.0, ceiling)  # full jitter: spreads a thundering herd


class RetryableError(ProviderError):
    """A failure worth another attempt (rate limit, overload, 5xx, dropped connection)."""

    def __init__(self, message: str, *, retry_after: float | None = None, data: Any = None) -> None:
        super().__init__(message, data=data)
        self.retry_after = retry_after


def vault_path(provider: str) -> str:
    """Where the key of ``provider`` lives, honouring the Vault layout variables."""
    mount = os.environ.get("VAULT_MOUNT", "secret").strip("/")
    prefix = os.environ.get("VAULT_SECRETS_PATH", "codetether/providers").strip("/")
    return f"{mount}/{prefix}/{provider}"


def _where(provider: str, fields: str) -> str:
    return f"store it in Vault at {vault_path(provider)} (field {fields})"


def auth_error(provider: str, detail: str, *, fields: str = "api_key") -> ProviderAuthError:
    """The vendor rejected our key; the message tells the user where the key belongs."""
    return ProviderAuthError(
        f"{provider} rejected the credentials ({detail}); {_where(provider, fields)}",
        data={"provider": provider, "vault_path": vault_path(provider)},
    )


def missing_key_error(provider: str, *, fields: str = "api_key") -> SecretError:
    return SecretError(
        f"no credentials for provider {provider!r}: {_where(provider, fields)}",
        data={"provider": provider, "vault_path": vault_path(provider)},
    )


def vendor_message(body: bytes) -> str:
    """The human message out of a vendor error body (all vendors nest it differently)."""
    text = body.decode("utf-8", "replace").strip()
    try:
        doc = json.loads(text)
    except ValueError:
        return text[:500] or "(empty body)"
    if isinstance(doc, list) and doc:  # Gemini sometimes wraps the error in a list
        doc = doc[0]
    if isinstance(doc, dict):
        err = doc.get("error", doc)
        if isinstance(err, dict):
            for key in ("message", "Message", "detail"):
                if isinstance(err.get(key), str):
                    return str(err[key])
        elif isinstance(err, str):
            return err
    return text[:500]


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Retry-After as seconds: delta-seconds, an HTTP date, or OpenAI's ``retry-after-ms``."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return float(millis) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_for_status(
    provider: str,
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    *,
    fields: str = "api_key",
) -> ProviderError:
    """Map a vendor's non-2xx answer onto our error tree."""
    message = vendor_message(body)
    if status in (401, 403):
        return auth_error(provider, f"HTTP {status}: {message}", fields=fields)
    data = {"provider": provider, "status": status}
    if status in _RETRYABLE_STATUS or status >= 500:
        return RetryableError(
            f"{provider}: HTTP {status}: {message}",
            retry_after=parse_retry_after(headers),
            data=data,
        )
    return ProviderError(f"{provider}: HTTP {status}: {message}", data=data)


def decode_json(provider: str, data: str | bytes) -> Any:
    """Decode one streamed JSON document, mapping garbage to ProviderError."""
    try:
        return json.loads(data)
    except ValueError as exc:
        raise ProviderError(f"{provider}: malformed stream event: {str(data)[:200]!r}") from exc


def make_client(settings: Mapping[str, Any]) -> httpx.AsyncClient:
    """One client per provider instance. Reads may pause long while a model thinks."""
    timeout = httpx.Timeout(
        connect=float(settings.get("connect_timeout", 15.0)),
        read=float(settings.get("read_timeout", 300.0)),
        write=30.0,
        pool=30.0,
    )
    return httpx.AsyncClient(timeout=timeout, follow_redirects=False)


class HttpProvider:
    """Base of the HTTP providers: one lazily created ``httpx.AsyncClient``, the retry
    loop and the lifecycle (``aclose`` is final; use after close is a ProviderError).

    Common settings: ``max_attempts``, ``retry_base_delay``, ``retry_max_delay``,
    ``connect_timeout``, ``read_timeout``, ``headers``, ``model``.

    Subclasses implement ``_stream_once`` (one attempt, raising :class:`RetryableError`
    for failures worth retrying) and may override ``default_model``.
    """

    def __init__(
        self,
        name: str,
        creds: ProviderCredentials,
        *,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self._creds = creds
        self._settings: Mapping[str, Any] = dict(settings or {})
        self._policy = RetryPolicy.from_settings(self._settings)
        self._client: httpx.AsyncClient | None = None
        self._closed = False
        # The endpoint: the Vault secret's base_url, then the config's, then the default.
        base = creds.base_url or self._settings.get("base_url") or self._default_base_url()
        self._base_url: str | None = str(base).rstrip("/") if base else None

    def _default_base_url(self) -> str | None:
        """The vendor's public endpoint; subclasses say which."""
        return None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._closed:
            raise ProviderError(f"provider {self.name!r} is closed")
        if self._client is None:
            self._client = make_client(self._settings)
        return self._client

    def _headers(self) -> dict[str, str]:
        """Extra headers configured in the secret (proxies, gateways), then the settings."""
        extra = dict(self._creds.headers)
        extra.update({str(k): str(v) for k, v in dict(self._settings.get("headers", {})).items()})
        return extra

    async def stream(self, request: CompletionRequest) -> AsyncIterator[ProviderEvent]:
        """Stream one model turn, retrying transient failures before the first event."""
        attempt = 0
        while True:
            attempt += 1
            streamed = False
            retry_after: float | None = None
            try:
                async for event in self._stream_once(request):
                    streamed = True
                    yield event
                return
            except RetryableError as exc:
                if streamed or attempt >= self._policy.attempts:
                    raise ProviderError(_gave_up(exc.message, attempt), data=exc.data) from exc
                retry_after = exc.retry_after
            except SSEError as exc:  # a 200 that is not an event stream: retrying won't help
                raise ProviderError(f"{self.name}: {exc}") from exc
            except httpx.TransportError as exc:
                message = f"{self.name}: {_transport_failure(exc)}"
                if streamed or attempt >= self._policy.attempts:
                    raise ProviderError(_gave_up(message, attempt)) from exc
            except httpx.HTTPError as exc:
                raise ProviderError(f"{self.name}: {type(exc).__name__}: {exc}") from exc
            await asyncio.sleep(self._policy.delay(attempt, retry_after))

    def _stream_once(self, request: CompletionRequest) -> AsyncIterator[ProviderEvent]:
        raise NotImplementedError

    @asynccontextmanager
    async def _open_sse(
        self, url: str, body: dict[str, Any], headers: dict[str, str]
    ) -> AsyncIterator[EventSource]:
        """POST ``body`` and hand back the event source once the status is known good."""
        async with aconnect_sse(self.client, "POST", url, json=body, headers=headers) as source:
            await self._raise_for_status(source.response)
            yield source

    async def _raise_for_status(self, response: httpx.Response, *, fields: str = "api_key") -> None:
        if response.is_success:
            return
        body = await response.aread()
        raise error_for_status(self.name, response.status_code, body, response.headers, fields=fields)

    async def list_models(self) -> list[ModelInfo]:
        """The static model table of this provider, plus a configured default model."""
        known = provider_info(self.name)
        # the table is keyed by canonical name; report the name this instance answers to
        models = [msgspec.structs.replace(m, provider=self.name) for m in (known.models if known else ())]
        configured = self._settings.get("model")
        if configured and all(m.id != configured for m in models):
            models.append(ModelInfo(provider=self.name, id=str(configured)))
        return models

    async def aclose(self) -> None:
        self._closed = True
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def __aenter__(self) -> HttpProvider:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _transport_failure(exc: httpx.TransportError) -> str:
    """What failed and where (C9): the URL without its query, which may carry a key."""
    try:
        url = exc.request.url.copy_with(query=None, fragment=None)
        where = f" {url}"
    except RuntimeError:  # an error raised before a request was attached
        where = ""
    what = "cannot connect to" if isinstance(exc, httpx.ConnectError) else "connection failed to"
    detail = str(exc) or type(exc).__name__
    return f"{what}{where or ' the server'}: {detail}"


def _gave_up(message: str, attempt: int) -> str:
    return f"{message} (gave up after {attempt} attempt{'s' if attempt > 1 else ''})"
