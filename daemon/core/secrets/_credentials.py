"""What the secret store hands a provider: the fields of one provider's secret."""

from __future__ import annotations

import msgspec

__all__ = ["ProviderCredentials"]


class ProviderCredentials(msgspec.Struct, frozen=True):
    """What Vault (or, when allowed, the environment) holds for one provider:
    the fields of ``secret/codetether/providers/<provider>``. Never logged."""

    api_key: str | None = None
    base_url: str | None = None
    organization: str | None = None
    headers: dict[str, str] = {}
    # Bedrock: AWS credentials and region in the same secret.
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None
    region: str | None = None

    def __repr__(self) -> str:  # keep keys out of logs and tracebacks
        return f"ProviderCredentials(base_url={self.base_url!r}, api_key={'***' if self.api_key else None})"
