"""Transactional outbox: a job is durable the moment its row commits.

Producers call `enqueue` inside the same transaction that writes their own
rows; `OutboxRelay` publishes unsent rows with confirms and marks them sent.
If the broker is down the rows wait, and the relay publishes them when it
returns. Consumers are idempotent, so the rare double publish (confirm
received, crash before the row is marked) is harmless.

A row the broker does not confirm is tried again after a per-row backoff
(`backoff_base_s * 2^attempts`, capped at `backoff_max_s`, jittered so that
many rows refused together do not come back together), and the publisher
drops the channel the failure happened on (shared/broker/publisher.py): a lost node
costs a few seconds, never a restart. `health` says how long the relay has
failed without a single confirm; the upload service is unready once that
passes `unready_after_s`, and the backlog (count, oldest row's age) is a
metric with an alert (deploy/prometheus/rules).

Published rows are kept for `retention_s` (for operators and tests to see
what went out), then deleted by the relay, a bounded batch per pass: the
table holds the unpublished rows and at most a retention window's worth of
published ones, however long the service runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from shared.broker.backoff import jittered
from shared.broker.publisher import Publisher, encode
from shared.broker.topology import ENQUEUED_HEADER, Topology
from shared.db import outbox as rows_db
from shared.db.outbox import Backlog
from shared.messages import Message

log = logging.getLogger(__name__)


async def enqueue(
    conn: asyncpg.Connection, topology: Topology, msg: Message,
    headers: dict[str, Any] | None = None,
) -> int:
    """Record a message for its work queue (`topology.queue_for`); call inside the producer's transaction."""
    message_id = str(getattr(msg, "uuid", "")) or None
    all_headers = {"tags": ",".join(msg.tags()), ENQUEUED_HEADER: datetime.now(UTC).isoformat()
                   } | (headers or {})
    return await rows_db.insert(conn, topology.exchange, topology.queue_for(msg), message_id,
                                all_headers, encode(msg))


@dataclass
class RelayHealth:
    """How the relay's publishing goes: failures without a confirm in between, and since when."""

    #: monotonic time of the first failure after the last confirmed row (None: not failing)
    failing_since: float | None = None
    consecutive_failures: int = 0
    published: int = 0
    failures: int = 0
    last_error: str | None = None

    def failing_for(self) -> float:
        return 0.0 if self.failing_since is None else time.monotonic() - self.failing_since

    def ok(self, unready_after_s: float) -> bool:
        """False once the relay has failed for `unready_after_s` without one confirm."""
        return self.failing_for() < unready_after_s


class OutboxRelay:
    def __init__(
        self, pool: asyncpg.Pool, publisher: Publisher, poll_s: float = 1.0, batch: int = 100,
        on_pending: Callable[[int], None] | None = None, retention_s: float = 300.0,
        exchange: str | None = None, backoff_base_s: float = 0.5, backoff_max_s: float = 10.0,
        on_backlog: Callable[[Backlog], None] | None = None,
    ) -> None:
        self.pool = pool
        #: only rows for this exchange (one topology's; tests share one table); None = every row
        self.exchange = exchange
        self.publisher = publisher
        self.poll_s = poll_s
        self.batch = batch
        self.on_pending = on_pending
        self.on_backlog = on_backlog
        self.retention_s = retention_s
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.health = RelayHealth()
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
        """Publish every due row, oldest first; returns how many went out."""
        sent = 0
        while True:
            async with self.pool.acquire() as conn, conn.transaction():
                # SKIP LOCKED: several upload instances share the outbox safely
                rows = await rows_db.claim_due(conn, self.batch, self.exchange)
                if not rows:
                    break
                done: list[int] = []
                failures = 0
                for row in rows:
                    try:
                        await self.publisher.publish(
                            row.exchange, row.routing_key, row.body,
                            headers=row.headers, message_id=row.message_id,
                        )
                    except Exception as exc:
                        # One row the broker refuses (say, its exchange is gone) must not hold
                        # back the rows behind it: it waits its own backoff, and the pass goes
                        # on. Several failures in a row mean the broker (or a queue) is away.
                        error = f"{type(exc).__name__}: {exc}"
                        self._failed(error)
                        await rows_db.mark_failed(
                            conn, row.id, error,
                            jittered(self.backoff_base_s, row.attempts, self.backoff_max_s))
                        failures += 1
                        if failures >= 3:
                            break
                        continue
                    failures = 0
                    self._published()
                    done.append(row.id)
                if done:
                    await rows_db.mark_published(conn, done)
                sent += len(done)
            if failures or len(rows) < self.batch:
                break
            await self._prune_when_due()  # a long backlog must not hold pruning back
        await self.report()
        return sent

    def _failed(self, error: str) -> None:
        h = self.health
        h.failures += 1
        h.consecutive_failures += 1
        h.last_error = error[:300]
        if h.failing_since is None:
            h.failing_since = time.monotonic()
            log.warning("outbox relay: publishing failed (%s); rows wait and are retried", error)

    def _published(self) -> None:
        h = self.health
        if h.failing_since is not None:
            log.warning("outbox relay: publishing again after %.1f s and %d failures",
                        h.failing_for(), h.consecutive_failures)
        h.published += 1
        h.consecutive_failures = 0
        h.failing_since = None

    async def missing(self, unready_after_s: float) -> list[str]:
        """For `/readyz`: what is wrong once the relay has failed `unready_after_s` in a row."""
        h = self.health
        if h.ok(unready_after_s):
            return []
        return [f"outbox relay: no publish confirmed for {h.failing_for():.0f} s "
                f"({h.consecutive_failures} failures; last: {h.last_error})"]

    async def report(self) -> Backlog:
        """Read the backlog and hand it to the metric callbacks."""
        backlog = await rows_db.backlog(self.pool, self.exchange)
        if self.on_pending is not None:
            self.on_pending(backlog.pending)
        if self.on_backlog is not None:
            self.on_backlog(backlog)
        return backlog

    async def _prune_when_due(self) -> None:
        if time.monotonic() - self._pruned_at >= min(10.0, max(self.retention_s / 2, self.poll_s)):
            await self.prune()

    async def prune(self, batch: int = 5000) -> int:
        """Delete rows published more than `retention_s` ago; returns how many went."""
        self._pruned_at = time.monotonic()
        removed = 0
        while True:
            count = await rows_db.prune_published(self.pool, self.retention_s, batch)
            removed += count
            if count < batch:
                return removed

    async def pending(self) -> int:
        return (await rows_db.backlog(self.pool, self.exchange)).pending
