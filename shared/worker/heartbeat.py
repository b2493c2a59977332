"""Worker heartbeats: how the tracing service knows which workers live, with no list.

Each worker process publishes a `WorkerHeartbeat` (queue, jobs in progress,
last job started and finished) on the events exchange every `heartbeat_s`
seconds, and a last one with `leaving=True` when it stops. The tracing
service (`LiveWorkers`) keeps the newest beat per worker and forgets a worker
it has not heard from for three intervals, so 1, 2 or 40 replicas, started by
compose `--scale`, a k8s Deployment or KEDA, are counted without configuration.

A worker that falls silent (frozen, its event loop blocked, its host cut
off) is not simply forgotten: it is kept as *silent* (`LiveWorkers.silent`)
with the jobs its last beat said it held, until it beats again, says
goodbye, or `SILENT_KEPT_S` pass; the queue monitor reports its queue
`stalled` while the broker still counts the worker's consumer
(services/tracing/queue_status.py). That includes a worker whose last beat
held nothing: the broker goes on handing its consumer jobs (up to the
prefetch) that nobody runs, and the beat that would say so never comes.
A worker whose consumer connection alone is half-open goes on beating over
its publisher connection; its beats say how long that consumer connection
has had no answer from the broker (`broker_silent_s`), and the queue monitor
reports `stalled` past `PROPHOTO_BROKER_SILENT_AFTER_S`.
Beats are fire-and-forget (not mandatory, not persistent in any queue): a
missed beat only ages a worker, and an unreachable broker only delays them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from shared.broker.publisher import Publisher, encode
from shared.broker.topology import Topology
from shared.messages import WorkerHeartbeat

log = logging.getLogger(__name__)
MISSED_BEATS = 3  # a worker is gone after this many intervals of silence
#: how long a silent worker is remembered (a killed one's jobs were requeued long before)
SILENT_KEPT_S = 600.0


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def read_beat(registry: CollectorRegistry, worker: str, service: str, queue: str,
              every_s: float, leaving: bool = False, held: int | None = None,
              broker_silent_s: float | None = None) -> WorkerHeartbeat:
    """A heartbeat from the `JobMetrics` families in `registry` (what /metrics shows)."""
    labels = {"queue": queue}
    in_progress = registry.get_sample_value("prophoto_jobs_in_progress", labels) or 0.0
    started = registry.get_sample_value("prophoto_job_last_started_timestamp_seconds", labels)
    finished = registry.get_sample_value("prophoto_job_last_finished_timestamp_seconds", labels)
    moved = [t for t in (started, finished) if t]
    return WorkerHeartbeat(
        worker=worker, service=service, queue=queue, every_s=every_s, leaving=leaving,
        in_progress=in_progress, last_started=started or None, last_finished=finished or None,
        # without a count from the consumer: every delivery starts its job at once
        held=round(in_progress) if held is None else held,
        last_progress=max(moved) if moved else None,
        broker_silent_s=None if broker_silent_s is None else round(broker_silent_s, 1),
    )


@dataclass
class Beacon:
    """The worker side: `await beacon.run()` beats until cancelled; `leave()` says goodbye."""

    publisher: Publisher
    topology: Topology
    registry: CollectorRegistry
    service: str
    queue: str
    every_s: float
    worker: str = ""
    #: the deliveries the worker holds now (its consumer's count); None: its jobs in progress
    held: Callable[[], int] | None = None
    #: seconds since its consumer connection last heard the broker (an `Echo`); None: not measured
    silent: Callable[[], float] | None = None

    def __post_init__(self) -> None:
        self.worker = self.worker or worker_id()

    async def beat(self, leaving: bool = False) -> None:
        message = read_beat(self.registry, self.worker, self.service, self.queue, self.every_s,
                            leaving, None if self.held is None else self.held(),
                            None if self.silent is None else self.silent())
        await self.publisher.publish(
            self.topology.events_exchange, Topology.heartbeat_routing_key(self.queue),
            encode(message), mandatory=False)

    async def run(self) -> None:
        while True:
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker is away: the next beat tries again
                log.debug("heartbeat not sent: %r", exc)
            await asyncio.sleep(self.every_s)

    async def leave(self) -> None:
        try:
            await asyncio.wait_for(self.beat(leaving=True), 2.0)
        except Exception as exc:
            log.debug("leaving heartbeat not sent: %r", exc)


@dataclass
class Seen:
    beat: WorkerHeartbeat
    at: float


class LiveWorkers:
    """The tracing side: the newest beat of every worker heard from recently."""

    def __init__(self) -> None:
        self._workers: dict[str, Seen] = {}
        self._silent: dict[str, Seen] = {}

    def observe(self, beat: WorkerHeartbeat, now: float | None = None) -> None:
        self._silent.pop(beat.worker, None)
        if beat.leaving:
            self._workers.pop(beat.worker, None)
        else:
            self._workers[beat.worker] = Seen(beat, time.time() if now is None else now)

    def live(self, now: float | None = None) -> list[WorkerHeartbeat]:
        """Beats of the workers still alive; silent ones leave the live set here."""
        now = time.time() if now is None else now
        for worker, seen in list(self._workers.items()):
            if now - seen.at > MISSED_BEATS * seen.beat.every_s:
                del self._workers[worker]
                self._silent[worker] = seen  # frozen or dead: the broker's consumers tell which
        return [seen.beat for seen in self._workers.values()]

    def silent(self, now: float | None = None) -> list[Seen]:
        """Workers that fell silent without a goodbye (their last beat, and when it came)."""
        now = time.time() if now is None else now
        self.live(now)
        for worker, seen in list(self._silent.items()):
            if now - seen.at > SILENT_KEPT_S:
                del self._silent[worker]
        return list(self._silent.values())
