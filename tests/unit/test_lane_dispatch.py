"""The lane consumer's dispatcher outlives a node loss: messages of a closed channel are dropped.

aio-pika's `IncomingMessage.channel` raises once its channel is closed (a reconnect after the
node holding it died). The dispatcher met such a held message, raised, and ended: the worker
stayed up and subscribed, holding jobs it never started (found by the leader-loss scenario).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from aio_pika.exceptions import ChannelInvalidStateError

from shared.worker.lanes import LaneConsumer


class Closed:
    @property
    def channel(self) -> Any:
        raise ChannelInvalidStateError("closed")


class Open:
    def __init__(self, name: str) -> None:
        self.name = name
        self.channel = type("Channel", (), {"is_closed": False})()


async def test_a_held_message_of_a_closed_channel_is_dropped_and_the_rest_still_run():
    ran: list[str] = []

    async def handle(message: Any, queue: str) -> None:
        ran.append(message.name)

    consumer = LaneConsumer(None, [["a", "b"], ["c"]], 1, handle)  # type: ignore[arg-type]
    consumer.held = {"a": deque([Closed(), Open("a1")]), "b": deque([Closed()]),  # type: ignore[list-item]
                     "c": deque([Open("c1")])}  # type: ignore[list-item]
    assert consumer.held_count() == 2
    dispatcher = asyncio.create_task(consumer._dispatch())
    try:
        for _ in range(100):
            if len(ran) == 2:
                break
            await asyncio.sleep(0.01)
        assert ran == ["a1", "c1"]
        consumer.held["b"].append(Open("b1"))  # type: ignore[arg-type]
        consumer._arrived.set()
        for _ in range(100):
            if len(ran) == 3:
                break
            await asyncio.sleep(0.01)
        assert ran == ["a1", "c1", "b1"] and not dispatcher.done()
    finally:
        dispatcher.cancel()
