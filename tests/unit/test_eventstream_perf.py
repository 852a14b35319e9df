"""Timing of random reads in a 1,000,000-event stream (printed, not asserted)."""

from __future__ import annotations

import random
import statistics
import struct
import time
from pathlib import Path

import msgspec
import pytest
from codetether.daemon.core.eventstream import EventStream

N = 1_000_000


def _build(folder: Path, n: int) -> None:
    """Write the log and index directly, in the stream's own format (much faster than append)."""
    folder.mkdir(parents=True)
    encoder = msgspec.json.Encoder()
    offsets = bytearray()
    pos = 0
    with (folder / "events.jsonl").open("wb", buffering=1 << 22) as log:
        for seq in range(n):
            line = (
                encoder.encode(
                    {
                        "seq": seq,
                        "ts": 1.0e9 + seq,
                        "session_id": "perf",
                        "kind": "text",
                        "data": {"text": "chunk %d of the reply" % seq},
                    }
                )
                + b"\n"
            )
            log.write(line)
            offsets += struct.pack("<Q", pos)
            pos += len(line)
    (folder / "events.idx").write_bytes(offsets)


def test_random_read_timing_in_a_million_event_stream(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    t0 = time.perf_counter()
    _build(tmp_path / "perf", N)
    built = time.perf_counter() - t0
    t0 = time.perf_counter()
    stream = EventStream(tmp_path, "perf")
    opened = time.perf_counter() - t0
    with stream:
        assert len(stream) == N
        rng = random.Random(1)
        samples = []
        for _ in range(20_000):
            seq = rng.randrange(N)
            t = time.perf_counter_ns()
            record = stream.read(seq)
            samples.append((time.perf_counter_ns() - t) / 1000)
            assert record.seq == seq
        t0 = time.perf_counter()
        replayed = sum(1 for _ in stream.replay(N - 100_000))
        replay_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i in range(20_000):
            stream.append("text", {"text": "x"})
        append_us = (time.perf_counter() - t0) / 20_000 * 1e6
    samples.sort()
    with capsys.disabled():
        print(
            f"\n[eventstream] {N:,} events built in {built:.1f}s, opened in {opened * 1000:.2f} ms; "
            f"random read mean {statistics.fmean(samples):.1f} us, p50 {samples[len(samples) // 2]:.1f} us, "
            f"p99 {samples[int(len(samples) * 0.99)]:.1f} us; "
            f"replay {replayed / replay_s / 1000:.0f}k events/s; append {append_us:.1f} us"
        )
