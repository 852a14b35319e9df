"""Running ripgrep with ``--json`` and streaming its messages.

grep and codesearch both go through :func:`run_rg`. The subprocess is always
reaped: on early stop, timeout or cancellation it is killed, its pipes drained
and its exit awaited, so no transport is left open.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from ...errors import ToolFailure
from ._util import find_rg

__all__ = ["RgOutcome", "base_args", "run_rg", "text_of"]

#: Largest single JSON line accepted from rg (a minified file can have huge lines).
_LINE_LIMIT = 32 * 1024 * 1024

_decoder = msgspec.json.Decoder()


@dataclass(slots=True)
class RgOutcome:
    returncode: int | None
    stderr: str
    stopped: bool  # the consumer asked to stop before rg finished


def base_args() -> list[str]:
    """Flags shared by every search: JSON out, .gitignore honoured even outside
    a git repository, hidden files searched but never .git, deterministic order."""
    return [
        "--json",
        "--no-require-git",
        "--hidden",
        "--glob",
        "!.git",
        "--sort",
        "path",
        "--max-filesize",
        "20M",
        "--no-config",
    ]


def text_of(field: dict[str, Any] | None) -> str:
    """rg's ``{"text": ...}`` or ``{"bytes": base64}`` as a string."""
    if not field:
        return ""
    if "text" in field:
        return str(field["text"])
    try:
        return base64.b64decode(field.get("bytes", "")).decode("utf-8", errors="replace")
    except ValueError:
        return ""


async def run_rg(
    argv: list[str],
    cwd: Path,
    on_message: Callable[[dict[str, Any]], bool],
    *,
    timeout: float = 60.0,
) -> RgOutcome:
    """Run ``rg argv`` in ``cwd``; call ``on_message`` per JSON message until it returns False."""
    proc = await asyncio.create_subprocess_exec(
        find_rg(),
        *argv,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=_LINE_LIMIT,
    )
    assert proc.stdout is not None and proc.stderr is not None
    stderr_task = asyncio.create_task(proc.stderr.read(), name="rg:stderr")
    stopped = False
    try:
        async with asyncio.timeout(timeout):
            while True:
                try:
                    line = await proc.stdout.readline()
                except ValueError:  # one message over _LINE_LIMIT: stop with what we have
                    stopped = True
                    break
                if not line:
                    break
                try:
                    message = _decoder.decode(line)
                except msgspec.DecodeError:
                    continue
                if not on_message(message):
                    stopped = True
                    break
            if not stopped:
                await proc.wait()
    except TimeoutError:
        raise ToolFailure(f"search timed out after {timeout:.0f}s; narrow the path or pattern") from None
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        # Drain and reap even when cancelled, so no pipe or child outlives the call.
        await asyncio.shield(_reap(proc))
        stderr = await asyncio.shield(stderr_task)
    return RgOutcome(proc.returncode, stderr.decode("utf-8", errors="replace"), stopped)


async def _reap(proc: asyncio.subprocess.Process) -> None:
    assert proc.stdout is not None
    with contextlib.suppress(ValueError, asyncio.LimitOverrunError):
        while await proc.stdout.read(1 << 20):
            pass
    await proc.wait()
