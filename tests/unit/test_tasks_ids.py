"""Task ids: version-4 UUID hex, unique, fresh in a forked child."""

from __future__ import annotations

import os
import uuid

from codetether.daemon.core.tasks._ids import new_id


def test_ids_are_uuid4_hex_and_unique():
    ids = [new_id() for _ in range(2000)]  # more than one batch
    assert len(set(ids)) == len(ids)
    for value in ids:
        parsed = uuid.UUID(value)
        assert parsed.hex == value and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_a_forked_child_does_not_reuse_the_parents_batch():
    new_id()  # a batch is held
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave at once
        os.write(write, new_id().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert child != new_id()
