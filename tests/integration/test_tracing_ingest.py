"""The trace consumer against the real broker and database."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import aio_pika
import asyncpg
import httpx
import pytest

from shared.broker.publisher import AmqpPublisher, publish_trace
from shared.broker.topology import PARK_ERROR_HEADER, PARK_REASON_HEADER, Topology
from shared.messages import TraceEvent
from shared.resource_settings import DatabaseSettings
from tests.conftest import make_settings
from tests.fixtures.tracing import *  # noqa: F403
from tests.fixtures.tracing import start_tracing

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(tmp_path: Path):  # small batches that fill quickly
    return make_settings(tmp_path, trace_batch_size=4, trace_batch_wait_s=0.1, queue_poll_s=0.5)


async def rows_for(pool: asyncpg.Pool, photo: uuid.UUID, want: int, within: float = 10) -> list:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        rows = await pool.fetch(
            "SELECT * FROM ingest_traces WHERE uuid = $1 ORDER BY attempt", photo)
        if len(rows) >= want or asyncio.get_running_loop().time() > deadline:
            return list(rows)
        await asyncio.sleep(0.1)


def event(photo: uuid.UUID, attempt: int, success: bool = True) -> TraceEvent:
    return TraceEvent(uuid=photo, user_id="alice", trace_type="thumbnail_generation",
                      method="vips_thumbnail", success=success,
                      reason=None if success else "decoder said <no>", duration_ms=attempt * 10.0,
                      result_size=100 + attempt, attempt=attempt, service="preview",
                      fields=["taken_at", "lens"] if attempt == 2 else None)


async def test_published_trace_events_become_rows_in_batches(settings, topology: Topology, pool):
    photo = uuid.uuid4()
    publisher = AmqpPublisher(settings.broker, Topology(settings))
    await publisher.connect(declare=False)
    try:
        for attempt in range(1, 11):  # more than two batches of four
            await publish_trace(publisher, topology, event(photo, attempt, success=attempt != 3))
        async with start_tracing(settings) as server:
            rows = await rows_for(pool, photo, 10)
            consumer = server.app.state.consumer
    finally:
        await publisher.close()
    try:
        assert [r["attempt"] for r in rows] == list(range(1, 11))
        assert rows[1]["fields"] == ["taken_at", "lens"] and rows[0]["fields"] is None
        failed = next(r for r in rows if not r["success"])
        assert failed["reason"] == "decoder said <no>"
        assert failed["method"] == "vips_thumbnail" and failed["service"] == "preview"
        assert consumer.stored == 10
    finally:
        await pool.execute("DELETE FROM ingest_traces WHERE uuid = $1", photo)


async def test_a_redelivered_event_is_stored_once(settings, topology: Topology, pool):
    photo = uuid.uuid4()
    publisher = AmqpPublisher(settings.broker, Topology(settings))
    await publisher.connect(declare=False)
    same = event(photo, 1)
    try:
        await publish_trace(publisher, topology, same)
        await publish_trace(publisher, topology, same)  # what a redelivery after commit looks like
        await publish_trace(publisher, topology, event(photo, 2))
        async with start_tracing(settings):
            rows = await rows_for(pool, photo, 2)
            await asyncio.sleep(0.5)
            rows = await rows_for(pool, photo, 3, within=0.1)
    finally:
        await publisher.close()
        await pool.execute("DELETE FROM ingest_traces WHERE uuid = $1", photo)
    assert sorted(r["attempt"] for r in rows) == [1, 2]


async def test_an_unparseable_event_is_parked_with_its_reason_and_the_consumer_keeps_going(
    settings, topology: Topology, pool, amqp
):
    photo = uuid.uuid4()
    publisher = AmqpPublisher(settings.broker, Topology(settings))
    await publisher.connect(declare=False)
    queue = settings.queue_traces
    try:
        await publish_trace(publisher, topology, event(photo, 1))
        await publisher.publish(topology.exchange, queue, b'{"kind": "trace", "uuid": "nope"}')
        await publisher.publish(topology.exchange, queue, b"\xff not json at all")
        await publish_trace(publisher, topology, event(photo, 2))
        async with start_tracing(settings) as server:
            rows = await rows_for(pool, photo, 2)
            await publish_trace(publisher, topology, event(photo, 3))  # still consuming
            rows = await rows_for(pool, photo, 3)
            assert server.app.state.consumer.parked == 2
    finally:
        await publisher.close()
        await pool.execute("DELETE FROM ingest_traces WHERE uuid = $1", photo)
    assert [r["attempt"] for r in rows] == [1, 2, 3]

    channel = await amqp.channel()
    parked = await channel.declare_queue(topology.failed_queue(queue), passive=True)
    messages = []
    for _ in range(2):
        msg = await parked.get(no_ack=True, fail=False, timeout=5)
        assert msg is not None
        messages.append(msg)
    assert messages[0].body == b'{"kind": "trace", "uuid": "nope"}'
    for msg in messages:
        assert msg.headers[PARK_REASON_HEADER] == "invalid trace event"
        assert msg.headers[PARK_ERROR_HEADER]
    work = await channel.declare_queue(queue, passive=True)
    assert work.declaration_result.message_count == 0
    assert isinstance(messages[1], aio_pika.abc.AbstractIncomingMessage)


async def test_a_database_failure_requeues_the_batch_and_it_is_stored_once_the_database_is_back(
    settings, topology: Topology, pool, amqp, monkeypatch
):
    from prometheus_client import CollectorRegistry

    from services.tracing import consumer as consumer_module
    from services.tracing.consumer import TraceConsumer
    from shared.db import create_pool
    from shared.metrics import JobMetrics

    monkeypatch.setattr(consumer_module, "DB_RETRY_PAUSE_S", 0.05)
    photo = uuid.uuid4()
    publisher = AmqpPublisher(settings.broker, Topology(settings))
    await publisher.connect(declare=False)
    # a database without the ingest_traces table stands in for a broken one
    broken = await create_pool(DatabaseSettings(settings.database_url.rsplit("/", 1)[0] + "/postgres"),
                               max_size=1)
    try:
        for attempt in (1, 2):
            await publish_trace(publisher, topology, event(photo, attempt))
        failing = TraceConsumer(Topology(settings), amqp, broken, publisher, JobMetrics(CollectorRegistry()))
        await failing.start()
        batch = await failing.next_batch()
        assert len(batch) == 2
        await failing.handle(batch)  # nacked with requeue
        again = await failing.next_batch()
        assert [m.redelivered for m in again] == [True, True]
        await failing.handle(again)
        await failing.stop()  # its unacked deliveries go back to the queue

        healthy = TraceConsumer(Topology(settings), amqp, pool, publisher, JobMetrics(CollectorRegistry()))
        await healthy.start()

        async def drain() -> None:
            while healthy.stored < 2:
                await healthy.handle(await healthy.next_batch())

        await asyncio.wait_for(drain(), 10)
        await healthy.stop()
        rows = await rows_for(pool, photo, 2)
        assert sorted(r["attempt"] for r in rows) == [1, 2]
        assert failing.stored == 0 and healthy.stored == 2
    finally:
        await broken.close()
        await publisher.close()
        await pool.execute("DELETE FROM ingest_traces WHERE uuid = $1", photo)


async def test_a_thumbnail_attempts_dimensions_are_stored_returned_and_shown(settings, topology: Topology, pool):
    photo = uuid.uuid4()
    sized = event(photo, 1).model_copy(update={"width": 160, "height": 120})
    publisher = AmqpPublisher(settings.broker, Topology(settings))
    await publisher.connect(declare=False)
    try:
        await publish_trace(publisher, topology, sized)
        await publish_trace(publisher, topology, event(photo, 2))  # an attempt that made no image
        async with start_tracing(settings) as server:
            rows = await rows_for(pool, photo, 2)
            async with httpx.AsyncClient(base_url=server.url, headers=server.headers) as c:
                api = (await c.get("/v1/traces", params={"uuid": str(photo)})).json()["items"]
                timeline = (await c.get(f"/admin/ingest-traces/{photo}")).text
                table = (await c.get("/admin/ingest-traces", params={"uuid": str(photo)})).text
    finally:
        await publisher.close()
    try:
        assert [(r["width"], r["height"]) for r in rows] == [(160, 120), (None, None)]
        assert sorted((t["attempt"], t["width"], t["height"]) for t in api) == [
            (1, 160, 120), (2, None, None)]
        assert "160×120 px" in timeline and "160×120" in table
    finally:
        await pool.execute("DELETE FROM ingest_traces WHERE uuid = $1", photo)
