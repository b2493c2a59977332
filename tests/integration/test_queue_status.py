"""`/v1/queue-status` against the real broker: idle, pending, stalled, processing."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import aio_pika
import httpx
import pytest

from shared.broker.publisher import AmqpPublisher
from shared.broker.topology import Topology
from shared.worker.heartbeat import Beacon
from tests.conftest import make_settings
from tests.fixtures.tracing import *  # noqa: F403
from tests.fixtures.tracing import beating, start_tracing

pytestmark = pytest.mark.integration


@pytest.fixture
def worker(fake_worker_metrics):
    return fake_worker_metrics


@pytest.fixture
def settings(tmp_path: Path):
    return make_settings(tmp_path, stalled_after_s=1.0, queue_poll_s=0.3)


async def status_of(server, queue: str | None = None) -> dict:
    async with httpx.AsyncClient(base_url=server.url, headers=server.headers) as c:
        r = await c.get("/v1/queue-status")
    assert r.status_code == 200, r.text
    body = r.json()
    return body if queue is None else body["queues"][queue]


async def publish_jobs(settings, topology: Topology, n: int, queue: str) -> None:
    publisher = AmqpPublisher(settings.broker, Topology(settings))
    await publisher.connect(declare=False)
    try:
        for i in range(n):
            await publisher.publish(topology.exchange, queue, b'{"job": %d}' % i)
    finally:
        await publisher.close()


async def test_a_queue_with_a_consumer_and_nothing_waiting_reads_idle(
    settings, topology, amqp, migrated
):
    channel = await amqp.channel()
    queue = await channel.get_queue(settings.queue_preview, ensure=False)
    await queue.consume(lambda msg: None)
    async with start_tracing(settings) as server:
        body = await status_of(server)
    preview = body["queues"][settings.queue_preview]
    assert preview["worker"]["status"] == "idle"
    assert preview["broker"]["consumers"] == 1 and preview["broker"]["ready"] == 0
    assert preview["jobs"] == {"pending": 0, "failed": 0, "ingest_pending": 0}
    assert set(preview["broker"]["wait_queues"]) == {
        name for name, _ in topology.wait_queues(settings.queue_preview)}
    # nobody consumes enhance jobs and none wait: the service cannot tell
    assert body["queues"][settings.queue_enhance]["worker"]["status"] == "unknown"
    # the tracing service consumes its own queue
    assert body["queues"][settings.queue_traces]["worker"]["status"] == "idle"
    assert body["broker"]["product"] == "RabbitMQ" and body["broker"]["version"]
    assert body["broker"]["cluster_name"]


async def test_queued_jobs_without_a_consumer_read_pending_then_stalled_after_the_threshold(
    settings, topology, migrated
):
    await publish_jobs(settings, topology, 3, settings.queue_finalize)
    await publish_jobs(settings, topology, 1, settings.queue_preview)
    publisher = AmqpPublisher(settings.broker, Topology(settings))
    await publisher.connect(declare=False)
    await publisher.publish(topology.failed_exchange, settings.queue_finalize, b"{}")  # parked
    await publisher.close()
    async with start_tracing(settings) as server:
        first = await status_of(server, settings.queue_finalize)
        assert first["worker"]["status"] == "pending"
        assert first["broker"]["ready"] == 3 and first["broker"]["consumers"] == 0
        await asyncio.sleep(settings.stalled_after_s + 0.3)
        later = await status_of(server)
    finalize = later["queues"][settings.queue_finalize]
    assert finalize["worker"]["status"] == "stalled"
    assert finalize["jobs"] == {"pending": 3, "failed": 1, "ingest_pending": 3}
    assert later["queues"][settings.queue_preview]["jobs"]["ingest_pending"] == 3
    assert later["totals"]["failed"] == 1 and later["totals"]["pending"] == 4


async def test_a_busy_worker_reads_processing_and_idle_again_when_it_is_done(
    settings, topology, amqp, worker, migrated
):
    queue_name = settings.queue_preview
    await publish_jobs(settings, topology, 2, queue_name)
    channel = await amqp.channel()
    await channel.set_qos(prefetch_count=1)
    queue = await channel.get_queue(queue_name, ensure=False)
    held: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage] = asyncio.Queue()
    async with start_tracing(settings) as server, \
            beating(settings, worker.registry, queue_name) as beacon:
        worker.jobs.started(queue_name)  # the test worker reports before it takes the message
        await beacon.beat()
        await queue.consume(held.put)
        msg = await asyncio.wait_for(held.get(), 5)
        busy = await status_of(server, queue_name)
        assert busy["worker"]["status"] == "processing"
        assert busy["worker"]["in_progress"] == 1 and busy["worker"]["workers_reporting"] == 1
        assert busy["broker"]["ready"] == 1  # the second job waits behind prefetch=1

        await asyncio.sleep(settings.stalled_after_s + 0.3)  # a long job is not a stall
        assert (await status_of(server, queue_name))["worker"]["status"] == "processing"

        await msg.ack()
        worker.jobs.finished(queue_name, "success", 0.1)
        worker.jobs.started(queue_name)
        second = await asyncio.wait_for(held.get(), 5)
        await second.ack()
        worker.jobs.finished(queue_name, "success", 0.1)
        await beacon.beat()
        await asyncio.sleep(0.1)
        done = await status_of(server, queue_name)
    assert done["worker"]["status"] == "idle"
    assert done["broker"] == done["broker"] | {"ready": 0, "consumers": 1}


@pytest.mark.parametrize("replicas", [1, 2, 4])
async def test_workers_are_counted_from_their_heartbeats_however_many_replicas_come_and_go(
    settings, topology, migrated, replicas
):
    """No list of workers anywhere: replicas announce themselves and silent ones expire."""
    from prometheus_client import CollectorRegistry

    from shared.metrics import JobMetrics

    queue_name = settings.queue_preview
    registries = [CollectorRegistry() for _ in range(replicas)]
    jobs = [JobMetrics(r) for r in registries]
    async with start_tracing(settings) as server, contextlib.AsyncExitStack() as stack:
        beacons = [await stack.enter_async_context(beating(settings, r, queue_name, every_s=0.2))
                   for r in registries]
        for j in jobs:
            j.started(queue_name)
        for b in beacons:
            await b.beat()
        await asyncio.sleep(0.2)
        busy = (await status_of(server, queue_name))["worker"]
        assert busy["workers_reporting"] == replicas and busy["in_progress"] == replicas
        assert busy["status"] == "processing"
        await stack.aclose()  # every replica stops cleanly: a leaving beat each
        await asyncio.sleep(0.2)
        gone = (await status_of(server, queue_name))["worker"]
        assert gone["workers_reporting"] == 0 and gone["status"] != "processing"

        publisher = AmqpPublisher(settings.broker, Topology(settings))  # a worker killed mid-job: one beat, then silence
        await publisher.connect(declare=False)
        try:
            await Beacon(publisher, topology, registries[0], "preview", queue_name, 0.2).beat()
            await asyncio.sleep(0.1)
            assert (await status_of(server, queue_name))["worker"]["workers_reporting"] == 1
            await asyncio.sleep(0.2 * 3 + 0.3)  # three beats missed
            assert (await status_of(server, queue_name))["worker"]["workers_reporting"] == 0
        finally:
            await publisher.close()
