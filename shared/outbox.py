"""Transactional outbox: a job is durable the moment its row commits.

Producers call `enqueue` inside the same transaction that writes their own
rows; `OutboxRelay` publishes unsent rows with confirms and marks them sent.
If the broker is down the rows wait, and the relay publishes them when it
returns. Consumers are idempotent, so the rare double publish (confirm
received, crash before the row is marked) is harmless.

Published rows are kept for `retention_s` (for operators and tests to see
what went out), then deleted by the relay, a bounded batch per pass: the
table holds the unpublished rows and at most a retention window's worth of
published ones, however long the service runs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg

from shared.broker import Publisher, encode
from shared.messages import Message
from shared.topology import ENQUEUED_HEADER, Topology

log = logging.getLogger(__name__)


async def enqueue(
    conn: asyncpg.Connection, topology: Topology, msg: Message,
    headers: dict[str, Any] | None = None,
) -> int:
    """Record a message for its work queue (`topology.queue_for`); call inside the producer's transaction."""
    message_id = str(getattr(msg, "uuid", "")) or None
    all_headers = {"tags": ",".join(msg.tags()), ENQUEUED_HEADER: datetime.now(UTC).isoformat()
                   } | (headers or {})
    row_id: int = await conn.fetchval(
        "INSERT INTO outbox (exchange, routing_key, message_id, headers, body)"
        " VALUES ($1, $2, $3, $4, $5) RETURNING id",
        topology.exchange, topology.queue_for(msg), message_id, all_headers, encode(msg),
    )
    return row_id


class OutboxRelay:
    def __init__(
        self, pool: asyncpg.Pool, publisher: Publisher, poll_s: float = 1.0, batch: int = 100,
        on_pending: Callable[[int], None] | None = None, retention_s: float = 300.0,
        exchange: str | None = None,
    ) -> None:
        self.pool = pool
        #: only rows for this exchange (one topology's; tests share one table); None = every row
        self.exchange = exchange
        self.publisher = publisher
        self.poll_s = poll_s
        self.batch = batch
        self.on_pending = on_pending
        self.retention_s = retention_s
        self._pruned_at = 0.0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Publish now instead of at the next poll (called after a commit)."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _loop(self) -> None:
        while True:
            try:
                await self.flush()
                await self._prune_when_due()
            except Exception:
                log.exception("outbox relay pass failed")
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
            except TimeoutError:
                pass
            self._wake.clear()

    async def flush(self) -> int:
        """Publish every pending row, oldest first; returns how many went out."""
        sent = 0
        while True:
            async with self.pool.acquire() as conn, conn.transaction():
                # SKIP LOCKED: several upload instances share the outbox safely
                rows = await conn.fetch(
                    "SELECT id, exchange, routing_key, message_id, headers, body FROM outbox"
                    " WHERE published_at IS NULL AND ($2::text IS NULL OR exchange = $2)"
                    " ORDER BY attempts, id LIMIT $1 FOR UPDATE SKIP LOCKED",
                    self.batch, self.exchange,
                )
                if not rows:
                    break
                done: list[int] = []
                failures = 0
                for row in rows:
                    headers = row["headers"]
                    if isinstance(headers, str):
                        headers = json.loads(headers)
                    try:
                        await self.publisher.publish(
                            row["exchange"], row["routing_key"], bytes(row["body"]),
                            headers=headers, message_id=row["message_id"],
                        )
                    except Exception as exc:
                        # One row the broker refuses (say, its exchange is gone) must not hold
                        # back the rows behind it: it is counted, sorted after fresh rows, and
                        # the pass goes on. Several failures in a row mean the broker is away.
                        await conn.execute(
                            "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1",
                            row["id"], f"{type(exc).__name__}: {exc}"[:500],
                        )
                        failures += 1
                        if failures >= 3:
                            break
                        continue
                    failures = 0
                    done.append(row["id"])
                if done:
                    await conn.execute(
                        "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", done
                    )
                sent += len(done)
            if failures or len(rows) < self.batch:
                break
            await self._prune_when_due()  # a long backlog must not hold pruning back
        if self.on_pending is not None:
            self.on_pending(await self.pending())
        return sent

    async def _prune_when_due(self) -> None:
        if time.monotonic() - self._pruned_at >= min(10.0, max(self.retention_s / 2, self.poll_s)):
            await self.prune()

    async def prune(self, batch: int = 5000) -> int:
        """Delete rows published more than `retention_s` ago; returns how many went."""
        self._pruned_at = time.monotonic()
        removed = 0
        while True:
            status: str = await self.pool.execute(
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE published_at IS NOT NULL"
                " AND published_at < now() - make_interval(secs => $1) LIMIT $2)",
                self.retention_s, batch,
            )
            count = int(status.rsplit(" ", 1)[-1])
            removed += count
            if count < batch:
                return removed

    async def pending(self) -> int:
        count: int = await self.pool.fetchval(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL"
            " AND ($1::text IS NULL OR exchange = $1)", self.exchange)
        return count
