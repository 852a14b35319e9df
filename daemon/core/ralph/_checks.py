"""Quality checks and verification steps: shell commands run in the workspace, each in
its own process group with a timeout, its output captured and clipped.

How a verification step is told apart (decided here, documented in the wire module):
``{"command": "..."}``, a string starting with ``"$ "``, or a string wholly wrapped in
single backticks is a command; any other string is prose for a person: it is recorded
as ``manual`` and does not block the story.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from ...wire.ralph import CHECK_ORDER, CheckResult, CheckStatus, Prd, UserStory

__all__ = ["CLIP_HEAD", "CLIP_TAIL", "Command", "clip", "quality_commands", "run_check", "step_command",
           "step_commands"]

#: Output kept of a check: its first and last characters (errors are usually at the end).
CLIP_HEAD = 1000
CLIP_TAIL = 3000
#: Bytes read of a check's output before the middle is dropped as it streams.
_READ_CHUNK = 65536


def step_command(step: str | dict[str, Any]) -> str | None:
    """The shell command of a verification step, or None for prose (a manual step)."""
    if isinstance(step, dict):
        command = step.get("command")
        return command.strip() or None if isinstance(command, str) else None
    text = step.strip()
    if text.startswith("$ "):
        return text[2:].strip() or None
    if len(text) > 2 and text[0] == "`" and text[-1] == "`" and "`" not in text[1:-1]:
        return text[1:-1].strip() or None
    return None


#: A check to run: (name, shell command or None for prose, as shown).
Command = tuple[str, str | None, str]


def quality_commands(prd: Prd) -> list[Command]:
    """The PRD's quality checks in their order (typecheck, lint, test, build), null ones left out."""
    commands: list[Command] = []
    for name in CHECK_ORDER:
        command = getattr(prd.quality_checks, name)
        if command and command.strip():
            commands.append((name, command, command))
    return commands


def step_commands(story: UserStory) -> list[Command]:
    """A story's verification steps (``verify[i]``); prose steps have no command."""
    commands: list[Command] = []
    for i, step in enumerate(story.verification_steps, 1):
        shown = step if isinstance(step, str) else json.dumps(step)
        commands.append((f"verify[{i}]", step_command(step), shown))
    return commands


def clip(text: str, head: int = CLIP_HEAD, tail: int = CLIP_TAIL) -> str:
    """``text`` with its middle dropped (and said so) when longer than head + tail."""
    if len(text) <= head + tail:
        return text
    return f"{text[:head]}\n[... {len(text) - head - tail} characters dropped ...]\n{text[-tail:]}"


async def run_check(name: str, command: str, cwd: Path, timeout: float) -> CheckResult:
    """Run ``command`` with ``sh -c`` in ``cwd``: passed on exit 0. A timeout or a
    cancellation kills the whole process group (the spawn is shielded, so a cancel that
    lands mid-spawn still reaches the new process)."""
    started = time.monotonic()
    spawn = asyncio.ensure_future(asyncio.create_subprocess_exec(
        "/bin/sh", "-c", command, cwd=cwd, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "CI": os.environ.get("CI", "1")}))
    try:
        proc = await asyncio.shield(spawn)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            _kill(await spawn)
        raise
    except OSError as exc:
        return CheckResult(name=name, command=command, status="failed", output=f"cannot run: {exc}",
                           duration_ms=(time.monotonic() - started) * 1000)
    head = bytearray()
    tail = bytearray()
    dropped = 0
    timed_out = False

    async def read() -> None:
        nonlocal dropped
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(_READ_CHUNK):
            room = CLIP_HEAD * 4 - len(head)  # bytes, not characters: keep a margin
            if room > 0:
                head.extend(chunk[:room])
                chunk = chunk[room:]
            tail.extend(chunk)
            if len(tail) > CLIP_TAIL * 4:
                dropped += len(tail) - CLIP_TAIL * 4
                del tail[: len(tail) - CLIP_TAIL * 4]
        await proc.wait()

    try:
        async with asyncio.timeout(timeout):
            await read()
    except TimeoutError:
        timed_out = True
        _kill(proc)
        await proc.wait()
    except BaseException:
        _kill(proc)
        with contextlib.suppress(BaseException):
            await asyncio.shield(proc.wait())
        raise
    text = head.decode(errors="replace")
    if dropped:
        text += f"\n[... {dropped} bytes dropped ...]\n"
    text = clip(text + tail.decode(errors="replace"))
    if timed_out:
        text += f"\n[stopped: over the {timeout:g}s limit]"
    code = proc.returncode
    status: CheckStatus = "timeout" if timed_out else "passed" if code == 0 else "failed"
    return CheckResult(name=name, command=command, status=status, exit_code=None if timed_out else code,
                       output=text, duration_ms=round((time.monotonic() - started) * 1000, 1))


def _kill(proc: asyncio.subprocess.Process) -> None:
    """Kill the check's whole process group (its children too)."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
