"""Secrets: provider keys from Vault/OpenBao (hvac) and the environment, handed to providers as
:class:`ProviderCredentials`, and the one redactor that keeps every known secret out of
anything written or sent.
"""

from ._auth import (
    AUTH_TOKEN_ENV,
    auth_token,
)
from ._credentials import (
    ProviderCredentials,
)
from ._redact import (
    REDACTED,
    RedactingFilter,
    StreamRedactor,
    redact,
    redact_bytes,
    redact_json,
    redact_value,
    register,
    values,
)
from ._vault import (
    ENV_KEYS,
    SecretStore,
    env_vars_for,
)

__all__ = [
    "AUTH_TOKEN_ENV",
    "ENV_KEYS",
    "ProviderCredentials",
    "REDACTED",
    "RedactingFilter",
    "SecretStore",
    "StreamRedactor",
    "auth_token",
    "env_vars_for",
    "redact",
    "redact_bytes",
    "redact_json",
    "redact_value",
    "register",
    "values",
]
