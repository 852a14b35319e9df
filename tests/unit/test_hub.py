"""The event hub's slow-subscriber policies: drop-and-count, or block until room/close."""

import asyncio

from codetether.daemon.core.sessions import EventHub
from codetether.daemon.wire.events import TextChunk


async def test_drop_policy_counts_and_never_blocks():
    hub = EventHub()
    sub = hub.subscribe("drop", maxsize=2)
    for i in range(5):
        await hub.publish(TextChunk(text=str(i)))
    assert sub.queue.qsize() == 2 and sub.dropped == 3
    assert [sub.queue.get_nowait()[1].text for _ in range(2)] == ["0", "1"]


async def test_block_policy_waits_for_room_and_loses_nothing():
    hub = EventHub()
    sub = hub.subscribe("block", maxsize=1)
    await hub.publish(TextChunk(text="a"))
    publisher = asyncio.create_task(hub.publish(TextChunk(text="b")))
    await asyncio.sleep(0)
    assert not publisher.done()  # blocked on the full queue
    assert sub.queue.get_nowait()[1].text == "a"
    assert await publisher == 2
    assert sub.queue.get_nowait() == (2, TextChunk(text="b"))


async def test_closing_a_blocked_subscriber_releases_the_publisher():
    hub = EventHub()
    sub = hub.subscribe("block", maxsize=1)
    await hub.publish(TextChunk(text="a"))
    publisher = asyncio.create_task(hub.publish(TextChunk(text="b")))
    await asyncio.sleep(0)
    hub.unsubscribe(sub)
    await asyncio.wait_for(publisher, 5)
    assert hub.subscribers == 0


async def test_publish_nowait_drops_even_for_blocking_subscribers():
    hub = EventHub()
    sub = hub.subscribe("block", maxsize=1)
    hub.publish_nowait(TextChunk(text="a"))
    hub.publish_nowait(TextChunk(text="b"))
    assert sub.dropped == 1 and hub.seq == 2
