"""The topology declared over several channels at once, on the real broker."""

from __future__ import annotations

import aio_pika
import aiormq
import pytest

from shared.broker.topology import Topology
from shared.messages import Lane
from tests.conftest import open_channels

pytestmark = pytest.mark.integration


async def test_every_queue_is_declared_and_a_shard_dead_letters_to_its_lane_parking_queue(topology, amqp):
    channel = await amqp.channel()
    for name in topology.all_queues():
        await channel.declare_queue(name, passive=True)  # raises if any is missing
    shard = topology.shards(topology.lane_queue(Lane.BULK))[-1]
    failed = await channel.get_exchange(topology.failed_exchange)
    await failed.publish(aio_pika.Message(b"x"), routing_key=shard)
    parked = await channel.declare_queue(topology.failed_queue(topology.lane_queue(Lane.BULK)), passive=True)
    assert (await parked.get(timeout=5, fail=True)).body == b"x"
    await channel.close()


async def test_declaring_again_over_several_channels_is_harmless(topology, amqp):
    async with open_channels(amqp) as channels:
        await topology.declare(*channels)
        assert not any(c.is_closed for c in channels)


@pytest.mark.parametrize("channel_count", [1, 4])
async def test_a_queue_declared_with_other_arguments_raises_the_brokers_mismatch(topology, amqp,
                                                                                  channel_count):
    changed = Topology(topology.settings.model_copy(
        update={"delivery_limit": topology.settings.delivery_limit + 1}))
    async with open_channels(amqp, channel_count) as channels:
        with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed):
            await changed.declare(*channels)
