"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# As the daemon does (daemon/transports/grpc/__init__.py, grpc/grpc#43055): this process
# runs grpc servers and clients and forks subprocesses; grpc's fork handler can make such a
# child abort (EBADF) before it execs. Set before any test module imports grpc.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")


@pytest.fixture
def short_dir():
    """A short temp dir: Unix socket paths must fit in 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="ct", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def _secrets_registry():
    """The redactor's registry is process-wide and only grows: a secret one test registers
    must not change how another test's streamed text is held back or redacted."""
    from codetether.daemon.core.secrets import _redact as redact

    before = redact.values()
    yield
    redact._replace_all(before)
