"""Which shard a user's jobs go to (`ShardChooser`), on the real broker and database: users whose
ids hash to the same shard still get one each while there are shards enough."""

from __future__ import annotations

import json
import uuid

import pytest

from shared.broker.publisher import AmqpPublisher
from shared.broker.topology import Topology
from shared.lanes import ShardChooser
from shared.messages import Lane

pytestmark = pytest.mark.integration


def colliding_users(topology: Topology, count: int) -> list[str]:
    """`count` user ids that all hash to the same bulk shard."""
    first = f"c-{uuid.uuid4().hex[:8]}"
    users = [first]
    while len(users) < count:
        other = f"c-{uuid.uuid4().hex[:8]}"
        if topology.hashed_shard(Lane.BULK, other) == topology.hashed_shard(Lane.BULK, first):
            users.append(other)
    return users


async def backlog(topology: Topology, shard: int, jobs: int) -> None:
    publisher = AmqpPublisher(topology.settings.broker, topology)
    await publisher.connect(declare=False)
    try:
        queue = topology.shards(topology.lane_queue(Lane.BULK))[shard]
        for n in range(jobs):
            await publisher.publish(topology.exchange, queue, json.dumps({"n": n}).encode())
    finally:
        await publisher.close()


async def test_users_that_hash_alike_get_a_shard_each_and_keep_it(topology, pool):
    big, small, third = colliding_users(topology, 3)
    chooser = ShardChooser(topology)
    try:
        first = await chooser.choose(pool, Lane.BULK, big)
        assert first == topology.hashed_shard(Lane.BULK, big)  # the bulk lane was empty
        await backlog(topology, first, 5)  # the big user's backlog waits there
        chooser._depths.clear()  # read the depths now, not half a second later
        second = await chooser.choose(pool, Lane.BULK, small)
        assert second != first  # the shard its id hashes to is busy: the next empty one
        await backlog(topology, second, 1)
        chooser._depths.clear()
        assert await chooser.choose(pool, Lane.BULK, big) == first  # each keeps its own
        assert await chooser.choose(pool, Lane.BULK, small) == second
        assert await chooser.choose(pool, Lane.BULK, third) not in (first, second)
        assert await chooser.choose(pool, Lane.ON_DEMAND, big) is None  # one queue, no shards
    finally:
        await chooser.close()


async def test_with_the_broker_unreachable_the_hash_decides(settings, pool, tmp_path):
    from tests.conftest import make_settings

    away = Topology(make_settings(tmp_path, amqp_url="amqp://guest:guest@127.0.0.1:1/"))
    chooser = ShardChooser(away)
    try:
        user = f"u-{uuid.uuid4().hex[:8]}"
        assert await chooser.depths(Lane.BULK) is None
        assert await chooser.choose(pool, Lane.BULK, user) == away.hashed_shard(Lane.BULK, user)
    finally:
        await chooser.close()
