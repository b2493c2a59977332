"""QueueConsumer against the real broker: manual acks, readiness, and a graceful stop."""

from __future__ import annotations

import asyncio

import aio_pika
import pytest

from shared.broker.publisher import AmqpPublisher, connect
from shared.broker.topology import Topology
from shared.worker.consumer import QueueConsumer

pytestmark = pytest.mark.integration


async def waiting(amqp: aio_pika.abc.AbstractConnection, queue: str) -> int:
    channel = await amqp.channel()
    declared = await channel.declare_queue(queue, passive=True)
    await channel.close()
    return int(declared.declaration_result.message_count or 0)


async def publish(topology: Topology, queue: str, bodies: list[bytes]) -> None:
    publisher = AmqpPublisher(topology.settings.broker, topology)
    await publisher.connect(declare=False)
    try:
        for body in bodies:
            await publisher.publish(topology.exchange, queue, body)
    finally:
        await publisher.close()


async def test_a_stop_lets_the_job_under_way_finish_and_leaves_the_rest_queued(topology, amqp):
    queue = topology.settings.queue_preview
    await publish(topology, queue, [b"first", b"second", b"third"])
    started, handled = asyncio.Event(), []

    async def handle(msg: aio_pika.abc.AbstractIncomingMessage) -> None:
        started.set()
        await asyncio.sleep(0.5)  # a job under way when the stop comes
        handled.append(msg.body)
        await msg.ack()

    connection = await connect(topology.settings.amqp_url)
    consumer = QueueConsumer(connection, queue, 1, handle)
    try:
        await consumer.start()
        assert await consumer.missing() == []
        await asyncio.wait_for(started.wait(), 10)
        await consumer.stop(grace_s=5)
        assert handled == [b"first"]  # finished and acked, nothing after it taken
        assert await consumer.missing() == ["consumer channel"]
    finally:
        await connection.close()
    assert await waiting(amqp, queue) == 2


async def test_a_job_still_running_after_the_grace_goes_back_to_the_queue(topology, amqp):
    queue = topology.settings.queue_preview
    await publish(topology, queue, [b"slow"])
    started = asyncio.Event()

    async def handle(msg: aio_pika.abc.AbstractIncomingMessage) -> None:
        started.set()
        await asyncio.sleep(30)
        await msg.ack()

    connection = await connect(topology.settings.amqp_url)
    consumer = QueueConsumer(connection, queue, 1, handle)
    try:
        await consumer.start()
        await asyncio.wait_for(started.wait(), 10)
        await consumer.stop(grace_s=0.2)
    finally:
        await connection.close()
    assert await waiting(amqp, queue) == 1  # unacked, so redelivered to the next consumer
