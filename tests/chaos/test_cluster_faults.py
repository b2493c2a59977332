"""One fault at a time against the session's 3-node cluster: publishers and consumers
whose node dies under them."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import aio_pika
import pytest
from yarl import URL

from chaos.infra import RabbitCluster
from shared.broker.publisher import AmqpPublisher, PublishFailed, connect, connect_once
from shared.broker.topology import Topology
from tests.conftest import make_settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


async def declared(tmp_path: Path, cluster: RabbitCluster, first_node: int) -> Topology:
    """A per-test topology on the cluster; the URL list starts at `first_node`."""
    urls = cluster.urls[first_node - 1:] + cluster.urls[:first_node - 1]
    settings = make_settings(tmp_path, amqp_url=",".join(urls), publish_timeout_s=3.0)
    topology = Topology(settings)
    connection = await connect_once(settings.amqp_url)
    async with connection:
        await topology.declare(await connection.channel())
    return topology


async def queued_ids(topology: Topology, queue: str) -> list[str]:
    connection = await connect_once(topology.settings.amqp_url)
    ids: list[str] = []
    async with connection:
        q = await (await connection.channel()).declare_queue(queue, passive=True)
        while (m := await q.get(no_ack=True, fail=False)) is not None:
            ids.append(json.loads(m.body)["id"])
    return ids


async def test_a_publish_whose_node_dies_before_the_confirm_is_retried_and_no_job_is_lost(
    tmp_path: Path, rabbit_cluster: RabbitCluster
):
    topology = await declared(tmp_path, rabbit_cluster, first_node=2)
    queue = topology.settings.queue_preview
    publisher = AmqpPublisher(topology.settings.broker, topology)
    await publisher.connect(declare=False)
    assert publisher.node_url is not None
    node = rabbit_cluster.node_of_port(URL(publisher.node_url).port or 0)
    assert node == 2
    ids: list[str] = []
    retried: set[str] = set()
    killed = asyncio.Event()

    async def publish_all() -> None:
        after_kill = 0
        while after_kill < 50:  # a steady stream before, during and after the kill
            job = str(uuid.uuid4())
            ids.append(job)
            after_kill += killed.is_set()
            while True:  # what the outbox relay and the job runner do: retry until confirmed
                try:
                    await publisher.publish(topology.exchange, queue, json.dumps({"id": job}).encode(),
                                            message_id=job)
                    break
                except PublishFailed:
                    retried.add(job)
                    await asyncio.sleep(0.3)

    try:
        sending = asyncio.create_task(publish_all())
        await asyncio.sleep(0.5)  # mid-stream
        await asyncio.to_thread(rabbit_cluster.kill, node)
        killed.set()
        await asyncio.wait_for(sending, 120)
        assert retried, "no publish met the dead node: the test proved nothing"
        assert URL(publisher.node_url or "").port != rabbit_cluster.port(node)  # it failed over
    finally:
        await publisher.close()
        await asyncio.to_thread(rabbit_cluster.revive, node)
    got = await queued_ids(topology, queue)
    assert set(got) == set(ids)  # every confirmed job is there
    doubled = {j for j in got if got.count(j) > 1}
    assert doubled <= retried  # a job is doubled only when its confirm was lost; consumers dedupe


async def test_deliveries_unacked_on_a_dead_node_are_redelivered_elsewhere_and_done_once(
    tmp_path: Path, rabbit_cluster: RabbitCluster
):
    topology = await declared(tmp_path, rabbit_cluster, first_node=3)
    queue = topology.settings.queue_preview
    ids = [str(uuid.uuid4()) for _ in range(40)]
    connection = await connect_once(topology.settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(topology.exchange)
        for job in ids:
            await exchange.publish(aio_pika.Message(json.dumps({"id": job}).encode(),
                                                    message_id=job), routing_key=queue)
    consumer = await connect(topology.settings.amqp_url, reconnect_interval=0.5)
    node = rabbit_cluster.node_of_port(consumer.url.port or 0)
    assert node == 3
    done: set[str] = set()  # the idempotent "work": a job already done is acked as done
    held: list[aio_pika.abc.AbstractIncomingMessage] = []
    redelivered: list[str] = []
    first_ten = asyncio.Event()

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        job = json.loads(message.body)["id"]
        if message.redelivered:
            redelivered.append(job)
        if not first_ten.is_set():
            held.append(message)  # unacked when the node dies
            if len(held) == 10:
                first_ten.set()
            return
        done.add(job)
        await message.ack()

    try:
        channel = await consumer.channel()
        await channel.set_qos(prefetch_count=10)
        q = await channel.declare_queue(queue, passive=True)
        await q.consume(on_message)
        await asyncio.wait_for(first_ten.wait(), 30)
        await asyncio.to_thread(rabbit_cluster.kill, node)
        for _ in range(600):
            if done >= set(ids):
                break
            await asyncio.sleep(0.1)
    finally:
        await consumer.close()
        await asyncio.to_thread(rabbit_cluster.revive, node)
    assert done == set(ids)
    assert {json.loads(m.body)["id"] for m in held} <= set(redelivered)  # came back elsewhere
    assert consumer.url.port != rabbit_cluster.port(node)
