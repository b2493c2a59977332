"""Consumers on a robust (failover) connection: work queues, and a process's own feeds.

`QueueConsumer` is one consumer of one work queue, on its own channel. The
workers' harness and the tracing service's batch consumer both consume
through it: prefetch on the channel, the queue declared passively (only a
declared queue is restored, with its consumer, when the robust connection
comes back after a broker restart), manual acks by the handler.

`missing()` says what keeps it from consuming right now: the connection, the
channel, or a consumer the broker cancelled (its queue deleted or its quorum
lost) while both stayed up; aio-pika subscribes again once it can.
`stop(grace_s)` cancels the subscription, lets the deliveries being handled
finish (up to `grace_s`), and closes the channel: whatever was not acked
goes back to the queue.

`FeedListener` hears a feed of the events exchange (status events for the
SSE hub, heartbeats for the live worker set) on the process's own queue,
declared by the topology (`Topology.declare_feed`), without acks: a lost
event costs nothing that is not also in the database or the next beat.

Services name the broker client's types through `Connection` and
`Incoming`, never by importing it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from shared.broker.publisher import subscribed
from shared.broker.topology import Feed, Topology

#: a robust connection, as `shared.broker.publisher.connect` opens it
Connection = AbstractRobustConnection
#: one delivery: `body`, `headers`, `message_id`, and `ack()`, `nack(requeue=...)`, `reject(...)`
Incoming = AbstractIncomingMessage

Handler = Callable[[AbstractIncomingMessage], Awaitable[None]]
#: a broker that stopped answering must not hold a shutdown
CLOSE_TIMEOUT_S = 5.0


class QueueConsumer:
    def __init__(self, connection: AbstractRobustConnection, queue: str, prefetch: int,
                 handle: Handler, name: str = "consumer") -> None:
        self.connection = connection
        self.queue_name = queue
        self.prefetch = prefetch
        self.handle = handle
        self.name = name  # as `missing()` says it
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None
        self._busy: set[asyncio.Task[object]] = set()

    async def start(self) -> None:
        self._channel = await self.connection.channel()
        await self._channel.set_qos(prefetch_count=self.prefetch)
        self._queue = await self._channel.declare_queue(self.queue_name, passive=True)
        self._tag = await self._queue.consume(self._deliver)

    async def _deliver(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._busy.add(task)
        try:
            await self.handle(message)
        finally:
            if task is not None:
                self._busy.discard(task)

    def held_count(self) -> int:
        """Deliveries in hand: each starts its job at once, so the jobs under way."""
        return len(self._busy)

    async def missing(self) -> list[str]:
        """What keeps this consumer from consuming right now (empty when it consumes)."""
        if not self.connection.connected.is_set():
            return ["broker connection"]
        if self._channel is None or self._channel.is_closed:
            return [f"{self.name} channel"]
        if not await subscribed(self._queue, self._tag):
            return [self.name]  # cancelled by the broker (its queue deleted or lost)
        return []

    async def stop(self, grace_s: float = 0.0) -> None:
        if self._queue is not None and self._tag is not None and self._channel is not None \
                and not self._channel.is_closed:
            with contextlib.suppress(Exception):  # the broker may be gone: closing is enough
                await asyncio.wait_for(self._queue.cancel(self._tag), CLOSE_TIMEOUT_S)
        if self._busy and grace_s > 0:
            await asyncio.wait(set(self._busy), timeout=grace_s)
        if self._channel is not None and not self._channel.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._channel.close(), CLOSE_TIMEOUT_S)
        self._channel = None


class FeedListener:
    """Hands the body of every message of `feed` to `on_message`, from this process's own queue."""

    def __init__(self, connection: Connection, topology: Topology, feed: Feed,
                 on_message: Callable[[bytes], None]) -> None:
        self.connection = connection
        self.topology = topology
        self.feed = feed
        self.on_message = on_message
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None

    async def start(self) -> None:
        channel = await self.connection.channel()
        queue = await self.topology.declare_feed(channel, self.feed)
        self._tag = await queue.consume(self._deliver, no_ack=True)
        self._queue = queue

    @property
    def queue(self) -> AbstractQueue | None:
        """This process's queue (None until started): its name is the broker's, made at declare."""
        return self._queue

    async def _deliver(self, message: Incoming) -> None:
        self.on_message(message.body)

    async def consuming(self) -> bool:
        """Connected, and the broker still delivers to our consumer."""
        return self.connection.connected.is_set() and await subscribed(self._queue, self._tag)
