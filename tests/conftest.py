"""Fixtures shared by every test folder."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest


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
