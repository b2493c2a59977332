"""Prometheus metrics shared by the services.

Names are `prophoto_*` with the unit in the name; labels are low-cardinality
(queue, outcome, method, service), never a uuid or a user.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

JOB_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10)
if TYPE_CHECKING:
    from shared.broker.outbox import RelayHealth
    from shared.db.outbox import Backlog

READY_BUCKETS = (0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600)


class JobMetrics:
    """What every worker reports about the jobs it runs."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.jobs = Counter(
            "prophoto_jobs_total", "Jobs finished, by queue and outcome "
            "(success, retry, parked, requeued).", ["queue", "outcome"], registry=registry,
        )
        self.duration = Histogram(
            "prophoto_job_duration_seconds", "Wall time of one job attempt.", ["queue"],
            buckets=JOB_BUCKETS, registry=registry,
        )
        self.in_progress = Gauge(
            "prophoto_jobs_in_progress", "Jobs being worked on now.", ["queue"], registry=registry,
        )
        self.held = Gauge(
            "prophoto_jobs_held", "Deliveries this worker holds: its jobs in progress and those "
            "waiting in it to start (a lane consumer's next jobs).", ["queue"], registry=registry,
        )
        self.last_started = Gauge(
            "prophoto_job_last_started_timestamp_seconds", "When the last job started.", ["queue"],
            registry=registry,
        )
        self.last_finished = Gauge(
            "prophoto_job_last_finished_timestamp_seconds", "When the last job finished.",
            ["queue"], registry=registry,
        )
        self.heartbeat = Gauge(
            "prophoto_worker_heartbeat_timestamp_seconds",
            "Refreshed while the worker's consumer is alive.", ["queue"], registry=registry,
        )
        self.broker_silent = Gauge(
            "prophoto_consumer_broker_silent_seconds", "Seconds since the consumer connection "
            "last had an answer from the broker (a no-op round trip every 2 s): it grows while "
            "that connection is half-open.", ["queue"], registry=registry,
        )
        self.consuming = Gauge(
            "prophoto_consumer_up", "1 while this process is connected and consuming the queue, "
            "0 while it cannot (broker away, channel lost).", ["queue"], registry=registry,
        )

    def started(self, queue: str) -> None:
        self.in_progress.labels(queue).inc()
        self.last_started.labels(queue).set(time.time())

    def finished(self, queue: str, outcome: str, seconds: float) -> None:
        self.in_progress.labels(queue).dec()
        self.last_finished.labels(queue).set(time.time())
        self.jobs.labels(queue, outcome).inc()
        self.duration.labels(queue).observe(seconds)


class LaneMetrics:
    """Per preview lane: waiting time, the oldest job held here, and how the work is shared.

    Labels stay bounded: the lane (three), the shard index (the configured
    count), and a rank (1-3) instead of a user id: `prophoto_lane_user_share`
    says how much of the lane's last `SHARE_WINDOW` starts the busiest, second
    and third users took, never who they are.
    """

    SHARE_WINDOW = 200

    def __init__(self, registry: CollectorRegistry) -> None:
        self.enqueue_to_start = Histogram(
            "prophoto_lane_enqueue_to_start_seconds",
            "Seconds from a preview job's enqueue to its start, per lane.", ["lane"],
            buckets=READY_BUCKETS, registry=registry,
        )
        self.started = Counter(
            "prophoto_lane_jobs_started_total", "Preview jobs started, per lane and shard.",
            ["lane", "shard"], registry=registry,
        )
        self.oldest = Gauge(
            "prophoto_lane_oldest_waiting_seconds",
            "Age of the oldest job held by this worker and not started yet, per lane "
            "(the heads of the lane's queues; 0 when none waits).", ["lane"], registry=registry,
        )
        self.share = Gauge(
            "prophoto_lane_user_share",
            "Share of the lane's last 200 job starts taken by its busiest users, by rank (1-3).",
            ["lane", "rank"], registry=registry,
        )


class PreviewMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.method = Counter(
            "prophoto_preview_method_total", "Preview/thumbnail attempts by method and result.",
            ["step", "method", "result"], registry=registry,
        )
        self.method_duration = Histogram(
            "prophoto_preview_method_duration_seconds", "Time spent per preview method.",
            ["step", "method"], buckets=JOB_BUCKETS, registry=registry,
        )
        self.upload_to_ready = Histogram(
            "prophoto_upload_to_preview_ready_seconds",
            "Seconds from the upload's answer to the preview being ready.",
            buckets=READY_BUCKETS, registry=registry,
        )


class UploadMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.latency = Histogram(
            "prophoto_upload_duration_seconds", "Upload request latency, by outcome.", ["outcome"],
            buckets=LATENCY_BUCKETS, registry=registry,
        )
        self.bytes = Counter(
            "prophoto_upload_bytes_total", "Bytes received in accepted uploads.", registry=registry,
        )
        self.uploads = Counter(
            "prophoto_uploads_total", "Upload requests by outcome (created, duplicate, rejected).",
            ["outcome"], registry=registry,
        )
        self.outbox_pending = Gauge(
            "prophoto_outbox_pending", "Jobs recorded but not yet confirmed by the broker.",
            registry=registry,
        )
        self.outbox_oldest_age = Gauge(
            "prophoto_outbox_oldest_unpublished_age_seconds",
            "Age of the oldest job recorded but not yet confirmed by the broker (0: none).",
            registry=registry,
        )
        self.outbox_failing_rows = Gauge(
            "prophoto_outbox_failing_rows", "Unpublished jobs the broker has refused at least once.",
            registry=registry,
        )
        self.outbox_relay_failing = Gauge(
            "prophoto_outbox_relay_failing_seconds",
            "Seconds the outbox relay has failed without one confirmed publish (0: it works).",
            registry=registry,
        )
        self.quota_refusals = Counter(
            "prophoto_quota_refusals_total", "Requests answered 429 because a per-user quota "
            "or rate was used up, by quota.", ["quota"], registry=registry,
        )
        self.sse_streams = Gauge(
            "prophoto_sse_streams", "Server-Sent Event streams open in this process.", registry=registry,
        )

    def observe_outbox(self, backlog: Backlog, health: RelayHealth) -> None:
        """The relay's view after each pass (shared/broker/outbox.py)."""
        self.outbox_pending.set(backlog.pending)
        self.outbox_oldest_age.set(backlog.oldest_age_s)
        self.outbox_failing_rows.set(backlog.failing)
        self.outbox_relay_failing.set(health.failing_for())
