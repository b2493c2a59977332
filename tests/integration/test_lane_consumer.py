"""The lane consumer on the real broker: which job a worker takes next, and fair turns per user."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid

import aio_pika
import psutil
import pytest

from shared.broker.publisher import AmqpPublisher, connect
from shared.broker.topology import Topology
from shared.messages import Lane
from shared.worker.lanes import LaneConsumer

pytestmark = pytest.mark.integration


def users_in_distinct_shards(topology: Topology, lane: Lane, count: int) -> list[str]:
    """Users whose jobs wait in different shards of `lane` (two users in one shard share its turn)."""
    found: dict[str, str] = {}
    while len(found) < count:
        user = f"u-{uuid.uuid4().hex[:8]}"
        found.setdefault(topology.shard_for(lane, user), user)
    return list(found.values())


async def publish(topology: Topology, jobs: list[tuple[Lane, str, str]]) -> None:
    publisher = AmqpPublisher(topology.settings.broker, topology)
    await publisher.connect(declare=False)
    try:
        for lane, user, name in jobs:
            await publisher.publish(topology.exchange, topology.shard_for(lane, user),
                                    json.dumps({"name": name, "user": user}).encode())
    finally:
        await publisher.close()


async def run_in_order(topology: Topology, jobs: list[tuple[Lane, str, str]]) -> list[str]:
    """Every job's name in the order the consumer started them (the first one is held back until
    every lane's head is here, so the order after it is the consumer's choice, not arrival's)."""
    order: list[str] = []
    everything_held = asyncio.Event()
    done = asyncio.Event()

    async def handle(msg: aio_pika.abc.AbstractIncomingMessage, queue: str) -> None:
        order.append(json.loads(msg.body)["name"])
        if len(order) == 1:
            await everything_held.wait()
        await asyncio.sleep(0.02)  # a job takes some time: the queue's next message arrives meanwhile
        await msg.ack()
        if len(order) == len(jobs):
            done.set()

    connection = await connect(topology.settings.amqp_url)
    consumer = LaneConsumer(connection, [queues for _, queues in topology.lanes()], 1, handle)
    try:
        await consumer.start()
        assert await consumer.missing() == []
        heads = {topology.shard_for(lane, user) for lane, user, _ in jobs}
        for _ in range(200):
            if len(consumer.held) >= len(heads) - 1:
                break
            await asyncio.sleep(0.05)
        everything_held.set()
        await asyncio.wait_for(done.wait(), 20)
    finally:
        await consumer.stop()
        await connection.close()
    return order


async def test_on_demand_comes_first_then_interactive_then_bulk_with_users_taking_turns(topology):
    a, b = users_in_distinct_shards(topology, Lane.BULK, 2)
    jobs = ([(Lane.BULK, a, f"bulk-a{i}") for i in range(6)] + [(Lane.BULK, b, f"bulk-b{i}") for i in range(3)]
            + [(Lane.INTERACTIVE, b, "inter-b0"), (Lane.INTERACTIVE, b, "inter-b1"),
               (Lane.ON_DEMAND, a, "first-a")])
    await publish(topology, jobs)
    order = await run_in_order(topology, jobs)
    rest = order[1:]  # the first job was whatever arrived first
    assert sorted(order) == sorted(name for _, _, name in jobs)
    wanted_first = [n for n in ("first-a", "inter-b0", "inter-b1") if n in rest]
    assert rest[:len(wanted_first)] == wanted_first, order
    bulk = [n for n in rest if n.startswith("bulk")]
    # while both users have work, they alternate; then a's remaining jobs follow
    users = "".join(n[5] for n in bulk)
    b_left = sum(1 for n in bulk if n.startswith("bulk-b"))
    assert users[: 2 * b_left].count("b") == b_left and "bb" not in users, order
    assert users.endswith("a" * (users.count("a") - b_left)), order


async def test_interactive_work_waits_for_at_most_the_job_under_way(topology):
    """A bulk backlog is being worked through; an interactive job arriving then is the next one."""
    (a,) = users_in_distinct_shards(topology, Lane.BULK, 1)
    backlog = [(Lane.BULK, a, f"bulk-{i}") for i in range(20)]
    await publish(topology, backlog)
    order: list[str] = []
    done = asyncio.Event()

    async def handle(msg: aio_pika.abc.AbstractIncomingMessage, queue: str) -> None:
        order.append(json.loads(msg.body)["name"])
        if len(order) == 3:
            await publish(topology, [(Lane.INTERACTIVE, "someone-else", "interactive")])
            await asyncio.sleep(0.3)  # the job under way: the interactive one arrives meanwhile
        await msg.ack()
        if len(order) == 21:
            done.set()

    connection = await connect(topology.settings.amqp_url)
    consumer = LaneConsumer(connection, [queues for _, queues in topology.lanes()], 1, handle)
    try:
        await consumer.start()
        await asyncio.wait_for(done.wait(), 20)
    finally:
        await consumer.stop()
        await connection.close()
    assert order.index("interactive") == 3, order


