"""A consumer the broker cancels by itself (`basic.cancel`) is noticed and comes back.

The broker cancels a consumer when its queue is deleted (or a quorum queue
loses its members) while the connection and the channel stay open: nothing
fails, the process just stops receiving. Readiness must say so
(`/readyz` 503, `prophoto_consumer_up` 0) until the queue is back, and then
the consumer must be subscribed again and work. (The upload service's event
hub owns its queue: aio-pika declares it again at once.)
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import aio_pika
import httpx
import pytest

from shared.broker.publisher import AmqpPublisher, publish_command, publish_status, publish_trace
from shared.broker.topology import Topology
from shared.messages import FinalizeIngest, ProxyStatusChanged
from shared.settings import Settings
from tests.conftest import make_settings, settings_env
from tests.fixtures.outages import eventually
from tests.fixtures.tracing import start_tracing
from tests.fixtures.upload import UploadServer, free_port
from tests.integration.test_outages import start_service, stop_process
from tests.integration.test_tracing_ingest import event, rows_for

pytestmark = pytest.mark.integration


async def readiness(url: str) -> tuple[int, list[str]]:
    try:
        async with httpx.AsyncClient(timeout=3) as c:
            r = await c.get(url)
        return r.status_code, list(r.json().get("missing", []))
    except (httpx.HTTPError, ValueError):
        return 0, []


async def consumer_up(metrics_url: str, queue: str) -> float | None:
    async with httpx.AsyncClient(timeout=3) as c:
        text = (await c.get(metrics_url)).text
    for line in text.splitlines():
        if line.startswith("prophoto_consumer_up{") and f'queue="{queue}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return None


async def delete_queue(amqp: aio_pika.abc.AbstractConnection, name: str) -> None:
    channel = await amqp.channel()
    await channel.queue_delete(name)
    await channel.close()


async def consumers_of(amqp: aio_pika.abc.AbstractConnection, name: str) -> int:
    channel = await amqp.channel()
    try:
        q = await channel.declare_queue(name, passive=True)
        return int(q.declaration_result.consumer_count or 0)
    finally:
        await channel.close()


async def test_a_worker_whose_queue_is_deleted_is_unready_and_consumes_again_once_it_is_back(
    tmp_path: Path, settings: Settings, topology: Topology, amqp, migrated
):
    port = free_port()
    proc = start_service("finalize", settings_env(settings) | {
        "PROPHOTO_FINALIZE_METRICS_PORT": str(port), "PROPHOTO_HEARTBEAT_S": "0.5"})
    ready_url, metrics_url = f"http://127.0.0.1:{port}/readyz", f"http://127.0.0.1:{port}/metrics"
    queue = settings.queue_finalize
    try:
        await eventually(lambda: _status(ready_url, 200), 30, "the worker becomes ready")

        await delete_queue(amqp, queue)  # the broker sends basic.cancel to the worker
        await eventually(lambda: _status(ready_url, 503), 10, "readyz answers 503")
        assert await readiness(ready_url) == (503, ["consumer"])
        await eventually(lambda: _gauge(metrics_url, queue, 0.0), 10, "prophoto_consumer_up is 0")
        assert proc.poll() is None  # alive, so only readiness can tell

        await topology.declare(await amqp.channel())  # the queue is back (empty)
        await eventually(lambda: _status(ready_url, 200), 20, "the worker subscribes again")
        await eventually(lambda: _gauge(metrics_url, queue, 1.0), 10, "prophoto_consumer_up is 1")
        assert await consumers_of(amqp, queue) == 1

        publisher = AmqpPublisher(settings.broker, Topology(settings))  # and it works: a job for nothing is acked as done
        await publisher.connect(declare=False)
        try:
            await publish_command(publisher, topology, FinalizeIngest(
                uuid=uuid.uuid4(), user_id=f"alice-{settings.exchange}"))
        finally:
            await publisher.close()
        await eventually(lambda: _empty(amqp, queue), 20, "the job is consumed")
    finally:
        await stop_process(proc)


async def test_the_trace_consumer_whose_queue_is_deleted_is_unready_and_consumes_again(
    tmp_path: Path, topology: Topology, amqp, pool
):
    settings = make_settings(tmp_path, exchange=topology.settings.exchange,
                             queue_traces=topology.settings.queue_traces, queue_poll_s=0.3)
    photo = uuid.uuid4()
    async with start_tracing(settings) as server:
        url = f"{server.url}/readyz"
        await eventually(lambda: _status(url, 200), 20, "the tracing service is ready")

        await delete_queue(amqp, settings.queue_traces)
        await eventually(lambda: _status(url, 503), 10, "readyz answers 503")
        assert "trace consumer" in (await readiness(url))[1]

        await topology.declare(await amqp.channel())
        await eventually(lambda: _status(url, 200), 20, "the trace consumer subscribes again")
        publisher = AmqpPublisher(topology.settings.broker, topology)
        await publisher.connect(declare=False)
        try:
            await publish_trace(publisher, topology, event(photo, 1))
        finally:
            await publisher.close()
        assert len(await rows_for(pool, photo, 1, within=15)) == 1


async def test_the_upload_services_event_hub_consumes_again_when_its_queue_is_deleted(
    upload_server: UploadServer, topology: Topology, amqp
):
    hub = upload_server.app.state.ctx.extras["events"]  # type: ignore[attr-defined]
    url = f"{upload_server.url}/readyz"
    await eventually(lambda: _status(url, 200), 20, "the upload service is ready")
    await eventually(hub.consuming, 10, "the hub consumes")
    cancelled = asyncio.Event()
    queue = hub._listener.queue
    channel = await queue.channel.get_underlay_channel()
    channel.on_consumer_cancel_callbacks.add(lambda frame: cancelled.set())

    # exclusive, so only its own connection may delete it (the broker also drops it with a node)
    await delete_queue(hub._connection, queue.name)
    await asyncio.wait_for(cancelled.wait(), 5)  # the broker did cancel the consumer
    await eventually(hub.consuming, 15, "the hub consumes again")
    await eventually(lambda: _status(url, 200), 10, "the upload service is ready")

    photo = uuid.uuid4()
    publisher = AmqpPublisher(topology.settings.broker, topology)
    await publisher.connect(declare=False)
    try:
        async with hub.subscribe(str(photo)) as events:
            await publish_status(publisher, topology, ProxyStatusChanged(
                uuid=photo, user_id="alice", status="ready"))
            got = await asyncio.wait_for(events.get(), 10)  # bound again: events reach SSE clients
    finally:
        await publisher.close()
    assert got.uuid == photo and got.status == "ready"


async def _status(url: str, status: int) -> bool:
    return (await readiness(url))[0] == status


async def _gauge(metrics_url: str, queue: str, value: float) -> bool:
    try:
        return await consumer_up(metrics_url, queue) == value
    except httpx.HTTPError:
        return False


async def _empty(amqp: aio_pika.abc.AbstractConnection, queue: str) -> bool:
    channel = await amqp.channel()
    try:
        q = await channel.declare_queue(queue, passive=True)
        return q.declaration_result.message_count == 0
    finally:
        await channel.close()
