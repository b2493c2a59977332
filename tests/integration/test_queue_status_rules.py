"""The worker-status rules as a pure function (no broker needed)."""

from __future__ import annotations

import pytest

from services.tracing.queue_status import Activity, judge
from shared.broker.probe import Depth

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
        # frozen while idle: its last beat held nothing, but the broker hands its attached
        # consumer jobs up to the prefetch, which nobody runs
        (Depth(ready=0, consumers=2), Activity(workers=1, silent_workers=1,
                                               silent_since=NOW - 16), None, "stalled"),
        (Depth(ready=0, unacked=2, consumers=2), Activity(workers=1, silent_workers=1,
                                                          silent_since=NOW - 16), None, "stalled"),
        # ... killed while idle: its consumer went with it
        (Depth(ready=0, consumers=1), Activity(workers=1, silent_workers=1,
                                               silent_since=NOW - 16), None, "idle"),
        # ... and with the broker silent too, nothing says it holds anything
        (Depth(), Activity(silent_workers=1, silent_since=NOW - 16), None, "unknown"),
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


def test_a_live_worker_whose_consumer_connection_gets_no_answer_is_stalled():
    """Half-open: the worker beats on (publisher connection), holds nothing it knows of."""
    from services.tracing.workers import activity_by_queue
    from shared.messages import WorkerHeartbeat

    def beat(worker: str, silent_s: float | None) -> WorkerHeartbeat:
        return WorkerHeartbeat(worker=worker, service="preview", queue="q", every_s=5.0,
                               broker_silent_s=silent_s)

    idle = Depth(ready=0, consumers=2)  # no unacked count: no management API
    fine = activity_by_queue([beat("a", 0.3), beat("b", 1.9), beat("old", None)])["q"]
    assert judge(idle, fine, None, NOW, STALL, broker_silent_after_s=15).status == "idle"
    cut = activity_by_queue([beat("a", 0.3), beat("b", 17.4)])["q"]
    assert judge(idle, cut, None, NOW, STALL, broker_silent_after_s=20).status == "idle"
    verdict = judge(idle, cut, None, NOW, STALL, broker_silent_after_s=15)
    assert verdict.status == "stalled"
    assert "1 worker(s) heard nothing from the broker" in verdict.detail and "17 s" in verdict.detail
    busy = Activity(workers=2, in_progress=1, held=1, last_started=NOW - 1,
                    oldest_progress=NOW - 1, broker_silent=[0.4, 16.0])
    assert judge(idle, busy, None, NOW, STALL, broker_silent_after_s=15).status == "stalled"
    # without the threshold (an older monitor) the silence is not judged
    assert judge(idle, cut, None, NOW, STALL).status == "idle"


def test_a_silent_worker_is_kept_until_it_beats_again_or_says_goodbye():
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
    # the idle one is kept too: frozen while idle, it is handed jobs it never runs
    assert (act.workers, act.held, act.silent_workers, act.silent_held) == (1, 1, 2, 2)
    assert act.silent_since == NOW - 20 and act.oldest_progress == NOW - 1
    live.observe(beat("frozen", in_progress=2, held=2, last_progress=NOW - 20), now=NOW + 1)
    live.observe(beat("idle-and-gone", leaving=True), now=NOW + 1)
    assert live.silent(now=NOW + 1) == []  # one beats again, one says goodbye: none silent
    live.observe(beat("frozen"), now=NOW + 2)
    assert sorted(s.beat.worker for s in live.silent(now=NOW + 2 + 16)) == ["busy", "frozen"]
    assert live.silent(now=NOW + 2 + 601) == []  # long forgotten


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

    from shared.broker.probe import BrokerProbe

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


async def test_the_nodes_prometheus_endpoints_add_unacked_counts_from_whichever_node_leads():
    import httpx

    from shared.broker.probe import BrokerProbe

    # what a 3.10 node's /metrics/detailed answers (abridged): only the leader reports a queue
    leader = """# TYPE rabbitmq_detailed_queue_messages_ready gauge
rabbitmq_detailed_queue_messages_ready{vhost="/",queue="ingest-preview"} 0
# TYPE rabbitmq_detailed_queue_messages_unacked gauge
rabbitmq_detailed_queue_messages_unacked{vhost="/",queue="ingest-preview"} 2
# TYPE rabbitmq_detailed_queue_messages gauge
rabbitmq_detailed_queue_messages{vhost="/",queue="ingest-preview"} 2
# TYPE rabbitmq_detailed_queue_consumers gauge
rabbitmq_detailed_queue_consumers{vhost="/",queue="ingest-preview"} 1
rabbitmq_detailed_queue_consumers{vhost="other",queue="ingest"} 9
"""
    follower = "# TYPE rabbitmq_detailed_queue_messages_ready gauge\n"
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.port == 15692:
            raise httpx.ConnectError("node down")
        return httpx.Response(200, text=leader if request.url.port == 15693 else follower)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        probe = BrokerProbe(connection=None, amqp_url="amqp://u:p@n1:5672/", client=client,  # type: ignore[arg-type]
                            prometheus_url="http://n1:15692,http://n2:15693,http://n3:15694")
        depths = await probe._depths_from_prometheus(["ingest-preview", "ingest"])
    assert depths == {"ingest-preview": Depth(ready=0, unacked=2, consumers=1)}  # ingest: AMQP's
    assert len(seen) == 3 and seen[1].url.params.get_list("family") == [
        "queue_coarse_metrics", "queue_consumer_count"]
    assert seen[1].url.params["vhost"] == "/"

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("every node down")

    async with httpx.AsyncClient(transport=httpx.MockTransport(down)) as client:
        probe = BrokerProbe(connection=None, amqp_url="amqp://n1/", client=client,  # type: ignore[arg-type]
                            prometheus_url="http://n1:15692")
        with pytest.raises(httpx.HTTPError):  # depths() falls back to AMQP on this
            await probe._depths_from_prometheus(["ingest"])
