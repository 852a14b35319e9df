"""The bearer token every A2A request must carry.

``CODETETHER_AUTH_TOKEN`` when set; otherwise one random token generated on first use
and kept in ``<data>/auth_token`` (0600), shown only by ``codetether auth token``. It
is registered with the redactor as soon as it is read, so it is never logged or sent.
"""

from __future__ import annotations

import os
import secrets as _random
from collections.abc import Mapping
from pathlib import Path

from ...errors import ConfigError
from ._redact import register

__all__ = ["AUTH_TOKEN_ENV", "auth_token"]

AUTH_TOKEN_ENV = "CODETETHER_AUTH_TOKEN"
_MIN_LENGTH = 16


def auth_token(data_dir: Path, env: Mapping[str, str] | None = None) -> str:
    """The token (from the environment, the file, or newly made); never empty."""
    source = os.environ if env is None else env
    token = source.get(AUTH_TOKEN_ENV, "").strip()
    if token:
        if len(token) < _MIN_LENGTH:  # fail closed: a guessable token is no auth at all
            raise ConfigError(f"{AUTH_TOKEN_ENV} must be at least {_MIN_LENGTH} characters")
        register(token)
        return token
    path = data_dir / "auth_token"
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        token = ""
    if len(token) < _MIN_LENGTH:
        token = _random.token_urlsafe(32)
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".auth_token.{os.getpid()}.ct-tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(token + "\n")
        os.replace(tmp, path)  # two daemons racing: one token wins, both read it back
        token = path.read_text().strip()
    os.chmod(path, 0o600)
    register(token)
    return token
