"""The batch consumer of the traces queue (retention is `services/tracing/retention.py`).

Trace events are small and many, so they are written in batches: take up to
`trace_batch_size` deliveries (or whatever arrived within `trace_batch_wait_s`),
insert them in one statement, commit, then ack. A message that is not a
`TraceEvent` is parked in `<queue>.failed` (confirmed, by `shared.worker.park.park`
like every other consumer's) and acked; it never stops the consumer. When
the database fails the batch is requeued after a pause; the quorum queue's
delivery limit ends a loop that never heals.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import TYPE_CHECKING

import asyncpg
from pydantic import ValidationError

from services.tracing import queries
from shared.broker.publisher import Publisher
from shared.broker.topology import Topology
from shared.db import parked as parked_rows
from shared.messages import TraceEvent
from shared.metrics import JobMetrics
from shared.worker.consumer import Connection, Incoming, QueueConsumer
from shared.worker.park import Delivery, park

if TYPE_CHECKING:
    from services.tracing.exporter import TraceMetrics

log = logging.getLogger(__name__)

DB_RETRY_PAUSE_S = 1.0


def event_key(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class TraceConsumer:
    def __init__(
        self, topology: Topology, connection: Connection, pool: asyncpg.Pool,
        publisher: Publisher, metrics: JobMetrics, counters: TraceMetrics | None = None,
    ) -> None:
        self.settings = topology.settings
        self.topology = topology
        self.queue_name = topology.settings.queue_traces
        self.connection = connection
        self.pool = pool
        self.publisher = publisher
        self.metrics = metrics
        self.counters = counters
        self._inbox: asyncio.Queue[Incoming] = asyncio.Queue()
        self._consumer = QueueConsumer(connection, self.queue_name, self.settings.trace_batch_size,
                                       self._inbox.put, name="trace consumer")
        self.stored = 0
        self.parked = 0

    async def start(self) -> None:
        await self._consumer.start()

    async def missing(self) -> list[str]:
        """What keeps this consumer from consuming right now (empty when it consumes)."""
        return await self._consumer.missing()

    async def stop(self) -> None:
        """Close the channel: deliveries not yet acked go back to the queue."""
        await self._consumer.stop()

    async def run(self) -> None:
        """Forever: one batch at a time."""
        await self.start()
        while True:
            batch = await self.next_batch()
            try:
                await self.handle(batch)
            except Exception:
                # e.g. the channel closed under us: unacked deliveries return to the queue
                # and the robust connection re-consumes; stored rows dedupe on event_key
                log.exception("a batch of %d trace events failed; carrying on", len(batch))

    async def next_batch(self) -> list[Incoming]:
        batch = [await self._inbox.get()]
        deadline = time.monotonic() + self.settings.trace_batch_wait_s
        while len(batch) < self.settings.trace_batch_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._inbox.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def handle(self, batch: list[Incoming]) -> None:
        self.metrics.started(self.queue_name)
        started = time.perf_counter()
        outcome = "success"
        try:
            good: list[tuple[Incoming, str, TraceEvent]] = []
            for msg in batch:
                try:
                    event = TraceEvent.model_validate_json(msg.body)
                    good.append((msg, event_key(msg.body), event))
                except ValidationError as exc:
                    await self._park(msg, exc)
            if good and not await self._store(good):
                outcome = "requeued"
        finally:
            self.metrics.finished(self.queue_name, outcome, time.perf_counter() - started)

    async def _store(self, good: list[tuple[Incoming, str, TraceEvent]]) -> bool:
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                added = await queries.store_trace_batch(conn, [(k, e) for _, k, e in good])
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:
            log.warning("storing %d traces failed (%s); requeueing after a pause", len(good), exc)
            await asyncio.sleep(DB_RETRY_PAUSE_S)
            for msg, _, _ in good:
                await msg.nack(requeue=True)
            return False
        for msg, _, _ in good:
            await msg.ack()
        self.stored += added
        if self.counters is not None:
            self.counters.stored.inc(added)
        return True

    async def _park(self, msg: Incoming, exc: ValidationError) -> None:
        error = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())[:500]
        delivery = Delivery(msg.body, dict(msg.headers or {}), msg.message_id)
        if not await park(self.publisher, self.topology, self.queue_name, delivery,
                          "invalid trace event", error or str(exc)[:500],
                          lambda job: parked_rows.record(self.pool, job)):
            await msg.nack(requeue=True)
            return
        self.parked += 1
        if self.counters is not None:
            self.counters.parked.inc()
        log.warning("parked an invalid trace event: %s", error)
        await msg.ack()
