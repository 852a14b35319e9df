"""bash: output, exit codes, confinement of cwd, timeouts, limits, cancellation."""

from __future__ import annotations

import asyncio
import os
import select
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from codetether.daemon.core.tools import ShellLimits, ToolContext, ToolResult
from codetether.daemon.core.tools.shell import BashTool
from codetether.daemon.errors import ToolFailure, WorkspaceEscape

CallTool = Callable[..., Awaitable[ToolResult]]


def wait_gone(pid: int, timeout: float = 5.0) -> bool:
    """True once ``pid`` has exited (zombie or reaped): waits on a pidfd, not a clock."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
        return bool(readable)
    finally:
        os.close(fd)


async def test_output_and_exit_code(call_tool: CallTool) -> None:
    result = await call_tool("bash", command="echo out; echo err >&2; exit 3")
    assert result.output == "out\nerr\n[exit code: 3]"
    # A command that failed is a failed call: clients show it, stats count it (found
    # trying it as a user: "exit 3" showed a check mark).
    assert result.is_error is True
    assert (await call_tool("bash", command="true")).is_error is False
    assert result.metadata["exit_code"] == 3 and result.metadata["timed_out"] is False


async def test_runs_in_workspace_or_a_confined_subdir(tool_root: Path, call_tool: CallTool) -> None:
    (tool_root / "sub").mkdir()
    assert (await call_tool("bash", command="pwd")).output == f"{tool_root}\n[exit code: 0]"
    result = await call_tool("bash", command="pwd", workdir="sub")
    assert result.output.startswith(f"{tool_root / 'sub'}\n") and result.metadata["workdir"] == "sub"
    with pytest.raises(WorkspaceEscape):
        await call_tool("bash", command="pwd", workdir="../")
    with pytest.raises(WorkspaceEscape):
        await call_tool("bash", command="pwd", workdir="/tmp")
    with pytest.raises(ToolFailure, match="not a directory"):
        await call_tool("bash", command="pwd", workdir="missing")


async def test_no_stdin_and_no_output(call_tool: CallTool) -> None:
    result = await call_tool("bash", command="cat; true")
    assert result.output == "(no output)\n[exit code: 0]"


async def test_output_is_capped_keeping_head_and_tail(tool_ctx: ToolContext) -> None:
    tool = BashTool(ShellLimits(output_chars=1000))
    args = tool.parse({"command": "echo START; head -c 200000 /dev/zero | tr '\\0' a; echo; echo END"})
    result = await tool.run(args, tool_ctx)
    assert result.output.startswith("START\n")
    assert "END\n[output was 200011 bytes; the middle was omitted]\n[exit code: 0]" in result.output
    assert "bytes of output omitted" in result.output
    assert len(result.output) < 1300
    assert result.metadata["truncated"] is True and result.metadata["output_bytes"] == 200011


async def test_session_config_sets_output_cap(tool_ctx: ToolContext, call_tool: CallTool) -> None:
    tool_ctx.settings["bash_max_output"] = 100
    result = await call_tool("bash", command="seq 1 1000")
    assert result.metadata["truncated"] is True and len(result.output) < 300


async def test_timeout_kills_the_whole_process_group(tool_root: Path, call_tool: CallTool) -> None:
    started = time.monotonic()
    result = await call_tool(
        "bash",
        command="sleep 30 & echo $! > bg.pid; sleep 30 & echo $! > fg.pid; echo waiting; wait",
        timeout=1,
    )
    assert time.monotonic() - started < 10
    assert result.is_error is True
    assert result.metadata["timed_out"] is True
    assert "waiting" in result.output and "timed out after 1s" in result.output
    for name in ("bg.pid", "fg.pid"):
        assert wait_gone(int((tool_root / name).read_text()))


async def test_session_config_sets_default_timeout(tool_ctx: ToolContext, call_tool: CallTool) -> None:
    tool_ctx.settings["bash_timeout"] = 0.5
    result = await call_tool("bash", command="sleep 30")
    assert result.metadata["timed_out"] is True and "timed out after 0.5s" in result.output


async def test_background_jobs_die_with_the_command(tool_root: Path, call_tool: CallTool) -> None:
    result = await call_tool("bash", command="sleep 30 & echo $! > bg.pid; echo done")
    assert result.output == "done\n[exit code: 0]"
    assert wait_gone(int((tool_root / "bg.pid").read_text()))


async def test_cancellation_kills_the_process_group(tool_root: Path, tool_ctx: ToolContext) -> None:
    fifo = tool_root / "ready"
    os.mkfifo(fifo)
    tool = BashTool()
    args = tool.parse({"command": "sleep 30 & echo $! > ready; wait"})
    task = asyncio.create_task(tool.run(args, tool_ctx))
    # Blocks until the command has started its child and written the pid.
    pid = int(await asyncio.to_thread(fifo.read_text))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert wait_gone(pid)


async def test_resource_limits_apply(tool_ctx: ToolContext) -> None:
    tool = BashTool(ShellLimits(file_size=1024))
    result = await tool.run(tool.parse({"command": "head -c 4096 /dev/zero > big; echo rc=$?"}), tool_ctx)
    assert "rc=1" in result.output or "rc=153" in result.output  # EFBIG, or killed by SIGXFSZ
    cpu = BashTool(ShellLimits(cpu_seconds=1))
    result = await cpu.run(cpu.parse({"command": "while :; do :; done", "timeout": 30}), tool_ctx)
    assert result.metadata["timed_out"] is False
    assert result.metadata["exit_code"] != 0  # SIGXCPU


def test_approval_subject_is_the_command() -> None:
    tool = BashTool()
    assert tool.approval_subject(tool.parse({"command": "rm -rf build"})) == "rm -rf build"


async def test_escaped_process_holding_the_output_does_not_hang(tool_root: Path, call_tool: CallTool) -> None:
    # The loop waits until the child has left the group (it writes its pid after setsid).
    command = "setsid sh -c 'echo $$ > escaped.pid; exec sleep 30' & until [ -s escaped.pid ]; do :; done; echo started"
    result = await call_tool("bash", command=command)
    pid = int((tool_root / "escaped.pid").read_text())
    try:
        assert result.output.startswith("started\n")
        assert "still holds the output open" in result.output
        assert result.metadata["exit_code"] == 0
    finally:
        os.kill(pid, 9)
        assert wait_gone(pid)


async def test_daemon_credentials_are_not_passed_on(call_tool: CallTool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_TOKEN", "s.secret")
    monkeypatch.setenv("CODETETHER_HTTP_TOKEN", "bearer-secret")
    monkeypatch.setenv("MY_VISIBLE", "yes")
    result = await call_tool("bash", command='echo "${VAULT_TOKEN:-none} ${CODETETHER_HTTP_TOKEN:-none} $MY_VISIBLE $PAGER"')
    assert result.output == "none none yes cat\n[exit code: 0]"
