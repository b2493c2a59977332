"""The worker-status rules as a pure function (no broker needed)."""

from __future__ import annotations

import pytest

from services.tracing.queue_status import Activity, judge
from shared.broker_probe import Depth

NOW = 1_000_000.0
STALL = 30.0


@pytest.mark.parametrize(
    ("depth", "activity", "ready_since", "expected"),
    [
        (Depth(ready=5, consumers=1), Activity(workers=1, in_progress=1, last_started=NOW - 600),
         NOW - 600, "processing"),  # a long job is processing, not stalled
        (Depth(ready=0, consumers=2), Activity(workers=2), None, "idle"),
        (Depth(ready=0, consumers=2), None, None, "idle"),
        (Depth(ready=0, consumers=0), None, None, "unknown"),
        (Depth(), None, None, "unknown"),
        (Depth(ready=3, consumers=0), None, NOW - 5, "pending"),
        (Depth(ready=3, consumers=0), None, NOW - 31, "stalled"),
        (Depth(ready=3, consumers=1), Activity(workers=1, last_started=NOW - 2), NOW - 300,
         "pending"),  # a job started 2 s ago: things move
        (Depth(ready=3, consumers=1), Activity(workers=1, last_started=NOW - 90), NOW - 90,
         "stalled"),  # consumers attached but nothing started for 90 s
        (Depth(ready=0, unacked=2, consumers=1), None, None, "processing"),  # management API
        # a worker fell silent holding 2 jobs and its consumer is still attached: frozen
        (Depth(ready=0, consumers=1), Activity(silent_workers=1, silent_held=2,
                                               silent_since=NOW - 16), None, "stalled"),
        (Depth(ready=0, consumers=2), Activity(workers=1, silent_workers=1, silent_held=2,
                                               silent_since=NOW - 16), None, "stalled"),
        # ... but its consumer is gone (killed: its jobs went back to the queue): forgotten
        (Depth(ready=0, consumers=1), Activity(workers=1, silent_workers=1, silent_held=2,
                                               silent_since=NOW - 16), None, "idle"),
        (Depth(ready=None, consumers=None), Activity(silent_workers=1, silent_held=1,
                                                     silent_since=NOW - 20), None, "stalled"),
    ],
)
def test_worker_status_follows_the_documented_rules(depth, activity, ready_since, expected):
    assert judge(depth, activity, ready_since, NOW, STALL).status == expected


def test_unacked_messages_no_live_worker_reports_are_a_stall_after_the_threshold():
    held = Depth(ready=0, unacked=2, consumers=1)  # a half-open consumer, seen by the broker
    assert judge(held, None, None, NOW, STALL, unreported_since=NOW - 5).status == "processing"
    verdict = judge(held, None, None, NOW, STALL, unreported_since=NOW - 31)
    assert verdict.status == "stalled" and "report no job" in verdict.detail


def test_a_live_worker_holding_jobs_past_its_timeout_without_progress_is_stalled():
    wedged = Activity(workers=1, in_progress=2, held=2, last_started=NOW - 400,
                      oldest_progress=NOW - 400)
    depth = Depth(ready=0, consumers=1)
    assert judge(depth, wedged, None, NOW, STALL, hung_after_s=500).status == "processing"
    verdict = judge(depth, wedged, None, NOW, STALL, hung_after_s=330)
    assert verdict.status == "stalled" and "no progress for 400 s" in verdict.detail


def test_a_worker_silent_with_jobs_in_hand_is_kept_until_it_beats_again():
    from services.tracing.workers import activity_by_queue
    from shared.messages import WorkerHeartbeat
    from shared.worker.heartbeat import LiveWorkers

    def beat(worker: str, **kw: object) -> WorkerHeartbeat:
        return WorkerHeartbeat(worker=worker, service="preview", queue="q", every_s=5.0,
                               **kw)  # type: ignore[arg-type]

    live = LiveWorkers()
    live.observe(beat("frozen", in_progress=2, held=2, last_progress=NOW - 20), now=NOW - 20)
    live.observe(beat("idle-and-gone"), now=NOW - 20)
    live.observe(beat("busy", in_progress=1, held=1, last_progress=NOW - 1), now=NOW)
    act = activity_by_queue(live.live(now=NOW), live.silent(now=NOW))["q"]
    assert (act.workers, act.held, act.silent_workers, act.silent_held) == (1, 1, 1, 2)
    assert act.silent_since == NOW - 20 and act.oldest_progress == NOW - 1
    live.observe(beat("frozen", in_progress=2, held=2, last_progress=NOW - 20), now=NOW + 1)
    assert live.silent(now=NOW + 1) == []  # it beats again: live, not silent


def test_live_workers_are_summed_per_queue_and_silent_or_leaving_ones_are_dropped():
    from services.tracing.workers import activity_by_queue
    from shared.messages import WorkerHeartbeat
    from shared.worker.heartbeat import LiveWorkers

    def beat(worker: str, **kw: object) -> WorkerHeartbeat:
        return WorkerHeartbeat(worker=worker, service="preview", queue="ingest-preview",
                               every_s=5.0, **kw)  # type: ignore[arg-type]

    live = LiveWorkers()
    live.observe(beat("a", in_progress=1, last_started=NOW - 3), now=NOW - 1)
    live.observe(beat("b", in_progress=1, last_started=NOW - 9), now=NOW - 2)
    live.observe(beat("dead", in_progress=1), now=NOW - 16)  # silent for more than 3 beats
    live.observe(beat("c"), now=NOW)
    live.observe(beat("c", leaving=True), now=NOW)
    preview = activity_by_queue(live.live(now=NOW))["ingest-preview"]
    assert (preview.workers, preview.in_progress, preview.last_started) == (2, 2.0, NOW - 3)


async def test_the_management_api_adds_unacked_counts_when_configured():
    import httpx

    from shared.broker_probe import BrokerProbe

    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[
            {"name": "ingest-preview", "messages_ready": 4, "messages_unacknowledged": 2,
             "consumers": 3},
        ])

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        probe = BrokerProbe(connection=None, management_url="http://u:p@rabbitmq:15672",  # type: ignore[arg-type]
                            amqp_url="amqp://u:p@rabbitmq:5672/", client=client)
        depths = await probe.depths(["ingest-preview", "ingest"])
    assert depths["ingest-preview"] == Depth(ready=4, unacked=2, consumers=3)
    assert depths["ingest"] == Depth()
    assert str(seen[0].url) == "http://rabbitmq:15672/api/queues/%2F"
    assert seen[0].headers["authorization"].startswith("Basic ")
