"""The outbox stays bounded under a long run: published rows go after the retention window."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import aio_pika
import asyncpg
import pytest

from shared.broker.outbox import OutboxRelay, enqueue
from shared.broker.publisher import AmqpPublisher
from shared.broker.topology import Topology
from shared.db import create_pool
from shared.messages import GeneratePreview, Lane
from shared.migrate import migrate
from tests.conftest import DATABASE_URL, make_settings

pytestmark = pytest.mark.integration

ROUNDS, PER_ROUND = 20, 100


async def queue_depth(settings, expected: int, timeout: float = 10.0) -> int:
    """The preview queue's depth, once it reaches `expected` (a quorum queue counts with a lag)."""
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            # every job is one user's: one shard of the interactive lane
            queue = await channel.declare_queue(Topology(settings).shard_for(Lane.INTERACTIVE, "outbox"),
                                                passive=True)
            depth: int = queue.declaration_result.message_count
            if depth >= expected or asyncio.get_running_loop().time() > deadline:
                return depth
            await asyncio.sleep(0.2)


@pytest.fixture
async def own_database():
    """A database of the test's own: pruning deletes every exchange's published rows."""
    base, _, _ = DATABASE_URL.rpartition("/")
    name = f"prophoto_outbox_{uuid.uuid4().hex[:10]}"
    url = f"{base}/{name}"
    yield url
    admin = await asyncpg.connect(f"{base}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def test_the_outbox_table_stays_bounded_while_thousands_of_jobs_go_through(
    tmp_path, topology, own_database
):
    settings = make_settings(tmp_path, database_url=own_database, exchange=topology.settings.exchange,
                             queue_preview=topology.settings.queue_preview)
    await migrate(settings.database)
    pool = await create_pool(settings.database, max_size=4)
    publisher = AmqpPublisher(settings.broker, Topology(settings))
    await publisher.connect(declare=False)
    relay = OutboxRelay(pool, publisher, poll_s=0.05, retention_s=0.3)
    relay.start()
    sizes = []
    try:
        for _ in range(ROUNDS):
            async with pool.acquire() as conn, conn.transaction():
                for _ in range(PER_ROUND):
                    await enqueue(conn, topology, GeneratePreview(
                        uuid=uuid.uuid4(), user_id="outbox", uploaded_at=datetime.now(UTC)))
            relay.wake()
            await asyncio.sleep(0.25)
            sizes.append(await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL"))
        for _ in range(100):  # the relay catches up ...
            if not await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # ... and a retention window later nothing is left
        left = await pool.fetchval("SELECT count(*) FROM outbox")
        unpublished = await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
    finally:
        await relay.stop()
        await publisher.close()
        await pool.close()
    assert unpublished == 0
    delivered = await queue_depth(settings, ROUNDS * PER_ROUND)
    assert delivered == ROUNDS * PER_ROUND  # every job went out ...
    # ... and the table held a few rounds' worth of published rows at most, never the whole run
    assert max(sizes) <= 6 * PER_ROUND, sizes
    assert left == 0