async def test_a_stop_sends_the_held_jobs_back_as_fresh_copies_that_count_no_failed_delivery(topology):
    a, b = users_in_distinct_shards(topology, Lane.BULK, 2)
    jobs = [(Lane.BULK, a, "a0"), (Lane.BULK, a, "a1"), (Lane.BULK, b, "b0"), (Lane.INTERACTIVE, b, "i0")]
    await publish(topology, jobs)
    running, finish = asyncio.Event(), asyncio.Event()
    done: list[str] = []

    async def handle(msg: aio_pika.abc.AbstractIncomingMessage, queue: str) -> None:
        running.set()
        await finish.wait()
        done.append(json.loads(msg.body)["name"])
        await msg.ack()

    publisher = AmqpPublisher(topology.settings.broker, topology)
    await publisher.connect(declare=False)

    async def release(msg: aio_pika.abc.AbstractIncomingMessage, queue: str) -> bool:
        await publisher.publish(topology.exchange, queue, msg.body, message_id=msg.message_id)
        return True

    connection = await connect(topology.settings.amqp_url)
    consumer = LaneConsumer(connection, [queues for _, queues in topology.lanes()], 1, handle)
    try:
        await consumer.start()
        await asyncio.wait_for(running.wait(), 10)
        for _ in range(100):  # the other three are held here
            if sum(len(h) for h in consumer.held.values()) == 3:
                break
            await asyncio.sleep(0.05)
        finish.set()
        await consumer.stop(grace_s=5, release=release)
    finally:
        await connection.close()
        await publisher.close()
    back: dict[str, object] = {}
    channel = await (await connect(topology.settings.amqp_url)).channel()
    for _, queues in topology.lanes():
        for name in queues:
            q = await channel.declare_queue(name, passive=True)
            while (m := await q.get(no_ack=True, fail=False)) is not None:
                back[json.loads(m.body)["name"]] = (m.headers or {}).get("x-delivery-count", 0)
    assert len(done) == 1 and sorted([*done, *back]) == ["a0", "a1", "b0", "i0"]
    assert set(back.values()) == {0}  # copies: no failed delivery counted against them


def _ctl(*args: str) -> list[list[str]]:
    """`rabbitmqctl -q ARGS --no-table-headers` on the default node, read-only but for
    closing this test's own connection; its rows split on whitespace."""
    out = subprocess.run(["rabbitmqctl", "-q", *args, "--no-table-headers"], check=False,
                         capture_output=True, text=True, timeout=60).stdout
    return [line.split() for line in out.splitlines()]


def _consumers(queues: set[str]) -> tuple[dict[str, list[int]], set[str]]:
    """The prefetch of each consumer of `queues`, per queue, and their channels."""
    found: dict[str, list[int]] = {}
    channels: set[str] = set()
    for row in _ctl("list_consumers", "queue_name", "channel_pid", "prefetch_count"):
        if len(row) == 3 and row[0] in queues and row[2].isdigit():
            found.setdefault(row[0], []).append(int(row[2]))
            channels.add(row[1])
    return found, channels


async def _subscribed(queues: set[str], within_s: float, not_on: set[str] | None = None
                      ) -> tuple[dict[str, list[int]], set[str]]:
    """The broker's listing once every queue has a consumer (on none of the channels
    `not_on`), or the last listing after `within_s`."""
    seen: tuple[dict[str, list[int]], set[str]] = ({}, set())
    for _ in range(int(within_s / 0.5)):
        seen = await asyncio.to_thread(_consumers, queues)
        if set(seen[0]) == queues and not seen[1] & (not_on or set()):
            break
        await asyncio.sleep(0.5)
    return seen


async def test_each_lane_keeps_its_prefetch_after_the_broker_drops_the_connection(topology):
    """After a reconnect the robust connection re-subscribes every consumer: each lane's queues
    must get that lane's prefetch again (two ahead of the last lane), not one for all."""
    lanes = [queues for _, queues in topology.lanes()]
    wanted = {q: [2 if i < len(lanes) - 1 else 1] for i, lane in enumerate(lanes) for q in lane}

    async def handle(msg: aio_pika.abc.AbstractIncomingMessage, queue: str) -> None:
        await msg.ack()

    before = {c.laddr.port for c in psutil.Process().net_connections("tcp")
              if c.raddr and c.raddr.port == 5672}
    connection = await connect(topology.settings.amqp_url)
    consumer = LaneConsumer(connection, lanes, 1, handle)
    try:
        await consumer.start()
        prefetches, channels = await _subscribed(set(wanted), 20)
        assert prefetches == wanted
        mine = {c.laddr.port for c in psutil.Process().net_connections("tcp")
                if c.raddr and c.raddr.port == 5672} - before
        pids = [row[0] for row in await asyncio.to_thread(_ctl, "list_connections", "pid", "peer_port")
                if len(row) == 2 and row[1].isdigit() and int(row[1]) in mine]
        assert len(pids) == 1, (mine, pids)
        await asyncio.to_thread(subprocess.run, ["rabbitmqctl", "-q", "close_connection", pids[0],
                                                 "test: the node went away"], check=True, timeout=60)
        # the same queues subscribed again, on new channels
        prefetches, again = await _subscribed(set(wanted), 30, not_on=channels)
        assert not again & channels and prefetches == wanted
        assert await consumer.missing() == []
    finally:
        await consumer.stop()
        await connection.close()
