"""Live tool output: a running command's output as ToolOutput events (C15).

The tool feeds bytes as they arrive and never waits: one owned task sends what has
gathered, at most every ``FLUSH_SECONDS`` (sooner once ``FLUSH_CHARS`` are waiting),
so a chatty command becomes a few events a second, not one per pipe read. A slow
client only makes the sender lag; text gathered meanwhile is coalesced into one event
whose middle is dropped past ``MAX_EVENT_CHARS``. After ``LIVE_BUDGET`` characters a
call streams only a short tail once a second, so a long build still shows it is alive
without filling the event log. The tool's result is unaffected: it keeps the whole
(budgeted) output.
"""

from __future__ import annotations

import asyncio
import codecs
import logging

from ...wire.events import ToolOutput
from .base import Emit

__all__ = ["OutputStream"]

log = logging.getLogger("codetether.tools")

FLUSH_SECONDS = 0.05
FLUSH_CHARS = 4096
MAX_EVENT_CHARS = 16_384
#: Characters streamed per call before it falls back to a slow tail.
LIVE_BUDGET = 1 << 20
SLOW_FLUSH_SECONDS = 1.0
SLOW_TAIL_CHARS = 2048


class OutputStream:
    """ToolOutput events for one call, sent by one task named ``tool-output:<call id>``.

    ``_pending`` holds decoded text not sent yet; ``_wake`` is set when there is any,
    ``_ready`` when enough of it waits to send at once; both are set only by
    :meth:`feed` and :meth:`close` and cleared only by the sender. ``_closed`` is set
    once, by :meth:`close`: send the rest now and stop.
    """

    def __init__(self, emit: Emit, call_id: str, stream: str = "stdout") -> None:
        self._emit = emit
        self._call_id = call_id
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending: list[str] = []
        self._size = 0
        self._sent = 0
        self._closing = False
        self._wake = asyncio.Event()
        self._ready = asyncio.Event()
        self._closed = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._send(), name=f"tool-output:{call_id}")

    def feed(self, data: bytes) -> None:
        """Called from the pipe's callback: must not block or raise."""
        text = self._decoder.decode(data)
        if not text or self._closing:
            return
        self._pending.append(text)
        self._size += len(text)
        if self._size > 4 * MAX_EVENT_CHARS:  # the sender lags: keep memory bounded
            self._pending = [_squeeze("".join(self._pending), MAX_EVENT_CHARS)]
            self._size = len(self._pending[0])
        self._wake.set()
        if self._size >= FLUSH_CHARS:
            self._ready.set()

    async def close(self) -> None:
        """Send what is left and wait for it: every ToolOutput precedes ToolCallEnd."""
        tail = self._decoder.decode(b"", final=True)
        if tail:
            self._pending.append(tail)
            self._size += len(tail)
        self._closing = True
        self._closed.set()
        self._wake.set()
        self._ready.set()
        await self._task

    def cancel(self) -> None:
        """The call was cancelled: stop sending at once."""
        self._closing = True
        self._task.cancel()

    async def _send(self) -> None:
        while True:
            await self._wake.wait()
            slow = self._sent >= LIVE_BUDGET
            if not self._closed.is_set():
                # Let the command add more before sending: fewer, larger events.
                try:
                    async with asyncio.timeout(SLOW_FLUSH_SECONDS if slow else FLUSH_SECONDS):
                        await (self._closed if slow else self._ready).wait()
                except TimeoutError:
                    pass
            self._wake.clear()
            self._ready.clear()
            text = "".join(self._pending)
            self._pending.clear()
            self._size = 0
            if text:
                text = _tail(text, SLOW_TAIL_CHARS) if slow else _squeeze(text, MAX_EVENT_CHARS)
                self._sent += len(text)
                try:
                    await self._emit(ToolOutput(call_id=self._call_id, text=text, stream=self._stream))
                except Exception:  # noqa: BLE001 - a broken stream must not fail the tool
                    log.exception("streaming output of %s failed; the result still has it", self._call_id)
                    return
            if self._closed.is_set() and not self._pending:
                return


def _squeeze(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = limit // 4
    tail = limit - head
    return f"{text[:head]}\n[... {len(text) - limit} characters not shown live ...]\n{text[-tail:]}"


def _tail(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"[... {len(text) - limit} characters not shown live ...]\n{text[-limit:]}"
