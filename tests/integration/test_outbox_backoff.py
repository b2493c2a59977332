"""A row the broker refuses backs off on its own; the relay's health and backlog say so.

The publisher here is the real one against the real broker; "refused" is a
row for a routing key no queue is bound to (the mandatory publish comes back
unroutable), the same path a nack or a missing confirm takes.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from shared.broker.outbox import OutboxRelay, enqueue
from shared.broker.publisher import AmqpPublisher
from shared.broker.topology import Topology
from shared.db import create_pool
from shared.db import outbox as rows_db
from shared.messages import FinalizeIngest
from tests.conftest import make_settings

pytestmark = pytest.mark.integration


async def test_a_refused_row_waits_its_jittered_backoff_and_holds_back_no_other_row(tmp_path: Path):
    settings = make_settings(tmp_path)
    topology = Topology(settings)
    pool = await create_pool(settings.database)
    publisher = AmqpPublisher(settings.broker, topology)
    await publisher.connect(declare=True)
    relay = OutboxRelay(pool, publisher, poll_s=0.1, backoff_base_s=0.4, backoff_max_s=2.0,
                        exchange=topology.exchange)
    try:
        async with pool.acquire() as conn, conn.transaction():
            bad = await rows_db.insert(conn, topology.exchange, "nowhere", None, {}, b"{}")
            good = [await enqueue(conn, topology, FinalizeIngest(uuid=uuid.uuid4(), user_id="bk"))
                    for _ in range(3)]
        await relay.flush()
        rows = {r["id"]: r for r in await pool.fetch(
            "SELECT id, attempts, published_at, next_attempt_at - now() AS wait FROM outbox"
            " WHERE id = ANY($1::bigint[])", [bad, *good])}
        assert all(rows[g]["published_at"] is not None for g in good)  # not held back
        assert rows[bad]["attempts"] == 1 and rows[bad]["published_at"] is None
        assert 0.1 < rows[bad]["wait"].total_seconds() <= 0.4  # base * 2^0, jittered 0.5-1.0
        assert relay.health.failures == 1 and publisher.recovery.channels_dropped >= 1
        # not due yet: the next pass does not touch it
        await relay.flush()
        assert await pool.fetchval("SELECT attempts FROM outbox WHERE id = $1", bad) == 1
        await asyncio.sleep(0.5)
        await relay.flush()
        row = await pool.fetchrow("SELECT attempts, next_attempt_at - now() AS wait FROM outbox"
                                  " WHERE id = $1", bad)
        assert row["attempts"] == 2 and 0.3 < row["wait"].total_seconds() <= 0.8  # doubled
        backlog = await rows_db.backlog(pool, topology.exchange)
        assert backlog.pending == 1 and backlog.failing == 1 and backlog.oldest_age_s > 0.4
        assert backlog.last_error and "NO_ROUTE" in backlog.last_error
        assert await relay.missing(unready_after_s=60) == []
        await asyncio.sleep(0.2)
        missing = await relay.missing(unready_after_s=0.1)
        assert missing and "no publish confirmed" in missing[0]
        # the publisher took a fresh channel after each refusal: the good rows still go out
        async with pool.acquire() as conn, conn.transaction():
            more = await enqueue(conn, topology, FinalizeIngest(uuid=uuid.uuid4(), user_id="bk"))
        await relay.flush()
        assert await pool.fetchval("SELECT published_at FROM outbox WHERE id = $1", more)
        assert relay.health.failing_since is None  # a confirm ends the run of failures
    finally:
        await pool.execute("DELETE FROM outbox WHERE exchange = $1", topology.exchange)
        await publisher.close()
        await pool.close()
