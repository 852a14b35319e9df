"""The ``--kr`` flag parser and the ``okr.json`` loader of ``codetether okr create``:
good input parses to what ``okr/create`` accepts, and hostile input is an
OkrInputError with a message, never a crash (hypothesis)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from codetether.daemon.cli.okr import OkrInputError, load_okr_file, parse_kr
from codetether.daemon.wire.okr import CommandEvidence, OkrCreateParams, check_key_result
from hypothesis import given, settings
from hypothesis import strategies as st


def test_a_kr_flag_parses() -> None:
    assert parse_kr("docs written:5:files:count:file=docs/*.md") == {
        "title": "docs written", "target_value": 5.0, "unit": "files", "metric_type": "count",
        "evidence": {"kind": "file", "path": "docs/*.md"}}
    # colons in the title and the value; an empty target, unit and metric take defaults
    kr = parse_kr("api: up:::binary:url=http://127.0.0.1:8080/health")
    assert kr["title"] == "api: up" and kr["target_value"] == 1.0 and kr["unit"] == ""
    assert kr["evidence"] == {"kind": "url", "url": "http://127.0.0.1:8080/health"}
    assert parse_kr("green:1::quality:tests=pytest -q -k 'a or b'")["evidence"] == {
        "kind": "tests", "command": "pytest -q -k 'a or b'"}
    assert parse_kr("ok::::question=Is it good?")["metric_type"] == "binary"
    assert parse_kr("lat:200:ms:latency:command=curl -s x")["evidence"]["command"] == "curl -s x"


@pytest.mark.parametrize("spec, message", [
    ("just a title", "expected"),
    ("t:5:files:count", "expected"),
    ("t:five:files:count:file=x", "not a number"),
    ("t:-1:files:count:file=x", ">= 0"),
    ("t:nan:files:count:file=x", "finite"),
    ("t:inf::count:file=x", "finite"),
    ("t:1::speedy:file=x", "metric 'speedy'"),
    ("t:1::count:magic=x", "expected"),
    ("t:1::count:file=", "empty"),
    ("t:1::count:file=../up", "inside the workspace"),
    ("t:1::count:url=ftp://x", "http"),
    (" :1::count:file=x", "title"),
])
def test_bad_kr_flags_say_why(spec: str, message: str) -> None:
    with pytest.raises(OkrInputError, match=message):
        parse_kr(spec)


def test_an_okr_file_loads() -> None:
    text = json.dumps({"title": "T", "owner": "o", "tags": ["a"], "target_date": "2027-01-31", "key_results": [
        {"title": "k", "metric_type": "count", "target_value": 3,
         "evidence": {"kind": "command", "command": "wc -l x", "value_regex": "(\\d+)"}}]})
    params = load_okr_file(text)
    evidence = msgspec.convert(params, OkrCreateParams).key_results[0].evidence
    assert isinstance(evidence, CommandEvidence) and evidence.value_regex == "(\\d+)"


@pytest.mark.parametrize("text, message", [
    ("", "not JSON"), ("{", "not JSON"), ("[1, 2]", "one object"), ('"x"', "one object"),
    ('{"title": 5}', "Expected `str`"), ('{"title": "t", "extra": 1}', "extra"),
    ('{"title": "t", "key_results": [{"title": "k", "evidence": {"kind": "nope"}}]}', "kind"),
    ('{"title": "t", "key_results": [{"title": "k", "evidence": {"kind": "file", "path": "/etc"}}]}', "workspace"),
    ('{"title": "t", "target_date": "soon"}', "YYYY-MM-DD"),
    ('{"title": "t", "status": "weird"}', "status"),
    ("[" * 100_000, "not JSON"),
    (b"\xff\xfe\x00garbage", "not JSON"),
])
def test_bad_okr_files_say_why(text: str | bytes, message: str) -> None:
    with pytest.raises(OkrInputError, match=message):
        load_okr_file(text)


def _accepted(params: dict[str, Any]) -> None:
    """What the loader accepts the daemon accepts too."""
    parsed = msgspec.convert(params, OkrCreateParams)
    assert all(check_key_result(kr) is None for kr in parsed.key_results)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_kr_flag_parses_or_says_why(spec: str) -> None:
    try:
        kr = parse_kr(spec)
    except OkrInputError as exc:
        assert str(exc)
    else:
        _accepted({"title": "t", "key_results": [kr]})


_SPEC = st.tuples(st.text(min_size=1, max_size=20), st.sampled_from(["", "0", "1", "2.5", "1e3", "-1", "x"]),
                  st.text(max_size=5), st.sampled_from(["", "binary", "count", "quality", "latency", "progress", "?"]),
                  st.sampled_from(["command", "tests", "file", "url", "question", "zz"]), st.text(max_size=30))


@settings(max_examples=300, deadline=None)
@given(_SPEC)
def test_near_miss_kr_flags_parse_or_say_why(parts: tuple[str, ...]) -> None:
    title, target, unit, metric, kind, value = parts
    try:
        kr = parse_kr(f"{title}:{target}:{unit}:{metric}:{kind}={value}")
    except OkrInputError as exc:
        assert str(exc)
    else:
        _accepted({"title": "t", "key_results": [kr]})


_JSON = st.recursive(st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=10),
                     lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
                     max_leaves=20)
_EVIDENCE = st.fixed_dictionaries({"kind": st.sampled_from(["command", "tests", "file", "url", "question", "x"])},
                                  optional={"command": _JSON, "path": _JSON, "url": _JSON, "question": _JSON,
                                            "timeout": _JSON, "value_regex": _JSON})
_KRS = st.lists(st.fixed_dictionaries({"title": st.text(max_size=10), "evidence": _EVIDENCE},
                                      optional={"target_value": _JSON, "metric_type": _JSON, "unit": _JSON}),
                max_size=3)
_OKRS = st.fixed_dictionaries({"title": st.text(max_size=10)},
                              optional={"key_results": _KRS, "target_date": _JSON, "tags": _JSON, "owner": _JSON})


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=100), st.text(max_size=100), _JSON.map(json.dumps), _OKRS.map(json.dumps)))
def test_any_okr_file_loads_or_says_why(text: str | bytes) -> None:
    try:
        params = load_okr_file(text)
    except OkrInputError as exc:
        assert str(exc)
    else:
        _accepted(params)
