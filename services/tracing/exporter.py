"""The tracing service's Prometheus exporter: queue gauges and its own trace counters.

Queue numbers are refreshed by the monitor loop every `queue_poll_s` seconds
and served from memory, so a scrape never waits on the broker.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.tracing.queue_status import STATUSES, QueueMonitor


class QueueCollector(Collector):
    def __init__(self, monitor: QueueMonitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterator[Any]:
        labels = ["queue", "kind", "work_queue"]
        ready = GaugeMetricFamily(
            "prophoto_queue_messages_ready", "Messages ready for delivery, per queue.",
            labels=labels)
        consumers = GaugeMetricFamily(
            "prophoto_queue_consumers", "Consumers attached, per queue.", labels=labels)
        unacked = GaugeMetricFamily(
            "prophoto_queue_messages_unacked",
            "Messages delivered and not yet acked (only with the management API).", labels=labels)
        up = GaugeMetricFamily(
            "prophoto_queue_up", "1 if the broker answered for this queue at the last poll.",
            labels=labels)
        status = GaugeMetricFamily(
            "prophoto_queue_worker_status",
            "1 for the worker status the tracing service judges for a work queue.",
            labels=["queue", "status"])
        topo = self.monitor.topology
        depths = self.monitor.depths
        for work in topo.work_queues():
            kinds = [(work, "work")] + [(name, "shard") for name in topo.shards(work)]
            kinds += [(name, "wait") for name, _ in topo.wait_queues(work)]
            kinds.append((topo.failed_queue(work), "failed"))
            for name, kind in kinds:
                depth = depths.get(name)
                values = [name, kind, work]
                up.add_metric(values, 1.0 if depth and depth.ready is not None else 0.0)
                if depth is None or depth.ready is None:
                    continue
                ready.add_metric(values, depth.ready)
                if depth.consumers is not None:
                    consumers.add_metric(values, depth.consumers)
                if depth.unacked is not None:
                    unacked.add_metric(values, depth.unacked)
        parked = GaugeMetricFamily(
            "prophoto_parked_jobs",
            "Parked jobs per work queue, from the read model (parked_jobs), as the page shows them.",
            labels=["queue"])
        last = self.monitor.last or {}
        for work, entry in last.get("queues", {}).items():
            current = entry["worker"]["status"]
            for name in STATUSES:
                status.add_metric([work, name], 1.0 if name == current else 0.0)
            if entry["jobs"]["failed"] is not None:
                parked.add_metric([work], entry["jobs"]["failed"])
        yield from (ready, consumers, unacked, up, status, parked)


class TraceMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.stored = Counter(
            "prophoto_traces_stored_total", "Trace events written to ingest_traces.",
            registry=registry)
        self.parked = Counter(
            "prophoto_traces_parked_total", "Trace events that did not parse and were parked.",
            registry=registry)
        self.deleted = Counter(
            "prophoto_traces_deleted_total", "Trace rows removed by retention.", registry=registry)
