"""The Grafana dashboards, built from code: `python scripts/dashboards.py` (or `make dashboards`).

Writes `deploy/grafana/dashboards/<name>.json` from the panel tables below
with grafana-foundation-sdk's builders (for Grafana 11.6, the compose image).
The checked-in JSON is what this writes: `tests/unit/test_dashboards.py`
builds every dashboard again and fails when a file differs, so a dashboard is
changed here, never by hand. `--check` does the same comparison and exits 1
on a difference.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders.dashboard import Dashboard, Row, ThresholdsConfig
from grafana_foundation_sdk.builders.prometheus import Dataquery as PrometheusQuery
from grafana_foundation_sdk.builders.statetimeline import Panel as StateTimeline
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    GridPos,
    Threshold,
    ValueMap,
    ValueMappingResult,
)

OUT = Path(__file__).resolve().parent.parent / "deploy" / "grafana" / "dashboards"
PROMETHEUS = DataSourceRef(type_val="prometheus", uid="prometheus")
RATE = "[$__rate_interval]"


@dataclass(frozen=True)
class P:
    """One panel: a title, (expression, legend) pairs, where it sits (x, y, w, h), a unit."""

    title: str
    queries: tuple[tuple[str, str], ...]
    at: tuple[int, int, int, int]
    unit: str | None = None
    description: str = ""


@dataclass(frozen=True)
class R:
    """A row (a heading across the board) at height `y`."""

    title: str
    y: int


@dataclass(frozen=True)
class Board:
    file: str
    uid: str
    title: str
    tags: tuple[str, ...]
    panels: tuple[P | R, ...] = field(default_factory=tuple)
    #: the queue-health board opens with the worker status as a state timeline
    status_timeline: bool = False


def quantiles(metric: str, by: str = "le") -> tuple[tuple[str, str], ...]:
    return tuple((f"histogram_quantile({q}, sum by ({by}) (rate({metric}_bucket{RATE})))",
                  f"p{round(q * 100)}") for q in (0.5, 0.95, 0.99))


STATUS_TIMELINE = P("Worker status", (("prophoto:queue_worker_status:code", "{{queue}}"),),
                    (0, 0, 24, 6), description="Recorded by rules/queues.yml: processing green, "
                    "idle blue, pending yellow, stalled red.")

BOARDS = (
    Board("queue-health", "prophoto-queues", "prophoto · queue health", ("prophoto", "queues"), (
        P("Queue depth (ready)",
          (('max by (queue) (prophoto_queue_messages_ready{kind="work"})', "{{queue}}"),),
          (0, 6, 12, 8), description="Messages ready on each work queue (tracing service exporter)."),
        P("Consumers", (('max by (queue) (prophoto_queue_consumers{kind="work"})', "{{queue}}"),),
          (12, 6, 12, 8)),
        P("In: messages published per second",
          ((f"sum by (queue) (rate(rabbitmq_queue_messages_published_total{RATE}))", "{{queue}}"),),
          (0, 14, 12, 8), "ops", "From RabbitMQ's prometheus plugin (per-object endpoint); "
          "includes wait and parking queues."),
        P("Out: jobs finished per second, by outcome",
          ((f"sum by (queue, outcome) (rate(prophoto_jobs_total{RATE}))", "{{queue}} {{outcome}}"),),
          (12, 14, 12, 8), "ops"),
        P("Jobs in progress", (("sum by (queue) (prophoto_jobs_in_progress)", "{{queue}}"),),
          (0, 22, 12, 8)),
        P("Parked (failed) jobs", (("prophoto:queue_parked:max", "{{queue}}"),), (12, 22, 12, 8),
          description="Messages in <queue>.failed, waiting for a replay."),
        P("Retries waiting", (("prophoto:queue_waiting_retries:sum", "{{queue}}"),), (0, 30, 12, 8),
          description="Messages sitting in the delay queues <queue>.retry.<delay>."),
        P("Retries scheduled per second",
          ((f'sum by (queue) (rate(prophoto_jobs_total{{outcome="retry"}}{RATE}))', "{{queue}}"),),
          (12, 30, 12, 8), "ops"),
        P("Seconds since a job last started",
          (("time() - prophoto:job_last_started:max", "{{queue}}"),), (0, 38, 12, 8), "s"),
        P("RabbitMQ: ready / unacked per queue",
          (("sum by (queue) (rabbitmq_queue_messages_ready)", "{{queue}} ready"),
           ("sum by (queue) (rabbitmq_queue_messages_unacked)", "{{queue}} unacked")),
          (12, 38, 12, 8), description="RabbitMQ's own numbers (per-object endpoint), for "
          "comparison with the exporter."),
        R('Preview lanes (docs/lanes.md)', 46),
        P("Lane depth (ready, every shard)",
          (('sum by (work_queue) (prophoto_queue_messages_ready{kind=~"work|shard", '
            'work_queue=~".*preview.*"})', "{{work_queue}}"),), (0, 47, 12, 8), "short",
          "Messages ready in each preview lane: the lane's own queue and its shards, summed."),
        P("Oldest job waiting, per lane",
          (("max by (lane) (prophoto_lane_oldest_waiting_seconds)", "{{lane}}"),), (12, 47, 12, 8),
          "s", "The oldest job a preview worker holds and has not started (the heads of the "
          "lane's queues)."),
        P("Enqueue to start p50 / p95, per lane", tuple(
            (f"histogram_quantile({q}, sum by (lane, le) "
             f"(rate(prophoto_lane_enqueue_to_start_seconds_bucket{RATE})))", f"{{{{lane}}}} p{p}")
            for q, p in ((0.5, 50), (0.95, 95))), (0, 55, 12, 8), "s",
          "Seconds from a job's enqueue to its start."),
        P("Jobs started per second, per lane",
          ((f"sum by (lane) (rate(prophoto_lane_jobs_started_total{RATE}))", "{{lane}}"),),
          (12, 55, 12, 8), "ops", "Preview jobs started, by lane."),
        P("Busiest users' share of a lane",
          (("max by (lane, rank) (prophoto_lane_user_share)", "{{lane}} #{{rank}}"),),
          (0, 63, 12, 8), "percentunit", "Share of the lane's last 200 starts taken by its "
          "busiest (rank 1), second and third user, per worker: a rank, never a user id."),
        P("Bulk starts per shard",
          ((f'sum by (shard) (rate(prophoto_lane_jobs_started_total{{lane="bulk"}}{RATE}))',
            "shard {{shard}}"),), (12, 63, 12, 8), "ops",
          "How the bulk lane's work is spread over its shards (one user's backlog fills one)."),
        R("Recovery: held jobs and the outbox", 71),
        P("Jobs held by workers", (("sum by (queue) (prophoto_jobs_held)", "{{queue}}"),),
          (0, 72, 12, 8), description="Deliveries the workers hold: jobs in progress and the next "
          "ones waiting in them. Held without progress is what a frozen worker looks like."),
        P("Outbox: oldest job not yet confirmed",
          (("max(prophoto_outbox_oldest_unpublished_age_seconds)", "oldest"),
           ("max(prophoto_outbox_relay_failing_seconds)", "relay failing for")),
          (12, 72, 12, 8), "s", "How long jobs wait in the upload service's outbox, and how long "
          "its relay has failed without one confirm (alerts: ProphotoOutboxBacklogOld, "
          "ProphotoOutboxRelayFailing)."),
    ), status_timeline=True),
    Board("pipeline-latency", "prophoto-latency", "prophoto · pipeline latency",
          ("prophoto", "latency"), (
        P("Upload latency p50 / p95 / p99", quantiles("prophoto_upload_duration_seconds"),
          (0, 0, 12, 8), "s"),
        P("Upload to preview ready p50 / p95 / p99",
          quantiles("prophoto_upload_to_preview_ready_seconds"), (12, 0, 12, 8), "s",
          "The user-facing number: seconds from the upload's answer to the preview being ready."),
        P("Preview method duration p95",
          ((f"histogram_quantile(0.95, sum by (le, step, method) "
            f"(rate(prophoto_preview_method_duration_seconds_bucket{RATE})))", "{{step}} {{method}}"),),
          (0, 8, 12, 8), "s"),
        P("Job duration p95 by queue",
          ((f"histogram_quantile(0.95, sum by (le, queue) "
            f"(rate(prophoto_job_duration_seconds_bucket{RATE})))", "{{queue}}"),),
          (12, 8, 12, 8), "s"),
        P("Upload throughput", ((f"sum(rate(prophoto_upload_bytes_total{RATE}))", "bytes/s"),),
          (0, 16, 12, 8), "Bps"),
        P("Preview methods used per second",
          ((f"sum by (step, method) (rate(prophoto_preview_method_total{RATE}))",
            "{{step}} {{method}}"),), (12, 16, 12, 8), "ops"),
    )),
    Board("errors", "prophoto-errors", "prophoto · errors", ("prophoto", "errors"), (
        P("Jobs by outcome",
          ((f"sum by (queue, outcome) (increase(prophoto_jobs_total{RATE}))", "{{queue}} {{outcome}}"),),
          (0, 0, 12, 8), description="success, retry (scheduled again), parked (gave up), requeued "
          "(could not republish)."),
        P("Uploads by outcome",
          ((f"sum by (outcome) (rate(prophoto_uploads_total{RATE}))", "{{outcome}}"),),
          (12, 0, 12, 8), "ops"),
        P("Preview method results",
          ((f"sum by (step, method, result) (rate(prophoto_preview_method_total{RATE}))",
            "{{step}} {{method}} {{result}}"),), (0, 8, 12, 8), "ops"),
        P("Parked (failed) jobs", (("prophoto:queue_parked:max", "{{queue}}"),), (12, 8, 12, 8)),
        P("Broker dead-lettering (delivery limit: crashing workers)",
          ((f"sum by (queue_type) (rate(rabbitmq_global_messages_dead_lettered_delivery_limit_total"
            f"{RATE}))", "{{queue_type}} delivery-limit"),), (0, 16, 12, 8), "ops",
          "Messages the broker parked itself because consumers died holding them."),
        P("Invalid trace events parked",
          ((f"sum(increase(prophoto_traces_parked_total{RATE}))", "parked"),), (12, 16, 12, 8)),
        P("Targets down", (('up{job=~"upload|preview|finalize|enhance|tracing"} == 0',
                            "{{job}} {{instance}}"),), (0, 24, 24, 6)),
        P("Outbox: jobs not yet confirmed by the broker",
          (("sum(prophoto_outbox_pending)", "pending"),
           ("sum(prophoto_outbox_failing_rows)", "refused, backing off")),
          (0, 30, 24, 6), description="Jobs recorded by the upload service and not yet confirmed; "
          "refused ones are tried again after their own jittered backoff."),
    )),
)


def _place(builder: Any, panel: P, panel_id: int) -> Any:
    x, y, w, h = panel.at
    builder = (builder.id(panel_id).title(panel.title).description(panel.description)
               .datasource(PROMETHEUS).grid_pos(GridPos(h=h, w=w, x=x, y=y)))
    for index, (expr, legend) in enumerate(panel.queries):
        builder = builder.with_target(PrometheusQuery().datasource(PROMETHEUS)
                                      .ref_id(chr(ord("A") + index)).expr(expr)
                                      .legend_format(legend))
    return builder.unit(panel.unit) if panel.unit else builder


def _status_timeline(panel_id: int) -> Any:
    names = (("unknown", "gray"), ("idle", "blue"), ("processing", "green"), ("pending", "yellow"),
             ("stalled", "red"))
    mapping = ValueMap({str(code): ValueMappingResult(text=text, color=colour, index=code)
                        for code, (text, colour) in enumerate(names)})
    timeline = StateTimeline().mappings([mapping]).thresholds(
        ThresholdsConfig().steps([Threshold(value=None, color="gray")]))
    return _place(timeline, STATUS_TIMELINE, panel_id)


def build(board: Board) -> dict[str, Any]:
    """One dashboard as Grafana's JSON model (plain dicts, keys sorted when written)."""
    dashboard = (Dashboard(board.title).uid(board.uid).tags(list(board.tags)).timezone("utc")
                 .refresh("10s").time("now-1h", "now").readonly().version(1))
    if board.status_timeline:
        dashboard = dashboard.with_panel(_status_timeline(1))
    for number, item in enumerate(board.panels, start=2 if board.status_timeline else 1):
        if isinstance(item, R):
            dashboard = dashboard.with_row(Row(item.title).id(number).collapsed(False)
                                           .grid_pos(GridPos(h=1, w=24, x=0, y=item.y)))
        else:
            dashboard = dashboard.with_panel(_place(Timeseries(), item, number))
    model: dict[str, Any] = json.loads(json.dumps(dashboard.build(), cls=JSONEncoder))
    return model


def render(board: Board) -> str:
    return json.dumps(build(board), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    stale = []
    for board in BOARDS:
        path = OUT / f"{board.file}.json"
        text = render(board)
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print("dashboards differ from scripts/dashboards.py: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
