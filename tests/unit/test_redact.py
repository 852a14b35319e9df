"""The one redactor (S4): whole values, JSON-escaped forms, and values split across chunks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import msgspec
import pytest
from codetether.daemon.core.secrets import _redact as r
from codetether.daemon.core.sessions import EventHub
from codetether.daemon.wire.events import Done, TextChunk, ToolCallEnd, ToolCallStart, ToolOutput
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SECRET = "sk-unit-canary-0123456789abcdef"
OTHER = 'quo"te\\canary-secret'


@pytest.fixture(autouse=True)
def secrets() -> Iterator[None]:
    # Restored after each test by the shared fixture in tests/conftest.py.
    r.register(SECRET, OTHER, None, "short")
    yield


def test_whole_values_bytes_and_structures():
    assert r.redact(f"a {SECRET} b") == "a [REDACTED] b"
    assert r.redact("short stays") == "short stays"  # too short to be worth redacting
    encoded = msgspec.json.encode({"k": f"x{OTHER}y"})  # JSON-escaped form in the bytes
    assert OTHER.encode() not in r.redact_bytes(encoded)
    assert b'"x[REDACTED]y"' in r.redact_bytes(encoded)
    value = {"todos": [{"content": f"rotate {SECRET}"}], "n": 3}
    assert r.redact_value(value) == {"todos": [{"content": "rotate [REDACTED]"}], "n": 3}
    untouched = {"a": ["b"]}
    assert r.redact_value(untouched) is untouched
    event = ToolCallEnd(call_id="c", name="bash", output=f"out {SECRET}")
    assert r.redact_value(event).output == "out [REDACTED]"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=st.text(max_size=40), suffix=st.text(max_size=40),
       cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=12),
       which=st.sampled_from([SECRET, OTHER]))
def test_a_secret_split_across_chunks_never_passes(prefix, suffix, cuts, which):
    text = prefix + which + suffix + which
    points = sorted({min(c, len(text)) for c in cuts})
    chunks = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    stream = r.StreamRedactor()
    out = "".join(stream.feed(c) for c in chunks) + stream.flush()
    assert out == r.redact(text)
    assert which not in out


def test_the_stream_holds_back_only_a_possible_start_of_a_secret():
    stream = r.StreamRedactor()
    assert stream.feed("hello wor") == "hello wor"  # nothing held: no secret starts with "r"
    assert stream.feed("ld sk-un") == "ld "  # "sk-un" might be the start of the key
    assert stream.feed("related") == "sk-unrelated"
    assert stream.flush() == ""


async def test_hub_redacts_split_text_for_subscribers_and_the_recorder():
    hub = EventHub()
    recorded = []
    hub.on_publish = lambda seq, event: recorded.append(event)
    sub = hub.subscribe("block")
    half = len(SECRET) // 2
    await hub.publish(TextChunk(text=f"key {SECRET[:half]}"))
    await hub.publish(TextChunk(text=f"{SECRET[half:]} end"))
    await hub.publish(ToolOutput(call_id="c1", text=SECRET[:5]))
    hub.publish_nowait(Done(stop_reason="end_turn", steps=1, text=f"key {SECRET} end"))
    got = []
    while not sub.queue.empty():
        got.append(sub.queue.get_nowait()[1])
    assert got == recorded
    text = "".join(e.text for e in got if isinstance(e, TextChunk))
    assert text == "key [REDACTED] end"
    assert got[-2] == ToolOutput(call_id="c1", text=SECRET[:5])  # released before Done
    assert got[-1].text == "key [REDACTED] end"
    assert all(SECRET not in msgspec.json.encode(e).decode() for e in got)
    await asyncio.sleep(0)


def test_log_records_and_their_tracebacks_are_redacted():
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed with %s", (SECRET,), None)
    try:
        raise ValueError(f"bad key {SECRET}")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    assert r.RedactingFilter().filter(record)
    rendered = logging.Formatter().format(record)
    assert SECRET not in rendered and rendered.count("[REDACTED]") == 2


@pytest.mark.parametrize("secret", ["sk-abcdefgh\\", "nabcdefghij", 'ab"cdefghij', "tokén-ünïcode-1"])
def test_redacted_json_stays_valid_json(secret):
    # A raw-form match could cut an escape sequence ("...\\" before a quote, "\\n" + a
    # secret starting with "n"); the result must always decode, with the secret gone.
    r.register(secret)
    event = ToolCallStart(call_id="c", name="bash", arguments=f'echo "{secret}" done\n{secret}')
    cleaned = r.redact_value(event)
    assert secret not in cleaned.arguments and "[REDACTED]" in cleaned.arguments
    line = r.redact_json(msgspec.json.encode({"text": f"x\n{secret}\\{secret}"}))
    assert secret not in msgspec.json.decode(line)["text"]
