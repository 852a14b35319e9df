"""bash: run a shell command in the workspace, bounded in time, output and resources.

The command runs in its own session and process group, so a timeout, a
cancellation or the command's own exit can kill everything it started (a child
that calls ``setsid`` itself escapes the group; policy, not this tool, decides
which commands may run). Resource limits are set in the child before ``exec``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import shutil
import signal
import subprocess
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import msgspec
from msgspec import Meta

from ...errors import ToolFailure
from ._limits import ShellLimits
from ._shellsplit import command_segments
from ._stream import OutputStream
from .base import Tool, ToolContext, ToolResult, Workspace

__all__ = ["BashTool", "ShellLimits"]

DEFAULT_TIMEOUT = 120
MAX_TIMEOUT = 600
#: Seconds a killed group gets to close its output before we stop waiting on it.
_DRAIN_GRACE = 2.0
#: Seconds between SIGTERM and SIGKILL on timeout.
_KILL_GRACE = 2.0


class BashParams(msgspec.Struct, forbid_unknown_fields=True):
    command: Annotated[str, Meta(min_length=1, description="The bash command line to run.")]
    timeout: Annotated[
        int,
        Meta(
            ge=0,
            le=MAX_TIMEOUT,
            description=(
                f"Seconds before the command is killed, at most {MAX_TIMEOUT}. 0 or omitted: "
                f"the configured default ({DEFAULT_TIMEOUT} unless set)."
            ),
        ),
    ] = 0
    workdir: Annotated[
        str, Meta(description="Directory to run in, relative to the workspace root. Default: the root.")
    ] = "."
    description: Annotated[
        str, Meta(description="A few words saying what the command does, shown to the user.")
    ] = ""


class BashTool(Tool):
    name = "bash"
    description = (
        "Run a bash command in the workspace (or a subdirectory of it) and return its "
        "combined stdout and stderr and its exit code. No terminal and no stdin: "
        "interactive programs get end-of-file, so pass flags like `--yes` or `-y`. Long "
        "output keeps its beginning and end. The command is killed, with everything it "
        "started, at the timeout; background jobs (`cmd &`) are killed when the command "
        "exits. Prefer read_file, grep, glob and edit over cat, grep, find and sed."
    )
    params = BashParams

    def __init__(self, limits: ShellLimits | None = None) -> None:
        self.limits = limits or ShellLimits()

    def approval_subject(self, args: BashParams) -> str:
        return args.command

    def rule_subjects(self, args: BashParams, workspace: Workspace) -> list[str]:
        """The whole line and each simple command in it: a deny rule for ``rm*`` also
        stops ``echo ok; rm -f x`` and ``  sudo rm x`` (the strictest decision wins)."""
        return list(dict.fromkeys([args.command, args.command.strip(), *command_segments(args.command)]))

    def describe(self, args: BashParams) -> str:
        # The model's own few words say it better than a long command line.
        return f"bash: {args.description}" if args.description.strip() else super().describe(args)

    async def run(self, args: BashParams, ctx: ToolContext) -> ToolResult:
        cwd = ctx.workspace.resolve(args.workdir or ".")
        if not cwd.is_dir():
            raise ToolFailure(f"workdir {ctx.workspace.relative(cwd)} is not a directory")
        limits = self.limits
        timeout = _timeout(args.timeout, ctx)
        cpu = limits.cpu_seconds if limits.cpu_seconds is not None else int(timeout) + 30
        output = _Output(_output_cap(limits.output_chars, ctx))
        # Clients see the output as it arrives (C15); the result still has all of it.
        live = OutputStream(ctx.emit, ctx.call_id) if ctx.emit is not None else None
        try:
            return await self._run(args, ctx, cwd, timeout, cpu, output, live)
        except BaseException:
            if live is not None:
                live.cancel()
            raise

    async def _run(self, args: BashParams, ctx: ToolContext, cwd: Path, timeout: float, cpu: int,
                   output: _Output, live: OutputStream | None) -> ToolResult:
        limits = self.limits
        loop = asyncio.get_running_loop()
        spawn = asyncio.ensure_future(
            loop.subprocess_exec(
                lambda: _ShellProtocol(output, live),
                shutil.which("bash") or "/bin/bash", "-c", args.command,
                cwd=cwd,
                env=_environment(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_limiter(cpu, limits),
            )
        )
        try:
            # Shielded: a cancellation that lands mid-spawn must still find the new
            # group and kill it (asyncio alone would kill only the leader).
            transport, protocol = await asyncio.shield(spawn)
        except asyncio.CancelledError:
            await asyncio.shield(_abandon(spawn))
            raise
        except OSError as exc:
            raise ToolFailure(f"bash could not start: {exc.strerror or exc}") from exc
        pgid = transport.get_pid()
        timed_out = False
        try:
            try:
                await asyncio.wait_for(protocol.exited.wait(), timeout=timeout)
            except TimeoutError:
                timed_out = True
                await _terminate(pgid, protocol)
            # The leader is gone; its background jobs go with it (see the docstring).
            _killpg(pgid, signal.SIGKILL)
            closed = await _settle(protocol)
        except asyncio.CancelledError:
            _killpg(pgid, signal.SIGKILL)
            await asyncio.shield(protocol.exited.wait())
            raise
        finally:
            transport.close()
        if live is not None:
            await live.close()
        code = transport.get_returncode()
        return _result(timeout, code, output, timed_out, closed, ctx.workspace.relative(cwd))


class _ShellProtocol(asyncio.SubprocessProtocol):
    """Feeds the output pipe into an :class:`_Output`.

    ``exited`` is set when the leader (bash) exits; ``closed`` when the output
    pipe reaches end-of-file, i.e. every process holding it is gone. asyncio's own
    ``Process.wait()`` waits for both, so a background job holding the pipe
    would hang it; this protocol lets the tool tell them apart.
    """

    def __init__(self, output: _Output, live: OutputStream | None = None) -> None:
        self.output = output
        self.live = live
        self.exited = asyncio.Event()
        self.closed = asyncio.Event()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self.output.add(data)
        if self.live is not None:
            self.live.feed(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self.closed.set()

    def process_exited(self) -> None:
        self.exited.set()


def _timeout(requested: int, ctx: ToolContext) -> float:
    """The call's timeout; the session's ``[tools] bash_timeout`` is the default."""
    if requested:
        return float(requested)
    configured = ctx.settings.get("bash_timeout")
    if isinstance(configured, int | float) and configured > 0:
        return min(float(configured), float(MAX_TIMEOUT))
    return float(DEFAULT_TIMEOUT)


def _output_cap(default: int, ctx: ToolContext) -> int:
    """``[tools] bash_max_output`` from the session overrides the tool's default."""
    configured = ctx.settings.get("bash_max_output")
    if isinstance(configured, int) and configured > 0:
        return configured
    return default


