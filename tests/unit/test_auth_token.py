"""The A2A bearer token: from the environment, else made once and kept private."""

from __future__ import annotations

from pathlib import Path

import pytest
from codetether.daemon.core.secrets import AUTH_TOKEN_ENV, auth_token, redact
from codetether.daemon.errors import ConfigError


def test_a_token_is_made_once_kept_0600_and_redacted(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = auth_token(data, env={})
    assert len(first) >= 32 and auth_token(data, env={}) == first
    assert (data / "auth_token").stat().st_mode & 0o777 == 0o600
    assert data.stat().st_mode & 0o777 == 0o700
    assert first not in redact(f"Authorization: Bearer {first}")
    assert not list(data.glob("*.ct-tmp"))


def test_the_environment_wins_and_a_short_one_is_refused(tmp_path: Path) -> None:
    assert auth_token(tmp_path, env={AUTH_TOKEN_ENV: "x" * 20}) == "x" * 20
    assert not (tmp_path / "auth_token").exists()
    with pytest.raises(ConfigError, match="at least 16"):
        auth_token(tmp_path, env={AUTH_TOKEN_ENV: "short"})


def test_an_emptied_token_file_gets_a_new_token(tmp_path: Path) -> None:
    (tmp_path / "auth_token").write_text("\n")
    assert len(auth_token(tmp_path, env={})) >= 32
