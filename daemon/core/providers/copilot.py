"""GitHub Copilot: a GitHub token buys a short-lived Copilot token, which then drives an
OpenAI-compatible chat endpoint. Streaming is :class:`OpenAIProvider`'s; only the
request target (URL, token, editor headers) differs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from ... import __version__
from ...errors import ProviderAuthError, ProviderError
from ._http import RetryableError, auth_error, error_for_status, missing_key_error
from .base import CompletionRequest, ProviderCredentials, ProviderEvent
from .openai import OpenAIProvider

__all__ = ["CopilotProvider"]

DEFAULT_GITHUB_API = "https://api.github.com"
DEFAULT_CHAT_BASE = "https://api.githubcopilot.com"
# Refresh a little early so a token never expires between check and use.
_EXPIRY_MARGIN = 60.0


class CopilotProvider(OpenAIProvider):
    """Copilot chat. Settings: ``github_api`` (token exchange base), ``base_url``
    (chat base; otherwise the endpoint the token answer names, else the public one),
    ``integration_id``, ``editor_version``, ``editor_plugin_version``.

    ``_token_lock`` serialises token exchanges so concurrent sessions share one.
    """

    def __init__(
        self,
        name: str,
        creds: ProviderCredentials,
        *,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(name, creds, settings=settings)
        self._github_api = str(self._settings.get("github_api") or DEFAULT_GITHUB_API).rstrip("/")
        self._token: str | None = None
        self._expires_at = 0.0
        self._endpoint: str | None = None
        self._token_lock = asyncio.Lock()

    def _editor_headers(self) -> dict[str, str]:
        # Overridable: Copilot's gateway has been known to tighten which editors it admits.
        return {
            "Editor-Version": str(self._settings.get("editor_version") or f"codetether/{__version__}"),
            "Editor-Plugin-Version": str(self._settings.get("editor_plugin_version") or f"codetether/{__version__}"),
            "User-Agent": f"codetether/{__version__}",
        }

    async def _copilot_token(self) -> str:
        async with self._token_lock:
            if self._token and time.time() < self._expires_at - _EXPIRY_MARGIN:
                return self._token
            if not self._creds.api_key:
                raise missing_key_error(self.name)
            headers = self._editor_headers()
            headers.update({"Authorization": f"token {self._creds.api_key}", "Accept": "application/json"})
            url = f"{self._github_api}/copilot_internal/v2/token"
            response = await self.client.get(url, headers=headers)
            if response.status_code in (401, 403, 404):
                # 404 is GitHub's answer for a token without Copilot access
                raise auth_error(self.name, f"token exchange HTTP {response.status_code}")
            if not response.is_success:
                raise error_for_status(self.name, response.status_code, response.content, response.headers)
            try:
                doc = response.json()
                token = str(doc["token"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ProviderError(f"{self.name}: unexpected token answer") from exc
            self._token = token
            self._expires_at = float(doc.get("expires_at") or time.time() + 600)
            endpoints = doc.get("endpoints")
            self._endpoint = endpoints.get("api") if isinstance(endpoints, dict) else None
            return token

    async def _target(self) -> tuple[str, dict[str, str]]:
        try:
            token = await self._copilot_token()
        except httpx.TransportError as exc:  # the retry loop treats it like a chat failure
            raise RetryableError(f"{self.name}: token exchange failed: {exc}") from exc
        base = self._base_url or (self._endpoint or DEFAULT_CHAT_BASE).rstrip("/")
        headers = self._headers()
        headers.update(self._editor_headers())
        headers.update(
            {
                "Authorization": f"Bearer {token}",
                "Copilot-Integration-Id": str(self._settings.get("integration_id", "vscode-chat")),
                "Openai-Intent": "conversation-panel",
            }
        )
        return f"{base}/chat/completions", headers

    async def _stream_once(self, request: CompletionRequest) -> AsyncIterator[ProviderEvent]:
        try:
            async for event in super()._stream_once(request):
                yield event
        except ProviderAuthError:
            # A revoked Copilot token must not stay cached for its nominal lifetime.
            self.invalidate_token()
            raise

    def invalidate_token(self) -> None:
        """Forget the cached Copilot token (the next request exchanges a new one)."""
        self._token = None
        self._expires_at = 0.0