class _Output:
    """Combined output, keeping the first and last ``limit // 2`` bytes."""

    def __init__(self, limit: int) -> None:
        self.half = max(limit // 2, 1)
        self.head = bytearray()
        self.tail: deque[bytes] = deque()
        self.tail_size = 0
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail.append(chunk)
            self.tail_size += len(chunk)
            while self.tail_size - len(self.tail[0]) >= self.half:
                self.tail_size -= len(self.tail.popleft())

    def text(self) -> tuple[str, bool]:
        tail = b"".join(self.tail)
        if self.total <= 2 * self.half:  # nothing was dropped
            return (bytes(self.head) + tail).decode("utf-8", errors="replace"), False
        tail = tail[-self.half :]
        omitted = self.total - len(self.head) - len(tail)
        head = bytes(self.head).decode("utf-8", errors="replace")
        note = f"\n[... {omitted} bytes of output omitted ...]\n"
        return head + note + tail.decode("utf-8", errors="replace"), True


async def _settle(protocol: _ShellProtocol) -> bool:
    """Wait briefly for the output pipe to close; False if a process that left the
    group (``setsid``, ``nohup ... &`` in a new session) still holds it."""
    try:
        await asyncio.wait_for(protocol.closed.wait(), timeout=_DRAIN_GRACE)
        return True
    except TimeoutError:
        return False


async def _terminate(pgid: int, protocol: _ShellProtocol) -> None:
    _killpg(pgid, signal.SIGTERM)
    try:
        await asyncio.wait_for(protocol.exited.wait(), timeout=_KILL_GRACE)
    except TimeoutError:
        _killpg(pgid, signal.SIGKILL)
        await protocol.exited.wait()


async def _abandon(spawn: asyncio.Future[tuple[asyncio.SubprocessTransport, _ShellProtocol]]) -> None:
    try:
        transport, protocol = await spawn
    except OSError:
        return
    _killpg(transport.get_pid(), signal.SIGKILL)
    await protocol.exited.wait()
    transport.close()


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


#: Credentials of the daemon itself that model-driven commands never see. Keys the
#: user exported for their own tools (GITHUB_TOKEN for gh, say) are left alone.
_SCRUBBED = frozenset({"VAULT_TOKEN", "BAO_TOKEN", "VAULT_SECRET_ID", "BAO_SECRET_ID"})


def _environment() -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _SCRUBBED and not (key.startswith("CODETETHER_") and "TOKEN" in key)
    }
    # Nothing should wait for a terminal or page its output.
    env.update({"PAGER": "cat", "GIT_PAGER": "cat", "GIT_TERMINAL_PROMPT": "0", "TERM": "dumb"})
    env.setdefault("NO_COLOR", "1")
    return env


def _limiter(cpu_seconds: int, limits: ShellLimits) -> Callable[[], None]:
    wanted = [
        (resource.RLIMIT_CPU, cpu_seconds),
        (resource.RLIMIT_AS, limits.address_space),
        (resource.RLIMIT_FSIZE, limits.file_size),
        (resource.RLIMIT_NPROC, limits.max_processes),
    ]

    def apply() -> None:
        # Runs in the child between fork and exec: no allocation-heavy work, no raising.
        for which, value in wanted:
            if value is None:
                continue
            try:
                soft, hard = resource.getrlimit(which)
                if hard != resource.RLIM_INFINITY:
                    value = min(value, hard)
                if soft == resource.RLIM_INFINITY or value < soft:
                    resource.setrlimit(which, (value, hard))
            except (ValueError, OSError):
                pass

    return apply


def _result(
    timeout: float, code: int | None, output: _Output, timed_out: bool, closed: bool, cwd_rel: str
) -> ToolResult:
    text, truncated = output.text()
    text = text.rstrip("\n")
    notes: list[str] = []
    if truncated:
        notes.append(f"output was {output.total} bytes; the middle was omitted")
    if timed_out:
        notes.append(f"timed out after {timeout:g}s: the command and its process group were killed")
    elif code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        notes.append(f"killed by signal {name}")
    if not closed:
        notes.append("a process that left the process group still holds the output open; stopped reading")
    status = f"[exit code: {code}]"
    parts = [text] if text else ["(no output)"]
    parts.extend(f"[{note}]" for note in notes)
    parts.append(status)
    meta = {
        "exit_code": code,
        "timed_out": timed_out,
        "truncated": truncated,
        "output_bytes": output.total,
        "workdir": cwd_rel,
    }
    return ToolResult("\n".join(parts), is_error=timed_out or code != 0, metadata=meta)
