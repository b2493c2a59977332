"""The outbox relay rides out a database that goes away while it holds rows.

The relay reaches PostgreSQL through a `SwitchableProxy` (the machine's
PostgreSQL keeps running for everyone else); the rows are written and read
back on the real port. Whether the database is gone before a pass or in the
middle of one (rows locked, some already published, none marked), every row
is published once it returns, and marked; a row is published twice only when
its confirm came back but the mark was lost with the connection (consumers
dedupe on the message id).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from shared.broker.outbox import OutboxRelay, enqueue
from shared.broker.publisher import AmqpPublisher
from shared.broker.topology import Topology
from shared.db import create_pool
from shared.messages import FinalizeIngest
from tests.conftest import DATABASE_URL, make_settings
from tests.fixtures.outages import SwitchableProxy, eventually
from tests.fixtures.proxies import drain

pytestmark = pytest.mark.integration


async def enqueue_jobs(pool: asyncpg.Pool, topology: Topology, n: int) -> list[str]:
    ids: list[str] = []
    async with pool.acquire() as conn, conn.transaction():
        for _ in range(n):
            job = FinalizeIngest(uuid=uuid.uuid4(), user_id="outbox-outage")
            await enqueue(conn, topology, job)
            ids.append(str(job.uuid))
    return ids


async def unpublished(pool: asyncpg.Pool, topology: Topology) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE exchange = $1 AND published_at IS NULL", topology.exchange)
    return count


async def delivered(topology: Topology) -> Counter[str]:
    messages = await drain(topology.settings, topology.settings.queue_finalize)
    return Counter(json.loads(m.body)["uuid"] for m in messages)


class CuttingPublisher:
    """Publishes for real; after `cut_after` publishes, cuts the relay's database first."""

    def __init__(self, inner: AmqpPublisher, proxy: SwitchableProxy, cut_after: int) -> None:
        self.inner, self.proxy, self.cut_after = inner, proxy, cut_after
        self.published: list[str] = []

    async def publish(self, exchange: str, routing_key: str, body: bytes, **kw: Any) -> None:
        if len(self.published) == self.cut_after:
            await self.proxy.down()
        await self.inner.publish(exchange, routing_key, body, **kw)
        self.published.append(kw["message_id"])


@asynccontextmanager
async def relay_parts(tmp_path: Path, topology: Topology) -> AsyncIterator[tuple[SwitchableProxy, asyncpg.Pool,
                                                                                 AmqpPublisher]]:
    """The relay's database pool behind a proxy that can cut it, and a real publisher."""
    proxy = SwitchableProxy(5432)
    await proxy.up()
    settings = make_settings(tmp_path, database_url=proxy.url_for(DATABASE_URL, 5432),
                             exchange=topology.exchange, queue_finalize=topology.settings.queue_finalize)
    relay_pool = await create_pool(settings.database, max_size=2)
    publisher = AmqpPublisher(settings.broker, Topology(settings))
    try:
        yield proxy, relay_pool, publisher
    finally:
        await relay_pool.close()
        await publisher.close()
        await proxy.down()


async def test_rows_waiting_while_the_database_is_gone_are_published_once_it_returns(
    tmp_path: Path, topology: Topology, pool: asyncpg.Pool
):
    async with relay_parts(tmp_path, topology) as (proxy, relay_pool, publisher):
        relay = OutboxRelay(relay_pool, publisher, poll_s=0.2, exchange=topology.exchange)
        try:
            await proxy.down()
            ids = await enqueue_jobs(pool, topology, 12)  # committed while the relay cannot see them
            relay.start()
            await asyncio.sleep(2.0)  # several passes fail against the missing database
            assert await delivered(topology) == Counter()
            assert await unpublished(pool, topology) == 12

            await proxy.up()
            await eventually(lambda: _none_left(pool, topology), 20, "every row is published")
            assert await delivered(topology) == Counter({i: 1 for i in ids})  # each exactly once
        finally:
            await relay.stop()


async def test_rows_held_by_the_relay_when_the_database_goes_are_published_once_it_returns(
    tmp_path: Path, topology: Topology, pool: asyncpg.Pool
):
    async with relay_parts(tmp_path, topology) as (proxy, relay_pool, inner):
        publisher = CuttingPublisher(inner, proxy, cut_after=5)
        relay = OutboxRelay(relay_pool, publisher, poll_s=0.2, batch=10, exchange=topology.exchange)
        try:
            ids = await enqueue_jobs(pool, topology, 10)  # one batch: all ten locked by the relay
            with pytest.raises((OSError, asyncpg.PostgresError, asyncpg.InterfaceError)):
                await relay.flush()  # the database vanishes after five publishes, before the mark
            assert len(publisher.published) == 10  # the publishes themselves went on
            assert await unpublished(pool, topology) == 10  # but not one row was marked

            relay.start()
            await asyncio.sleep(1.0)  # the relay keeps trying while the database is gone
            await proxy.up()
            await eventually(lambda: _none_left(pool, topology), 20, "every row is published")
            got = await delivered(topology)
            assert set(got) == set(ids)  # nothing lost
            # the held rows went out again (their marks were lost with the connection), once more
            assert all(n == 2 for n in got.values()), got
            await asyncio.sleep(1.0)
            assert await delivered(topology) == Counter()  # and they are not published again
        finally:
            await relay.stop()


async def _none_left(pool: asyncpg.Pool, topology: Topology) -> bool:
    return await unpublished(pool, topology) == 0
