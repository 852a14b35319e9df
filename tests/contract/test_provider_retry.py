"""Retry policy and error mapping shared by every HTTP provider (providers/_http.py)."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest
from codetether.daemon.core.providers import CompletionRequest, ProviderCredentials, StreamDone, TextDelta
from codetether.daemon.core.providers._http import (
    HttpProvider,
    RetryableError,
    RetryPolicy,
    error_for_status,
    parse_retry_after,
    vault_path,
    vendor_message,
)
from codetether.daemon.errors import ConfigError, ProviderAuthError, ProviderError
from codetether.daemon.testing import Turn


def test_backoff_is_exponential_with_full_jitter_and_capped():
    policy = RetryPolicy(attempts=6, base_delay=1.0, max_delay=5.0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (5, 5.0)]:
        delays = [policy.delay(attempt) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # jitter spreads over the whole range


def test_retry_after_wins_but_is_capped():
    policy = RetryPolicy(max_retry_after=30.0)
    assert policy.delay(1, retry_after=7.0) == 7.0
    assert policy.delay(1, retry_after=3600.0) == 30.0


def test_policy_from_settings():
    assert RetryPolicy.from_settings({"max_attempts": "2", "retry_base_delay": 0}).attempts == 2
    with pytest.raises(ConfigError):
        RetryPolicy.from_settings({"max_attempts": "many"})


def test_parse_retry_after_forms():
    assert parse_retry_after({"retry-after": "12"}) == 12.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    later = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 <= parse_retry_after({"retry-after": later}) <= 61
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_status_mapping(monkeypatch):
    monkeypatch.setenv("VAULT_MOUNT", "kv")
    monkeypatch.setenv("VAULT_SECRETS_PATH", "/team/providers/")
    auth = error_for_status("zai", 401, b'{"error": {"message": "bad key"}}', {})
    assert isinstance(auth, ProviderAuthError)
    assert "kv/team/providers/zai" in auth.message and "api_key" in auth.message and "bad key" in auth.message
    assert vault_path("zai") == "kv/team/providers/zai"

    limited = error_for_status("zai", 429, b"{}", {"retry-after": "3"})
    assert isinstance(limited, RetryableError) and limited.retry_after == 3.0
    assert isinstance(error_for_status("zai", 529, b"", {}), RetryableError)
    bad = error_for_status("zai", 422, b"unprocessable thing", {})
    assert type(bad) is ProviderError and "unprocessable thing" in bad.message
    assert bad.data == {"provider": "zai", "status": 422}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"error": {"message": "openai style", "type": "x"}}', "openai style"),
        (b'{"type": "error", "error": {"type": "x", "message": "anthropic style"}}', "anthropic style"),
        (b'[{"error": {"code": 400, "message": "gemini style", "status": "X"}}]', "gemini style"),
        (b'{"message": "bedrock style"}', "bedrock style"),
        (b'{"Message": "aws style"}', "aws style"),
        (b'{"error": "bare string"}', "bare string"),
        (b"<html>gateway</html>", "<html>gateway</html>"),
        (b"", "(empty body)"),
    ],
)
def test_vendor_message_shapes(body, message):
    assert vendor_message(body) == message


class _Flaky(HttpProvider):
    """An HTTP provider whose attempts are scripted in-process."""

    def __init__(self, attempts):
        super().__init__("flaky", ProviderCredentials(), settings={"max_attempts": 5, "retry_base_delay": 0})
        self.attempts = list(attempts)
        self.calls = 0

    async def _stream_once(self, request):
        self.calls += 1
        for item in self.attempts.pop(0):
            if isinstance(item, BaseException):
                raise item
            yield item


REQUEST = CompletionRequest(model="m", messages=[])


async def test_failure_after_first_token_is_final():
    provider = _Flaky([[TextDelta("partial"), RetryableError("flaky: HTTP 503: dropped")], [TextDelta("never")]])
    seen = []
    with pytest.raises(ProviderError, match="dropped") as caught:
        async for event in provider.stream(REQUEST):
            seen.append(event)
    assert seen == [TextDelta("partial")]
    assert provider.calls == 1
    assert not isinstance(caught.value, RetryableError)  # the private class never leaks out


async def test_retry_after_reaches_the_backoff(monkeypatch):
    waits = []
    monkeypatch.setattr(RetryPolicy, "delay", lambda self, attempt, retry_after=None: waits.append((attempt, retry_after)) or 0.0)
    provider = _Flaky(
        [
            [RetryableError("x", retry_after=2.5)],
            [httpx.ConnectError("refused")],
            [TextDelta("ok"), StreamDone()],
        ]
    )
    events = [e async for e in provider.stream(REQUEST)]
    assert events == [TextDelta("ok"), StreamDone()]
    assert waits == [(1, 2.5), (2, None)]


async def test_retry_after_header_from_the_server(server, provider_for, collect, monkeypatch):
    waits = []
    monkeypatch.setattr(RetryPolicy, "delay", lambda self, attempt, retry_after=None: waits.append(retry_after) or 0.0)
    server.add(Turn.failure(429, "slow down", retry_after=7), Turn.text("ok"))
    await collect(provider_for("anthropic"), REQUEST)
    assert waits == [7.0]
