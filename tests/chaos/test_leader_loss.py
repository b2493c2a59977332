"""A publisher that outlives the leader of the queue it publishes to.

The trap (measured on the 3-node harness): after a quorum queue's leader dies,
a channel that published to it can go on nacking, or never confirm, while a
fresh channel is acked at once. The publisher must recover by itself: drop
the failed channel (and, after several failures, its connection, moving on
to the next node) and go on, with no restart.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import pytest

from chaos.infra import RabbitCluster
from shared.broker.publisher import AmqpPublisher, PublishFailed
from shared.resource_settings import BrokerSettings
from tests.chaos.test_cluster_faults import declared, queued_ids

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


async def test_a_publisher_on_a_revived_node_rides_out_the_loss_of_its_queues_leader(
    tmp_path: Path, rabbit_cluster: RabbitCluster
):
    topology = await declared(tmp_path, rabbit_cluster, first_node=1)
    queue = topology.settings.queue_finalize
    leader = await asyncio.to_thread(rabbit_cluster.leader, queue)
    # the publisher starts on a node that does not lead the queue: that node dies and comes
    # back first (the upload service's history in the field), then the leader dies
    start = next(n for n in range(1, rabbit_cluster.count + 1) if n != leader)
    urls = rabbit_cluster.urls[start - 1:] + rabbit_cluster.urls[:start - 1]
    publisher = AmqpPublisher(BrokerSettings(",".join(urls), 3.0), topology)
    await publisher.connect(declare=False)
    assert publisher.node_url is not None and f":{rabbit_cluster.port(start)}/" in publisher.node_url
    ids: list[str] = []
    retried: set[str] = set()
    waits: list[tuple[float, float]] = []  # (started, confirmed) of each publish, monotonic

    killed = [float("inf")]  # when the leader died

    async def publish(count: int, after_kill: int = 0) -> None:
        while count > 0 or sum(began >= killed[0] for began, _ in waits) < after_kill:
            count -= 1
            job = str(uuid.uuid4())
            ids.append(job)
            began = time.monotonic()
            while True:  # what the relay does, without its backoff: try again until confirmed
                try:
                    await publisher.publish(topology.exchange, queue,
                                            json.dumps({"id": job}).encode(), message_id=job)
                    break
                except PublishFailed:
                    retried.add(job)
                    await asyncio.sleep(0.2)
            waits.append((began, time.monotonic()))
            await asyncio.sleep(0.02)  # a steady stream, as a relay under load sends

    try:
        await asyncio.to_thread(rabbit_cluster.kill, start)
        await publish(20)
        await asyncio.to_thread(rabbit_cluster.revive, start)
        leader = await asyncio.to_thread(rabbit_cluster.leader, queue)
        sending = asyncio.create_task(publish(10, after_kill=100))
        await asyncio.sleep(0.3)
        killed[0] = time.monotonic()
        await asyncio.to_thread(rabbit_cluster.kill, leader)
        await asyncio.wait_for(sending, 90)
        after = [done - killed[0] for began, done in waits if began >= killed[0]]
        assert len(after) >= 100
        print(f"leader (node {leader}) killed: {len(after)} publishes after it, the slowest "
              f"confirmed {max(after):.1f} s after the kill; {publisher.recovery}")
        # every publish after the kill was confirmed soon after: the stream resumed by itself
        assert max(after) < 30, (max(after), publisher.recovery)
    finally:
        await publisher.close()
        for node in range(1, rabbit_cluster.count + 1):
            if not rabbit_cluster.alive(node):
                await asyncio.to_thread(rabbit_cluster.revive, node)
    got = await queued_ids(topology, queue)
    assert set(got) == set(ids)
    assert {j for j in got if got.count(j) > 1} <= retried


async def test_each_work_queues_leader_killed_while_its_commands_are_published_costs_no_restart(
    tmp_path: Path, own_postgres, rabbit_cluster: RabbitCluster
):
    """120 photos confirmed while the ingest leader dies: all Images within 60 s, none twice;
    the same for previews (both lanes) and enhancements; no process restarted. (The frozen
    worker phase is test_frozen_worker.py.)"""
    from chaos.leaders import LeaderLoss, LeaderLossConfig
    from chaos.soak import free_ports, migrate_and_declare

    config = LeaderLossConfig(phases=("warm-up", "previews", "enhance", "ingest"))
    run = LeaderLoss(config, own_postgres, rabbit_cluster, tmp_path, free_ports(7))
    await migrate_and_declare(run.settings)
    report = await run.run()
    print(report.render())
    assert report.problems() == [], report.render()
    ingest = next(p for p in report.phases if p.name == "ingest")
    assert ingest.done == 120 and report.duplicate_images == 0
    assert [p.settled_s is not None and p.settled_s <= 60 for p in report.phases] == [True] * 4
