"""What a preview worker reports about its lanes (`LaneMetrics`): waits, oldest held job, shares.

The user a job belongs to is read from the `user:<id>` tag every producer
sets; it is only counted in a bounded window per lane and exported as the
shares of the busiest three, never as a label.
"""

from __future__ import annotations

import functools
import time
from collections import Counter, deque
from datetime import datetime

from aio_pika.abc import AbstractIncomingMessage

from shared.broker.topology import ENQUEUED_HEADER, Topology
from shared.messages import Lane
from shared.metrics import LaneMetrics
from shared.worker.lanes import LaneConsumer

RANKS = 3


def enqueued_at(message: AbstractIncomingMessage) -> float | None:
    """When the job was recorded for its queue (unix seconds), if its producer said."""
    raw = (message.headers or {}).get(ENQUEUED_HEADER)
    if not isinstance(raw, str):
        return None
    try:
        return datetime.fromisoformat(raw).timestamp()
    except ValueError:
        return None


def user_of(message: AbstractIncomingMessage) -> str | None:
    tags = (message.headers or {}).get("tags")
    if not isinstance(tags, str):
        return None
    for tag in tags.split(","):
        if tag.startswith("user:"):
            return tag[5:]
    return None


class LaneStats:
    def __init__(self, topology: Topology, consumer: LaneConsumer, metrics: LaneMetrics) -> None:
        self.topology = topology
        self.consumer = consumer
        self.metrics = metrics
        self.recent: dict[Lane, deque[str]] = {
            lane: deque(maxlen=LaneMetrics.SHARE_WINDOW) for lane in Lane}
        for lane, queues in topology.lanes():
            metrics.oldest.labels(lane.value).set_function(functools.partial(self.oldest_waiting, queues))

    def oldest_waiting(self, queues: list[str], now: float | None = None) -> float:
        """Seconds the oldest job held (not started) from `queues` has waited; 0 when none."""
        now = time.time() if now is None else now
        ages = [now - at for q in queues if (m := self.consumer.first_held(q)) is not None
                and (at := enqueued_at(m)) is not None]
        return max(ages, default=0.0)

    def started(self, queue: str, message: AbstractIncomingMessage) -> None:
        lane = self.topology.lane_of(queue)
        if lane is None:
            return
        base = self.topology.lane_queue(lane)
        shard = queue[len(base) + 1:] if queue != base else "lane"
        self.metrics.started.labels(lane.value, shard).inc()
        at = enqueued_at(message)
        if at is not None:
            self.metrics.enqueue_to_start.labels(lane.value).observe(max(0.0, time.time() - at))
        user = user_of(message)
        if user is None:
            return
        window = self.recent[lane]
        window.append(user)
        top = [n for _, n in Counter(window).most_common(RANKS)]
        for rank in range(RANKS):
            share = top[rank] / len(window) if rank < len(top) else 0.0
            self.metrics.share.labels(lane.value, str(rank + 1)).set(share)
