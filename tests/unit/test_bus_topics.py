"""Properties of the bus's topic grammar, its wildcard matcher and its routing index, and
of envelope decoding on hostile bytes (always an envelope or ``InvalidParams``, never a crash)."""

from __future__ import annotations

import asyncio
import re

import msgspec
import pytest
from codetether.daemon.core.bus import (
    BadTopic,
    InProcessBus,
    agent_events_topic,
    agent_topic,
    check_pattern,
    check_topic,
    matches,
    results_topic,
    swarm_topic,
    task_topic,
    tools_topic,
)
from codetether.daemon.errors import InvalidParams
from codetether.daemon.wire.bus import (
    BusEnvelope,
    Heartbeat,
    SharedResult,
    TaskUpdate,
    decode_envelope,
    encode_envelope,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TOKENS = st.sampled_from(["a", "b", "task", "t1", "x-y", "agent", "events"])
TOPICS = st.lists(TOKENS, min_size=1, max_size=5).map(".".join)


@st.composite
def patterns(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.one_of(TOKENS, st.just("*")), min_size=1, max_size=5))
    if draw(st.booleans()):
        parts = [*parts[:-1], ">"] if draw(st.booleans()) else [*parts, ">"]
    return ".".join(parts)


def reference(pattern: str, topic: str) -> bool:
    """NATS semantics, written independently: as a regular expression."""
    parts = pattern.split(".")
    rx = r"\.".join(r"[^.]+" if p == "*" else r"[^.]+(\.[^.]+)*" if p == ">" else re.escape(p) for p in parts)
    return re.fullmatch(rx, topic) is not None


@given(patterns(), TOPICS)
def test_the_matcher_agrees_with_nats_semantics(pattern: str, topic: str):
    assert matches(pattern, topic) == reference(pattern, topic)


@given(TOPICS)
def test_a_topic_matches_itself_and_the_catch_alls(topic: str):
    assert matches(topic, topic)
    assert matches(">", topic)
    assert matches("*", topic) == ("." not in topic)
    assert matches(topic + ".>", topic) is False  # '>' needs at least one more token


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(patterns(), min_size=1, max_size=8), st.lists(TOPICS, min_size=1, max_size=20))
def test_the_routing_index_delivers_exactly_what_matches(pats: list[str], topics: list[str]):
    async def run() -> None:
        async with InProcessBus(None) as bus:
            subs = [await bus.subscribe(p) for p in pats]
            for i, topic in enumerate(topics):
                await bus.publish(topic, Heartbeat(agent_id="a", active_tasks=i), sender_id="s")
            # unsubscribing one changes routing for the rest of the run
            await subs[0].close()
            await bus.publish(topics[0], Heartbeat(agent_id="a", active_tasks=-1), sender_id="s")
            for pattern, sub in zip(pats, subs, strict=True):
                got = [(e.topic, e.message.active_tasks) for e in list(sub._queue)]  # type: ignore[union-attr]
                want = [(t, i) for i, t in enumerate(topics) if reference(pattern, t)]
                if sub is not subs[0] and reference(pattern, topics[0]):
                    want.append((topics[0], -1))
                assert got == want, pattern

    asyncio.run(run())


@given(st.text(max_size=80))
def test_any_text_is_a_topic_or_a_clear_error(text: str):
    for check in (check_topic, check_pattern):
        try:
            check(text)
        except BadTopic as exc:
            assert str(exc).startswith("bus ")


@given(st.lists(st.from_regex(r"[!-)+-\-/-=?-~]{1,12}", fullmatch=True), min_size=1, max_size=6))
def test_valid_tokens_make_valid_topics(tokens: list[str]):
    topic = ".".join(tokens)
    if tokens[0].startswith("$") or tokens[0] == "_INBOX":
        with pytest.raises(BadTopic, match="reserved"):
            check_topic(topic)
    else:
        assert check_topic(topic) == topic
        assert check_pattern(topic) == tuple(tokens)


HELPERS = [agent_topic, agent_events_topic, task_topic, swarm_topic, results_topic, tools_topic]


@given(st.text(min_size=1, max_size=12), st.text(min_size=1, max_size=12))
def test_name_helpers_take_any_id_and_keep_ids_apart(a: str, b: str):
    for helper in HELPERS:
        ta, tb = helper(a), helper(b)
        assert check_topic(ta) == ta
        assert len(ta.split(".")) == (3 if helper is agent_events_topic else 2)
        assert (ta == tb) == (a == b)


def test_name_helpers_spell_the_documented_topics():
    assert [h("x1") for h in HELPERS] == ["agent.x1", "agent.x1.events", "task.x1", "swarm.x1", "results.x1",
                                          "tools.x1"]
    assert task_topic("a.b c") == "task.a%2Eb%20c"
    assert task_topic("~x") == "task.%7Ex"  # '~' marks a digest, so a raw one is escaped
    long = task_topic("é" * 40)
    assert long.startswith("task.~") and check_topic(long) == long and long != task_topic("é" * 41)
    with pytest.raises(BadTopic, match="non-empty"):
        task_topic("")


# -- envelopes on hostile bytes -------------------------------------------------------------


def _decodes_or_refuses(data: bytes | str) -> None:
    try:
        envelope = decode_envelope(data)
    except InvalidParams as exc:
        assert str(exc).startswith("bad bus envelope")
    else:
        assert isinstance(envelope, BusEnvelope)
        assert decode_envelope(encode_envelope(envelope)) == envelope


@given(st.binary(max_size=300))
def test_random_bytes_never_crash_the_decoder(data: bytes):
    _decodes_or_refuses(data)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=20)

GOOD = msgspec.json.decode(encode_envelope(BusEnvelope(
    id="1", topic="task.t", sender_id="s", timestamp=1.0,
    message=TaskUpdate(task_id="t", state="TASK_STATE_WORKING"))))


@given(st.sampled_from(sorted(GOOD) + ["kind", "state", "task_id"]), JSON)
def test_a_valid_envelope_with_one_field_replaced_decodes_or_is_refused(field: str, value: object):
    doc = dict(GOOD, message=dict(GOOD["message"]))
    if field in doc:
        doc[field] = value
    else:
        doc["message"][field] = value
    _decodes_or_refuses(msgspec.json.encode(doc))


@given(JSON)
def test_any_json_value_decodes_or_is_refused(value: object):
    _decodes_or_refuses(msgspec.json.encode(value))


@pytest.mark.parametrize("depth", [100, 10_000, 200_000])
def test_deep_nesting_is_refused_or_kept_not_a_crash(depth: int):
    value = "[" * depth + "]" * depth
    doc = ('{"id":"1","topic":"results.k","sender_id":"s","timestamp":1,'
           f'"message":{{"kind":"shared_result","key":"k","value":{value}}}}}')
    _decodes_or_refuses(doc.encode())


def test_unknown_kinds_and_missing_fields_say_what_is_wrong():
    with pytest.raises(InvalidParams, match="Invalid value 'nope'"):
        decode_envelope(b'{"id":"1","topic":"t","sender_id":"s","timestamp":1,"message":{"kind":"nope"}}')
    with pytest.raises(InvalidParams, match="missing required field `sender_id`"):
        decode_envelope(b'{"id":"1","topic":"t","timestamp":1,"message":{"kind":"heartbeat","agent_id":"a"}}')
    assert decode_envelope(encode_envelope(BusEnvelope(
        id="1", topic="results.k", sender_id="s", timestamp=2.5, correlation_id="c",
        message=SharedResult(key="k", value={"a": [1, None]})))).message == SharedResult(key="k", value={"a": [1, None]})
