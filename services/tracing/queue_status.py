"""Live queue health: depths from the broker, activity from the workers' heartbeats.

Nothing here reads a jobs table. Queue depths come from the broker through
`shared.broker_probe` (passive declares over AMQP; RabbitMQ's management API
adds unacked counts when `rabbitmq_management_url` is set). Worker activity
(jobs in progress, last job started and finished) comes from the heartbeats
every worker publishes on the events exchange (shared/worker/heartbeat.py):
the monitor is handed a function returning the live set, so no worker
address is configured and any number of replicas count.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from shared.broker_probe import BrokerProbe, Depth
from shared.settings import Settings
from shared.topology import Topology

STATUSES = ("processing", "idle", "stalled", "pending", "unknown")


@dataclass
class Activity:
    """What the live workers of one queue report."""

    workers: int = 0
    in_progress: float = 0.0
    last_started: float | None = None
    last_finished: float | None = None


@dataclass
class Judgement:
    status: str
    detail: str


def judge(depth: Depth, activity: Activity | None, ready_since: float | None, now: float,
          stalled_after_s: float) -> Judgement:
    """The status rules, in order (docs/observability.md)."""
    if activity is not None and activity.in_progress > 0:
        return Judgement("processing", f"{activity.in_progress:g} job(s) in progress")
    if depth.ready is None or depth.consumers is None:
        return Judgement("unknown", "the broker did not answer for this queue")
    if depth.unacked and activity is None:
        return Judgement("processing", f"{depth.unacked} message(s) held by consumers")
    if depth.ready == 0:
        if depth.consumers > 0:
            return Judgement("idle", "consumers attached, nothing waiting")
        return Judgement("unknown", "no consumer attached and nothing waiting")
    waiting_since = ready_since if ready_since is not None else now
    if activity is not None and activity.last_started is not None:
        waiting_since = max(waiting_since, activity.last_started)
    quiet = now - waiting_since
    if quiet >= stalled_after_s:
        return Judgement("stalled", f"{depth.ready} ready, nothing started for {quiet:.0f} s")
    if depth.consumers == 0:
        return Judgement("pending", f"{depth.ready} ready, no consumer yet")
    return Judgement("pending", f"{depth.ready} ready, {depth.consumers} consumer(s) attached")


@dataclass
class QueueMonitor:
    """Builds `/v1/queue-status` answers and remembers since when work has been waiting."""

    topology: Topology
    probe: BrokerProbe
    client: httpx.AsyncClient
    activity: Any = None  # callable returning {queue: Activity} of the live workers
    ready_since: dict[str, float] = field(default_factory=dict)
    last: dict[str, Any] | None = None
    depths: dict[str, Depth] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def settings(self) -> Settings:
        return self.topology.settings

    def all_queue_names(self) -> list[str]:
        return self.topology.all_queues()

    async def snapshot(self) -> dict[str, Any]:
        async with self._lock:
            topo = self.topology
            depths = await self.probe.depths(topo.all_queues())
            activity: dict[str, Activity] = self.activity() if self.activity else {}
            now = time.time()
            self.depths = depths
            queues = {q: self._queue_entry(q, depths, activity.get(q), now)
                      for q in topo.work_queues()}
            ingest = queues.get(self.settings.queue_finalize, {}).get("jobs", {}).get("pending")
            for entry in queues.values():
                entry["jobs"]["ingest_pending"] = ingest
            totals = {
                key: _sum(e["jobs"][key] for e in queues.values()) for key in ("pending", "failed")
            }
            totals["ingest_pending"] = ingest
            self.last = {
                "broker": self.probe.identity(),
                "checked_at": now,
                "stalled_after_s": self.settings.stalled_after_s,
                "totals": totals,
                "queues": queues,
            }
            return self.last

    def _queue_entry(self, queue: str, depths: dict[str, Depth], act: Activity | None,
                     now: float) -> dict[str, Any]:
        topo = self.topology
        work = depths.get(queue, Depth())
        if work.ready:
            self.ready_since.setdefault(queue, now)
        elif work.ready == 0:
            self.ready_since.pop(queue, None)
        waits = {name: depths.get(name, Depth()).ready for name, _ in topo.wait_queues(queue)}
        failed = depths.get(topo.failed_queue(queue), Depth()).ready
        verdict = judge(work, act, self.ready_since.get(queue), now, self.settings.stalled_after_s)
        pending = _sum([work.ready, work.unacked or 0, *waits.values()])
        return {
            "broker": {
                "ready": work.ready, "unacked": work.unacked, "consumers": work.consumers,
                "wait_queues": waits, "failed": failed,
            },
            "jobs": {"pending": pending, "failed": failed, "ingest_pending": None},
            "worker": {
                "status": verdict.status, "detail": verdict.detail,
                "workers_reporting": act.workers if act else 0,
                "in_progress": act.in_progress if act else None,
                "last_started": act.last_started if act else None,
            },
        }


def _sum(values: Any) -> int | None:
    total = 0
    for v in values:
        if v is None:
            return None
        total += v
    return total
