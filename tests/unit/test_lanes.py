"""The lanes' pure parts: which queue a job waits in, and the order a worker reads them in."""

from __future__ import annotations

import uuid
from collections import Counter

from shared.broker.topology import Topology
from shared.messages import GeneratePreview, Lane
from shared.settings import Settings


def topology(**overrides: object) -> Topology:
    return Topology(Settings(queue_preview="p", **overrides))  # type: ignore[arg-type]


def test_a_users_jobs_always_wait_in_the_same_shard_of_their_lane() -> None:
    topo = topology()
    for lane in (Lane.INTERACTIVE, Lane.BULK):
        shards = topo.shards(topo.lane_queue(lane))
        assert len(shards) == (4 if lane is Lane.INTERACTIVE else 8)
        for user in ("alice", "bob", "studio-7", "ü-ñ"):
            first = topo.shard_for(lane, user)
            assert first in shards
            assert {topo.shard_for(lane, user) for _ in range(5)} == {first}
            assert Topology(Settings(queue_preview="p")).shard_for(lane, user) == first  # any process


def test_users_spread_over_every_shard() -> None:
    topo = topology(preview_bulk_shards=8)
    spread = Counter(topo.shard_for(Lane.BULK, f"user-{i}") for i in range(4000))
    assert len(spread) == 8 and min(spread.values()) > 400  # no shard left out or crowded


def test_a_preview_job_goes_to_its_users_shard_of_its_lane_and_on_demand_to_the_front() -> None:
    topo = topology()
    job = GeneratePreview(uuid=uuid.uuid4(), user_id="alice", lane=Lane.BULK)
    assert topo.queue_for(job) == topo.shard_for(Lane.BULK, "alice")
    assert topo.queue_for(job.model_copy(update={"lane": Lane.ON_DEMAND})) == "p.on-demand"
    assert topo.lane_of(topo.queue_for(job)) is Lane.BULK
    assert topo.worker_queue(topo.queue_for(job)) == "p" and topo.worker_queue("ingest") == "ingest"


def test_a_worker_reads_on_demand_then_interactive_then_bulk_each_with_its_own_queue_first() -> None:
    topo = topology(preview_interactive_shards=2, preview_bulk_shards=3)
    assert topo.lanes() == [
        (Lane.ON_DEMAND, ["p.on-demand"]),
        (Lane.INTERACTIVE, ["p", "p.0", "p.1"]),
        (Lane.BULK, ["p.bulk", "p.bulk.0", "p.bulk.1", "p.bulk.2"]),
    ]


def test_shards_share_their_lanes_retry_waits_and_parking_queue() -> None:
    topo = topology()
    queues = topo.all_queues()
    for lane in Lane:
        base = topo.lane_queue(lane)
        assert topo.settings.retry_policy(base) == topo.settings.preview_retry
        assert topo.failed_queue(base) in queues
        for shard in topo.shards(base):
            assert shard in queues and f"{shard}.failed" not in queues
    assert not any(".bulk.0.retry" in q for q in queues)


class _Held:
    """A delivered message as the lane consumer sees it; `closed`: its channel has gone since."""

    def __init__(self, name: str, closed: bool = False) -> None:
        self.name, self.closed = name, closed

    @property
    def channel(self) -> object:
        if self.closed:  # as aio-pika answers for a message of a closed channel
            from aio_pika.exceptions import ChannelInvalidStateError

            raise ChannelInvalidStateError
        return self


def test_the_lane_consumer_skips_what_a_lost_channel_delivered_and_takes_lanes_in_order() -> None:
    from collections import deque

    from shared.worker.lanes import LaneConsumer

    consumer = LaneConsumer(None, [["first"], ["i", "i.0"], ["b", "b.0", "b.1"]], 1, None)  # type: ignore[arg-type]
    consumer.held = {"b.0": deque([_Held("b0")]), "b.1": deque([_Held("b1")]),
                     "i.0": deque([_Held("gone", closed=True), _Held("i0")]),
                     "first": deque([_Held("lost", closed=True)])}
    order = []
    while (picked := consumer.next_job()) is not None:
        order.append(picked[1].name)  # type: ignore[attr-defined]
    assert order == ["i0", "b0", "b1"]  # the messages of the closed channel are the broker's again
