"""Every preview lane keeps the retry and park guarantees: waits through the lane's own retry
queues, parking in the lane's own parking queue (the probe worker on the real harness)."""

from __future__ import annotations

import asyncio
import json

import aio_pika
import pytest

from shared.broker.topology import PARK_REASON_HEADER, QUEUE_HEADER, Topology
from shared.messages import Lane
from tests.integration.test_retry_mechanism import publisher, wait_for, workers  # noqa: F401

pytestmark = pytest.mark.integration


async def parked_in(settings, queue: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    conn = await aio_pika.connect(settings.amqp_url)
    out = []
    async with conn:
        channel = await conn.channel()
        q = await channel.declare_queue(queue, passive=True)
        while (m := await q.get(no_ack=True, fail=False)) is not None:
            out.append(m)
    return out


async def test_a_retry_and_a_park_on_each_lane_stay_in_that_lane(workers, publisher, settings,  # noqa: F811
                                                                  topology: Topology):
    workers.start()
    for lane in Lane:
        shard = topology.shard_for(lane, f"user-of-{lane.value}")
        for mode in ("fail_twice", "permanent"):
            body = json.dumps({"id": f"{lane.value}-{mode}", "mode": mode}).encode()
            await publisher.publish(settings.exchange, shard, body, message_id=f"{lane}-{mode}")
    for lane in Lane:
        await wait_for(lambda lane=lane: (f"{lane.value}-fail_twice", 3, "done") in workers.lines())
        await wait_for(lambda lane=lane: any(
            i == f"{lane.value}-permanent" and r.startswith("parked") for i, _, r in workers.lines()))
    for lane in Lane:
        base = topology.lane_queue(lane)
        parked = await parked_in(settings, topology.failed_queue(base))
        assert [json.loads(m.body)["id"] for m in parked] == [f"{lane.value}-permanent"]
        assert parked[0].headers[QUEUE_HEADER] == base
        assert parked[0].headers[PARK_REASON_HEADER] == "corrupt image data (simulated)"
        attempts = [a for i, a, r in workers.lines() if i == f"{lane.value}-fail_twice" and r == "start"]
        assert attempts == [1, 2, 3]


async def test_the_broker_dead_letters_a_shards_message_to_its_lanes_parking_queue(
        settings, topology: Topology, amqp):
    shard = topology.shard_for(Lane.BULK, "someone")
    assert shard in topology.shards(topology.lane_queue(Lane.BULK))
    channel = await amqp.channel()
    exchange = await channel.get_exchange(settings.exchange, ensure=False)
    await exchange.publish(aio_pika.Message(b'{"id": "x"}', delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                           routing_key=shard)
    queue = await channel.declare_queue(shard, passive=True)
    message = await queue.get(timeout=5)
    await message.reject(requeue=False)  # as the broker does past the delivery limit
    failed = topology.failed_queue(topology.lane_queue(Lane.BULK))
    for _ in range(50):
        parked = await parked_in(settings, failed)
        if parked:
            break
        await asyncio.sleep(0.1)
    assert [m.body for m in parked] == [b'{"id": "x"}']
