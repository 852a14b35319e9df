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
