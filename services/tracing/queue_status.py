"""Live queue health: depths from the broker, activity from the workers' heartbeats.

Nothing here reads a jobs table; parked jobs are counted from their read
model (`parked_jobs`, through `ParkedWatch`, which also keeps it true), with
the broker's own depth of each parking queue beside them. Queue depths come from the broker through
`shared.broker.probe` (passive declares over AMQP; RabbitMQ's management API
adds unacked counts when `rabbitmq_management_url` is set). Worker activity
(jobs in progress, last job started and finished) comes from the heartbeats
every worker publishes on the events exchange (shared/worker/heartbeat.py):
the monitor is handed a function returning the live set, so no worker
address is configured and any number of replicas count.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from shared.broker.probe import BrokerProbe, Depth
from shared.broker.topology import Topology
from shared.settings import Settings

if TYPE_CHECKING:
    from services.tracing.parked_watch import ParkedWatch

#: an idle queue whose last job finished this recently says so (a burst between two page refreshes)
RECENT_S = 60.0
STATUSES = ("processing", "idle", "stalled", "pending", "unknown")


@dataclass
class Activity:
    """What the workers of one queue report: the live ones, and those that fell silent."""

    workers: int = 0
    in_progress: float = 0.0
    last_started: float | None = None
    last_finished: float | None = None
    #: deliveries the live workers hold
    held: int = 0
    #: the oldest last-progress time among live workers that hold jobs (None: none holds any)
    oldest_progress: float | None = None
    #: workers silent past their missed beats (no goodbye), and the jobs their last beats held
    silent_workers: int = 0
    silent_held: int = 0
    #: the last beat of the longest-silent of them
    silent_since: float | None = None
    #: per live worker that measures it: seconds its consumer connection has had no answer
    #: from the broker (a half-open connection beats on, over its publisher connection)
    broker_silent: list[float] = field(default_factory=list)


@dataclass
class Judgement:
    status: str
    detail: str


def judge(depth: Depth, activity: Activity | None, ready_since: float | None, now: float,
          stalled_after_s: float, unreported_since: float | None = None,
          hung_after_s: float | None = None,
          broker_silent_after_s: float | None = None) -> Judgement:
    """The status rules, in order (docs/observability.md).

    `hung_after_s`: a live worker holding jobs with no progress for this long
    is stalled (its loop beats, its jobs do not move: a job past its own
    timeout that does not give up). A long job within its timeout is not a
    stall, so the monitor passes the queue's job timeout plus `stalled_after_s`.
    `broker_silent_after_s`: a live worker whose consumer connection has had no
    answer from the broker for this long is cut off (half-open), and stalled.
    """
    act = activity or Activity()
    silent = _silent_holders(depth, act, now)
    if silent is not None:
        return silent
    cut_off = _cut_off(act, broker_silent_after_s)
    if cut_off is not None:
        return cut_off
    if hung_after_s is not None and act.held > 0 and act.oldest_progress is not None \
            and now - act.oldest_progress >= hung_after_s:
        return Judgement("stalled", f"{act.held} job(s) held, no progress for "
                                    f"{now - act.oldest_progress:.0f} s")
    if act.in_progress > 0:
        return Judgement("processing", f"{act.in_progress:g} job(s) in progress")
    if depth.ready is None or depth.consumers is None:
        return Judgement("unknown", "the broker did not answer for this queue")
    if depth.unacked:
        # the broker says consumers hold messages while no live worker says it holds a job:
        # a consumer whose process is frozen, or whose connection is half-open
        held_for = 0.0 if unreported_since is None else now - unreported_since
        if held_for >= stalled_after_s:
            return Judgement("stalled", f"{depth.unacked} message(s) held by consumers that "
                                        f"report no job, for {held_for:.0f} s")
        return Judgement("processing", f"{depth.unacked} message(s) held by consumers")
    if depth.ready == 0:
        if depth.consumers > 0:
            last = act.last_finished
            if last is not None and now - last < RECENT_S:  # a burst between two refreshes
                return Judgement("idle", f"nothing waiting; last job finished {now - last:.0f} s ago")
            return Judgement("idle", "consumers attached, nothing waiting")
        return Judgement("unknown", "no consumer attached and nothing waiting")
    waiting_since = ready_since if ready_since is not None else now
    if act.last_started is not None:
        waiting_since = max(waiting_since, act.last_started)
    quiet = now - waiting_since
    if quiet >= stalled_after_s:
        return Judgement("stalled", f"{depth.ready} ready, nothing started for {quiet:.0f} s")
    if depth.consumers == 0:
        return Judgement("pending", f"{depth.ready} ready, no consumer yet")
    return Judgement("pending", f"{depth.ready} ready, {depth.consumers} consumer(s) attached")


def _silent_holders(depth: Depth, act: Activity, now: float) -> Judgement | None:
    """`stalled` while a worker that fell silent still has its consumer attached.

    Each worker has one consumer on its queue, so more consumers than live
    workers means the silent ones are still attached (frozen, not dead): the
    jobs the broker handed them wait in a process that runs nothing, and it
    hands them more up to the prefetch, whatever their last beat held (a
    worker frozen while idle is the common case: the jobs arrive after it
    froze). A killed worker's connection closes, its consumer goes, and its
    jobs are redelivered: then it is not counted. When the broker did not
    answer, only a silent worker whose last beat held jobs is a stall.
    """
    if not act.silent_workers:
        return None
    if depth.consumers is None:
        if not act.silent_held:
            return None
    elif depth.consumers <= act.workers:
        return None
    since = now - (act.silent_since or now)
    held = f"{act.silent_held} job(s) held at the last beat"
    if depth.unacked:
        held += f"; the broker counts {depth.unacked} unacked"
    return Judgement("stalled", f"{act.silent_workers} worker(s) silent for {since:.0f} s with "
                                f"their consumer attached ({held})")


def _cut_off(act: Activity, after_s: float | None) -> Judgement | None:
    """`stalled` while a live worker's consumer connection gets no answer from the broker.

    Its process runs and beats (over its publisher connection), but the path of
    its consumer connection drops packets: what the broker hands that consumer
    never arrives and is not acked, and waits until the broker gives up on the
    connection (two missed AMQP heartbeats). The worker cannot count those
    deliveries, so this does not wait for a count: the silence itself is the stall.
    """
    if after_s is None:
        return None
    silent = [s for s in act.broker_silent if s >= after_s]
    if not silent:
        return None
    return Judgement("stalled", f"{len(silent)} worker(s) heard nothing from the broker on their "
                                f"consumer connection for {max(silent):.0f} s (half-open: what "
                                f"the broker hands them waits until it drops the connection)")


@dataclass
class QueueMonitor:
    """Builds `/v1/queue-status` answers and remembers since when work has been waiting."""

    topology: Topology
    probe: BrokerProbe
    client: httpx.AsyncClient
    activity: Any = None  # callable returning {queue: Activity} of the live workers
    outbox: Any = None  # async callable returning the outbox's status (outbox_view.py)
    parked: ParkedWatch | None = None  # parked jobs per queue from the database
    ready_since: dict[str, float] = field(default_factory=dict)
    #: since when the broker has counted unacked messages no live worker reports holding
    unreported_since: dict[str, float] = field(default_factory=dict)
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
            rows = None if self.parked is None else await self.parked.counts(topo.work_queues())
            now = time.time()
            self.depths = depths
            queues = {q: self._queue_entry(q, depths, activity.get(topo.worker_queue(q)), now,
                                           None if rows is None else rows.get(q, 0))
                      for q in topo.work_queues()}
            ingest = queues.get(self.settings.queue_finalize, {}).get("jobs", {}).get("pending")
            for entry in queues.values():
                entry["jobs"]["ingest_pending"] = ingest
            totals = {
                key: _sum(e["jobs"][key] for e in queues.values()) for key in ("pending", "failed")
            }
            totals["ingest_pending"] = ingest
            outbox: dict[str, Any] | None = None
            if self.outbox is not None:
                try:
                    outbox = await self.outbox()
                except Exception:  # the database is away: the queues still answer
                    outbox = None
            self.last = {
                "outbox": outbox,
                "broker": self.probe.identity(),
                "checked_at": now,
                "stalled_after_s": self.settings.stalled_after_s,
                "totals": totals,
                "queues": queues,
            }
            return self.last

    def _queue_entry(self, queue: str, depths: dict[str, Depth], act: Activity | None,
                     now: float, parked_rows: int | None = None) -> dict[str, Any]:
        topo = self.topology
        work = _total([depths.get(q, Depth()) for q in [queue, *topo.shards(queue)]])  # a lane's shards
        if work.ready:
            self.ready_since.setdefault(queue, now)
        elif work.ready == 0:
            self.ready_since.pop(queue, None)
        waits = {name: depths.get(name, Depth()).ready for name, _ in topo.wait_queues(queue)}
        parking = depths.get(topo.failed_queue(queue), Depth())
        failed = parking.ready if parked_rows is None else parked_rows
        if self.parked is not None and parked_rows is not None:
            self.parked.compare(queue, parking, parked_rows)
        if work.unacked and not (act and act.held):
            self.unreported_since.setdefault(queue, now)
        else:
            self.unreported_since.pop(queue, None)
        hung_after = None
        with contextlib.suppress(KeyError):  # a queue of its own lane may have no policy here
            hung_after = self.settings.retry_policy(queue).timeout_s + self.settings.stalled_after_s
        verdict = judge(work, act, self.ready_since.get(queue), now, self.settings.stalled_after_s,
                        self.unreported_since.get(queue), hung_after,
                        self.settings.broker_silent_after_s)
        pending = _sum([work.ready, work.unacked or 0, *waits.values()])
        return {
            "broker": {
                "ready": work.ready, "unacked": work.unacked, "consumers": work.consumers,
                "wait_queues": waits, "failed": parking.ready,
            },
            "jobs": {"pending": pending, "failed": failed, "ingest_pending": None},
            "worker": {
                "status": verdict.status, "detail": verdict.detail,
                "workers_reporting": act.workers if act else 0,
                "in_progress": act.in_progress if act else None,
                "held": act.held if act else None,
                "last_started": act.last_started if act else None,
                "last_progress": act.oldest_progress if act else None,
                "silent_workers": act.silent_workers if act else 0,
                "broker_silent_s": max(act.broker_silent, default=None) if act else None,
            },
        }


def _total(parts: list[Depth]) -> Depth:
    """One depth for a lane's queues together (unknown when any part is).

    Messages add up across the queues; consumers do not: every worker of the lane attaches one
    consumer to each of its queues, so the most on any one queue is the number of workers attached
    (a sum would count each worker once per shard, and hide a silent worker's consumer)."""
    if len(parts) == 1:
        return parts[0]
    consumers = [p.consumers for p in parts]
    return Depth(_sum(p.ready for p in parts), _sum(p.unacked for p in parts),
                 None if any(c is None for c in consumers) else max(c for c in consumers if c is not None))


def _sum(values: Any) -> int | None:
    total = 0
    for v in values:
        if v is None:
            return None
        total += v
    return total
