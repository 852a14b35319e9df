"""Bedrock Converse stream: SigV4 signing (verified by recomputing it), the request
shape, and the binary event stream (our test encoder checked by botocore's decoder)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("botocore", reason="botocore is the optional [bedrock] extra: pip install 'codetether[bedrock]'")

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer
from codetether.daemon.core.providers import CompletionRequest, ProviderCredentials, ToolSpec, create_provider
from codetether.daemon.core.providers._http import RetryableError
from codetether.daemon.core.providers.bedrock import _StreamState
from codetether.daemon.errors import ProviderError
from codetether.daemon.testing import Turn
from codetether.daemon.testing._render import encode_event_frame
from codetether.daemon.wire.messages import Message, ToolCall

MODEL = "us.anthropic.claude-sonnet-4-20250514-v1:0"
SCHEMA = {"type": "object", "properties": {"path": {"type": "string"}}}
CONVERSATION = CompletionRequest(
    model=MODEL,
    system="You are terse.",
    messages=[
        Message(role="user", content="read a"),
        Message(role="assistant", content="", tool_calls=[ToolCall(id="tu_1", name="read_file", arguments='{"path": "a"}')]),
        Message(role="tool", tool_call_id="tu_1", name="read_file", content="", is_error=True),
        Message(role="user", content="thanks"),
    ],
    tools=[ToolSpec("read_file", "Read a file", SCHEMA)],
    max_tokens=99,
    temperature=0.1,
)


def _verify_sigv4(sent, base_url: str, key_id: str, secret: str, token: str | None, region: str) -> dict[str, str]:
    scheme, _, rest = sent.headers["authorization"].partition(" ")
    assert scheme == "AWS4-HMAC-SHA256"
    fields = dict(part.split("=", 1) for part in rest.split(", "))
    names = fields["SignedHeaders"].split(";")
    assert {"host", "x-amz-date", "content-type"} <= set(names)
    # Rebuild the request from what actually went over the wire and sign it again.
    request = AWSRequest(
        method="POST",
        url=base_url + sent.raw_path,
        data=sent.raw,
        headers={n: sent.headers[n] for n in names if n != "host"},
    )
    request.context["timestamp"] = sent.headers["x-amz-date"]
    signer = SigV4Auth(Credentials(key_id, secret, token), "bedrock", region)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    assert fields["Signature"] == expected
    return fields


async def test_request_is_sigv4_signed_and_shaped(server, provider_for, collect):
    server.add(Turn.text("ok"))
    await collect(provider_for("bedrock"), CONVERSATION)
    (sent,) = server.requests_for("bedrock")

    # the model id is one path segment, its colon percent-encoded
    assert sent.raw_path == "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse-stream"
    fields = _verify_sigv4(sent, server.base_url, "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", None, "eu-west-1")
    assert fields["Credential"].startswith("AKIDEXAMPLE/") and fields["Credential"].endswith("/eu-west-1/bedrock/aws4_request")
    assert sent.body == {
        "messages": [
            {"role": "user", "content": [{"text": "read a"}]},
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "tu_1", "name": "read_file", "input": {"path": "a"}}}]},
            {
                "role": "user",
                "content": [
                    {"toolResult": {"toolUseId": "tu_1", "content": [{"text": "(empty)"}], "status": "error"}},
                    {"text": "thanks"},
                ],
            },
        ],
        "inferenceConfig": {"maxTokens": 99, "temperature": 0.1},
        "system": [{"text": "You are terse."}],
        "toolConfig": {
            "tools": [{"toolSpec": {"name": "read_file", "description": "Read a file", "inputSchema": {"json": SCHEMA}}}]
        },
    }


async def test_session_token_is_signed(server, collect):
    server.add(Turn.text("ok"))
    creds = ProviderCredentials(
        base_url=server.base_url, aws_access_key_id="ASIA1", aws_secret_access_key="s3cr3t",
        aws_session_token="tok//en", region="us-west-2",
    )
    provider = create_provider("bedrock", creds)
    await collect(provider, CompletionRequest(model="amazon.nova-pro-v1:0", messages=[Message(role="user", content="x")]))
    await provider.aclose()
    sent = server.requests[0]
    assert sent.headers["x-amz-security-token"] == "tok//en"
    fields = _verify_sigv4(sent, server.base_url, "ASIA1", "s3cr3t", "tok//en", "us-west-2")
    assert "x-amz-security-token" in fields["SignedHeaders"].split(";")


async def test_bedrock_api_key_is_a_bearer_token(server, collect):
    server.add(Turn.text("ok"))
    provider = create_provider("bedrock", ProviderCredentials(base_url=server.base_url, api_key="ABSK-key"))
    await collect(provider, CompletionRequest(model="m", messages=[Message(role="user", content="x")]))
    await provider.aclose()
    assert server.requests[0].headers["authorization"] == "Bearer ABSK-key"


def test_default_endpoint_uses_the_region():
    provider = create_provider("bedrock", ProviderCredentials(aws_access_key_id="a", aws_secret_access_key="b", region="ap-south-1"))
    assert provider._base_url == "https://bedrock-runtime.ap-south-1.amazonaws.com"


def test_event_frames_decode_with_botocore():
    frames = [
        ({":event-type": "messageStart", ":content-type": "application/json", ":message-type": "event"}, b'{"role":"assistant"}'),
        ({":event-type": "contentBlockDelta", ":message-type": "event"}, json.dumps({"delta": {"text": "ü" * 300}}).encode()),
        ({":message-type": "exception", ":exception-type": "throttlingException"}, b""),
    ]
    stream = b"".join(encode_event_frame(h, p) for h, p in frames)
    buffer = EventStreamBuffer()
    decoded = []
    for i in range(len(stream)):  # byte by byte: frames straddling reads
        buffer.add_data(stream[i : i + 1])
        decoded.extend((m.headers, m.payload) for m in buffer)
    assert decoded == frames

    corrupt = bytearray(encode_event_frame(*frames[0]))
    corrupt[-6] ^= 0xFF
    buffer = EventStreamBuffer()
    buffer.add_data(bytes(corrupt))
    with pytest.raises(ChecksumMismatch):
        list(buffer)


def test_stream_exceptions_map_to_retryable_or_final(provider_for):
    provider = provider_for("bedrock")
    throttled = {":message-type": "exception", ":exception-type": "throttlingException"}
    with pytest.raises(RetryableError, match="throttlingException: slow down"):
        provider._on_message(throttled, b'{"message": "slow down"}', _StreamState())
    invalid = {":message-type": "exception", ":exception-type": "validationException"}
    with pytest.raises(ProviderError, match="validationException") as caught:
        provider._on_message(invalid, b'{"message": "bad"}', _StreamState())
    assert not isinstance(caught.value, RetryableError)
