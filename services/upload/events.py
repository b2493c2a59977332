"""Status events from the workers, fanned out to SSE clients of this instance.

One connection and one exclusive, auto-deleted queue per upload-service
instance, bound to the events exchange; each SSE client gets a bounded queue
for its proxy. A slow client loses events rather than holding memory; its
stream still ends on a terminal status because it re-reads the row.

When the broker cancels the hub's consumer (its queue deleted), the robust
channel declares the queue again, binds it and consumes with the same tag;
`consuming()` (what readiness asks) is false until it has.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection

from shared.broker import connect, subscribed
from shared.messages import ProxyStatusChanged
from shared.topology import Topology

log = logging.getLogger(__name__)
CLIENT_BUFFER = 32


class EventHub:
    def __init__(self, topology: Topology) -> None:
        self.settings = topology.settings
        self.topology = topology
        self._connection: AbstractRobustConnection | None = None
        self._subscribers: dict[str, set[asyncio.Queue[ProxyStatusChanged]]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-hub")

    async def _run(self) -> None:
        while True:
            try:
                await self._connect()
                return
            except Exception as exc:  # the broker may be down; SSE degrades to DB reads
                log.warning("event hub cannot connect (%s); retrying", exc)
                await asyncio.sleep(2)

    async def _connect(self) -> None:
        self._connection = await connect(self.settings.amqp_url, wait=False)  # fails over by itself
        channel = await self._connection.channel()
        exchange = await channel.declare_exchange(
            self.topology.events_exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True,
                                            arguments={"x-max-length": 10_000})
        await queue.bind(exchange, routing_key="status.#")
        self._tag = await queue.consume(self._on_message, no_ack=True)
        self._queue = queue

    @property
    def connected(self) -> bool:
        return self._connection is not None and self._connection.connected.is_set()

    async def consuming(self) -> bool:
        """Connected, and the broker still delivers to our consumer."""
        return self.connected and await subscribed(self._queue, self._tag)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            event = ProxyStatusChanged.model_validate_json(message.body)
        except ValueError:
            return
        for q in list(self._subscribers.get(str(event.uuid), ())):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(event)

    @contextlib.asynccontextmanager
    async def subscribe(self, uuid: str) -> AsyncIterator[asyncio.Queue[ProxyStatusChanged]]:
        q: asyncio.Queue[ProxyStatusChanged] = asyncio.Queue(CLIENT_BUFFER)
        self._subscribers[uuid].add(q)
        try:
            yield q
        finally:
            self._subscribers[uuid].discard(q)
            if not self._subscribers[uuid]:
                del self._subscribers[uuid]

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._connection is not None:
            await self._connection.close()
