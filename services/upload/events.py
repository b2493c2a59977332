"""Status events from the workers, fanned out to SSE clients of this instance.

One exclusive, auto-deleted queue per upload-service instance (the
topology's `STATUS_FEED`, heard by a `FeedListener` on a channel of the
process's one broker connection, `BrokerLink`); each SSE
client gets a bounded queue for its proxy. A slow client loses events rather
than holding memory; its stream still ends on a terminal status because it
re-reads the row.

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

from shared.broker.connections import BrokerLink, dropped_is_an_error
from shared.broker.topology import STATUS_FEED, Topology
from shared.messages import ProxyStatusChanged
from shared.worker.consumer import Connection, FeedListener

log = logging.getLogger(__name__)
CLIENT_BUFFER = 32


class EventHub:
    def __init__(self, topology: Topology, link: BrokerLink) -> None:
        self.settings = topology.settings
        self.topology = topology
        self.link = link
        self._connection: Connection | None = None
        self._subscribers: dict[str, set[asyncio.Queue[ProxyStatusChanged]]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._listener: FeedListener | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-hub")

    async def _run(self) -> None:
        while True:
            try:
                with dropped_is_an_error("event hub"):  # a half-open path ends in a retry too
                    await self._connect()
                return
            except Exception as exc:  # the broker may be down; SSE degrades to DB reads
                log.warning("event hub cannot connect (%s); retrying", exc)
                await asyncio.sleep(2)

    async def _connect(self) -> None:
        self._connection = await self.link.connection()  # the process's: it fails over by itself
        listener = FeedListener(self._connection, self.topology, STATUS_FEED, self._on_message)
        await listener.start()
        self._listener = listener

    @property
    def connected(self) -> bool:
        return self._connection is not None and self._connection.connected.is_set()

    async def consuming(self) -> bool:
        """Connected, and the broker still delivers to our consumer."""
        return self.connected and self._listener is not None and await self._listener.consuming()

    def _on_message(self, body: bytes) -> None:
        try:
            event = ProxyStatusChanged.model_validate_json(body)
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
        # the feed's channel and queue go with the process's connection
