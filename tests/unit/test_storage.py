"""The storage room and the record rooms: public surfaces, and the JSONL log's small parts."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest
from codetether.daemon.core.storage import JsonlLog, pwrite_all

# records.telemetry orders its __all__ constants, classes, functions (its own test checks that).
PACKAGES = [
    "codetether.daemon.core.storage",
    "codetether.daemon.core.records",
    "codetether.daemon.core.records.audit",
    "codetether.daemon.core.records.eventstream",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_each_package_has_a_docstring_and_a_sorted_importable_all(name: str) -> None:
    package = importlib.import_module(name)
    assert package.__doc__ and package.__doc__.strip()
    assert package.__all__ == sorted(package.__all__)
    for public in package.__all__:
        assert getattr(package, public) is not None, public


def test_pwrite_all_writes_every_byte_at_the_offset(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"0123456789")
    fd = os.open(path, os.O_RDWR)
    try:
        pwrite_all(fd, b"ab" * 40_000, 4)
    finally:
        os.close(fd)
    assert path.read_bytes() == b"0123" + b"ab" * 40_000


def test_torn_tail_finds_the_bytes_after_the_last_newline_across_blocks(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"a":1}\n' + b"x" * 200_000)
    log: JsonlLog[bytes] = JsonlLog(path, lambda line: log.write(line))
    log.open()
    assert log.torn_tail() == 8
    assert log.terminate() and log.torn_tail() is None and not log.terminate()
    log.close()
    assert path.read_bytes().endswith(b"x\n")


def test_a_positioned_log_cuts_what_follows_its_end(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    log: JsonlLog[bytes] = JsonlLog(path, lambda line: log.write(line), positioned=True)
    log.open()
    assert log.write(b'{"a":1}\n') == 0
    with open(path, "ab") as fh:
        fh.write(b"stray")  # e.g. a failed write whose cut failed too
    log.cut(8)
    assert log.write(b'{"b":1}\n') == 8
    log.close()
    assert path.read_bytes() == b'{"a":1}\n{"b":1}\n'
