"""The language server's frame reader on bad input (R6), without a server."""

from __future__ import annotations

import pytest
from codetether.daemon.errors import Conflict, NotFound
from codetether.lsp.framing import MAX_MESSAGE, FrameError, FrameReader
from codetether.lsp.stdio import to_rpc_error

BODY = b'{"jsonrpc":"2.0","id":1,"method":"probe"}'


def frame(body: bytes = BODY) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def feed_all(data: bytes, *, bytewise: bool = False) -> list:
    reader = FrameReader()
    if not bytewise:
        return reader.feed(data)
    out: list = []
    for i in range(len(data)):
        out += reader.feed(data[i:i + 1])
    return out


@pytest.mark.parametrize("bytewise", [False, True])
def test_r6_well_formed_frames_pass_whole_however_they_are_split(bytewise: bool) -> None:
    assert feed_all(frame() + frame(b"{}"), bytewise=bytewise) == [BODY, b"{}"]


def test_r6_a_huge_content_length_is_refused_without_allocating_and_the_next_frame_is_read() -> None:
    out = feed_all(b"Content-Length: 99999999999\r\n\r\n" + b"x" * 100 + frame())
    assert isinstance(out[0], FrameError) and out[0].code == -32600 and "64 MiB" in out[0].message
    assert out[1:] == [BODY]


def test_r6_a_body_over_the_limit_is_skipped_not_kept() -> None:
    reader = FrameReader(max_message=1000)
    big = b'{"a":"' + b"x" * 5000 + b'"}'
    out = reader.feed(frame(big)) + reader.feed(frame())
    assert [type(o) for o in out] == [FrameError, bytes] and out[1] == BODY
    assert len(reader._body) == 0 and len(reader._buf) == 0


def test_r6_too_small_content_length_resynchronises_on_the_next_header() -> None:
    out = feed_all(b"Content-Length: 10\r\n\r\n" + BODY + frame())
    assert out[0] == BODY[:10]  # answered -32700 by the dispatcher
    assert isinstance(out[1], FrameError) and out[2] == BODY


def test_r6_too_large_content_length_is_cut_at_the_next_frame_header() -> None:
    out = feed_all(b"Content-Length: 500\r\n\r\n" + BODY + frame() + frame(b"{}"))
    assert isinstance(out[0], FrameError) and out[0].code == -32700
    assert out[1:] == [BODY, b"{}"]


@pytest.mark.parametrize("bytewise", [False, True])
def test_r6_missing_header_and_garbage_give_one_error_then_recover(bytewise: bool) -> None:
    out = feed_all(b"\r\n\r\n" + BODY + b"\n\nsome garbage\n\n" + frame(), bytewise=bytewise)
    errors = [o for o in out if isinstance(o, FrameError)]
    assert len(errors) == 1 and out[-1] == BODY


def test_r6_lf_only_headers_are_accepted() -> None:
    assert feed_all(b"Content-Length: %d\nContent-Type: x\n\n" % len(BODY) + BODY) == [BODY]


def test_r6_header_without_a_blank_line_is_bounded() -> None:
    reader = FrameReader()
    out = reader.feed(b"Content-Type: " + b"x" * 20000)
    assert len(out) == 1 and isinstance(out[0], FrameError) and len(reader._buf) < 64
    assert reader.feed(frame()) == [BODY]


def test_r6_nonsense_lengths_are_errors() -> None:
    for header in (b"Content-Length: -1", b"Content-Length: 1e3", b"Content-Length: " + b"9" * 5000):
        out = feed_all(header + b"\r\n\r\n" + frame())
        assert isinstance(out[0], FrameError) and out[-1] == BODY, header
    assert MAX_MESSAGE == 64 * 1024 * 1024


def test_r6_errors_reach_the_client_as_plain_messages() -> None:
    err = to_rpc_error(NotFound("no approval 'abc'"))
    assert err.message == "no approval 'abc'" and err.code != -32603 and err.data is None
    assert "codetether" not in to_rpc_error(Conflict("already decided")).message
    assert to_rpc_error(ValueError('"id" must be a string')).code == -32602
    internal = to_rpc_error(RuntimeError("boom"))
    assert internal.code == -32603 and "RuntimeError" not in internal.message and internal.data is None


@pytest.mark.parametrize("extra", range(1, 70))
def test_r6_a_length_that_ends_anywhere_in_the_next_frame_still_finds_it(extra: int) -> None:
    out = feed_all(b"Content-Length: %d\r\n\r\n" % (len(BODY) + extra) + BODY + frame())
    assert isinstance(out[0], FrameError) and out[-1] == BODY, out
