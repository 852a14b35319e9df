"""C15 (tool side): bash output reaches clients as ToolOutput events while it runs.

The command's pauses are driven by the test through a FIFO: the command prints, then
blocks reading the FIFO, and the test writes to it only after it has seen the printed
line arrive as an event. Nothing here sleeps for readiness.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

from codetether.daemon.core.agent import Agent, AgentSettings
from codetether.daemon.core.approvals import ApprovalStore
from codetether.daemon.core.providers.scripted import ScriptedProvider, Turn
from codetether.daemon.core.sessions import SessionRuntime, SessionStore
from codetether.daemon.core.tools import ToolContext, Workspace, default_registry
from codetether.daemon.core.tools._stream import LIVE_BUDGET, MAX_EVENT_CHARS, OutputStream
from codetether.daemon.wire import events as ev

# Prints a line, then waits for the test to release it, three times.
STEPPED = 'for i in 1 2 3; do echo "line $i"; read go; done < gate; echo done'


def _gate(fifo: Path) -> int:
    """The test's end of the FIFO, opened before the command runs. O_RDWR never blocks,
    and holding it open means the command's one open of the FIFO (for its whole loop)
    neither blocks nor ever sees end-of-file: each line written is one release."""
    os.mkfifo(fifo)
    return os.open(fifo, os.O_RDWR)


def _release(gate: int) -> None:
    os.write(gate, b"go\n")


async def test_bash_output_streams_before_the_call_ends(tool_root: Path) -> None:  # C15
    gate = _gate(tool_root / "gate")
    events: asyncio.Queue[ev.SessionEvent] = asyncio.Queue()

    async def emit(event: ev.SessionEvent) -> int:
        events.put_nowait(event)
        return 0

    registry = default_registry()
    ctx = ToolContext(workspace=Workspace(tool_root), session_id="s", call_id="call-7",
                      registry=registry, emit=emit)
    tool = registry.get("bash")
    assert tool is not None
    run = asyncio.create_task(tool.run(tool.parse({"command": STEPPED}), ctx))
    seen = ""
    for i in (1, 2, 3):
        while f"line {i}\n" not in seen:  # the line arrives while the command still runs
            event = await events.get()
            assert isinstance(event, ev.ToolOutput)
            assert (event.call_id, event.stream) == ("call-7", "stdout")
            seen += event.text
        assert not run.done()
        _release(gate)
    result = await run
    os.close(gate)
    while not events.empty():
        seen += events.get_nowait().text  # type: ignore[union-attr]
    assert seen == "line 1\nline 2\nline 3\ndone\n"
    assert result.output == "line 1\nline 2\nline 3\ndone\n[exit code: 0]"  # the result is whole


async def test_agent_streams_bash_output_before_tool_call_end(tmp_path: Path) -> None:  # C15
    workspace = tmp_path / "ws"
    workspace.mkdir()
    gate = _gate(workspace / "gate")
    store = SessionStore(tmp_path / "sessions")
    try:
        meta = store.create(workspace=str(workspace), model="scripted/scripted", approval_mode="auto")
        rt = SessionRuntime(meta, store)
        sub = rt.hub.subscribe("drop", maxsize=10_000)
        provider = ScriptedProvider([Turn.tool("bash", {"command": STEPPED}), Turn.text("ok")])
        settings = AgentSettings(model="scripted", model_label="scripted/scripted", mode="auto")
        agent = Agent(rt, provider, default_registry(), ApprovalStore(tmp_path / "approvals"), settings)
        run = asyncio.create_task(agent.run("go"))
        kinds: list[type] = []
        released = 0
        while True:
            try:  # without streaming, the command blocks on the FIFO forever
                async with asyncio.timeout(30):
                    _, event = await sub.queue.get()
            except TimeoutError:
                run.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await run
                raise
            kinds.append(type(event))
            if isinstance(event, ev.ToolOutput) and released < 3:
                assert not any(k is ev.ToolCallEnd for k in kinds)
                released += event.text.count("line ")
                for _ in range(event.text.count("line ")):
                    _release(gate)
            if isinstance(event, ev.Done):
                break
        await run
        outputs = kinds.count(ev.ToolOutput)
        assert outputs >= 2, kinds  # several pieces, not one at the end
        assert kinds.index(ev.ToolCallStart) < kinds.index(ev.ToolOutput)
        assert len(kinds) - kinds[::-1].index(ev.ToolOutput) - 1 < kinds.index(ev.ToolCallEnd)
    finally:
        store.close()
        os.close(gate)


async def test_small_writes_are_coalesced_into_one_event() -> None:  # C15
    sent: list[ev.ToolOutput] = []

    async def emit(event: ev.SessionEvent) -> int:
        assert isinstance(event, ev.ToolOutput)
        sent.append(event)
        return 0

    stream = OutputStream(emit, "c")
    for n in range(1000):  # no chance for the sender to run in between
        stream.feed(f"{n}\n".encode())
    stream.feed(b"caf\xc3")  # a character split across two reads stays whole
    stream.feed(b"\xa9\n")
    await stream.close()
    assert len(sent) == 1
    assert sent[0].text == "".join(f"{n}\n" for n in range(1000)) + "café\n"


async def test_a_slow_client_never_blocks_the_tool_and_memory_stays_bounded() -> None:  # C15
    entered, release = asyncio.Event(), asyncio.Event()
    sent: list[str] = []

    async def emit(event: ev.SessionEvent) -> int:
        entered.set()
        await release.wait()  # a client that stopped reading
        assert isinstance(event, ev.ToolOutput)
        sent.append(event.text)
        return 0

    stream = OutputStream(emit, "c")
    first = b"f" * 5000 + b"\n"  # enough to send at once
    stream.feed(first)
    await entered.wait()  # the sender took it and is stuck on the client
    for _ in range(200):
        stream.feed(b"x" * 1000 + b"\n")  # feed() is synchronous: it cannot wait
        assert stream._size <= 4 * MAX_EVENT_CHARS + 1001
    stream.feed(b"last\n")
    release.set()
    await stream.close()
    assert sent[0] == first.decode()
    assert "characters not shown live" in sent[-1] and sent[-1].endswith("last\n")


async def test_past_the_live_budget_only_a_tail_streams() -> None:  # C15
    sent: list[str] = []

    async def emit(event: ev.SessionEvent) -> int:
        assert isinstance(event, ev.ToolOutput)
        sent.append(event.text)
        return 0

    stream = OutputStream(emit, "c")
    chunk = b"y" * 8000 + b"\n"
    while sum(map(len, sent)) < LIVE_BUDGET:
        stream.feed(chunk)
        await asyncio.sleep(0)  # let the sender run
    before = len(sent)
    for _ in range(100):
        stream.feed(chunk)
    stream.feed(b"the end\n")
    await stream.close()
    assert len(sent) - before <= 2
    assert sent[-1].endswith("the end\n") and len(sent[-1]) < 3000
