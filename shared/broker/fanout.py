"""Run a list of broker requests over a few channels at once, and the requests the
topology makes other than declarations (those stay in `topology.py`).

A channel answers one synchronous request at a time, and declaring or deleting
a quorum queue waits on its Raft group, so a topology of some thirty queues
takes a second on one channel. Each channel here takes the next request as soon
as its last one is answered. A failed request (a declaration that does not match
the broker's queue, say) closes only its own channel: that channel takes no
more requests, the others finish the list, then the first error is raised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from aio_pika.abc import AbstractChannel

Step = Callable[[AbstractChannel], Awaitable[object]]


async def run_spread(channels: Sequence[AbstractChannel], steps: Sequence[Step]) -> None:
    """Run every step once, each on one of `channels`; raise the first error after all ran."""
    pending = iter(steps)

    async def take(channel: AbstractChannel) -> None:
        for step in pending:  # one iterator shared by every channel: each step runs once
            await step(channel)

    outcomes = await asyncio.gather(*(take(c) for c in channels), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


def binding(queue: str, exchange: str, routing_key: str) -> Step:
    """Bind a queue declared earlier (not declared again) to `exchange` with `routing_key`."""
    async def step(channel: AbstractChannel) -> None:
        await (await channel.get_queue(queue, ensure=False)).bind(exchange, routing_key=routing_key)
    return step


def queue_deletion(name: str) -> Step:
    return lambda channel: channel.queue_delete(name)


def exchange_deletion(name: str) -> Step:
    return lambda channel: channel.exchange_delete(name)
