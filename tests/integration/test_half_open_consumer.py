"""A preview worker whose consumer connection goes half-open: its jobs come back and get done.

Issue 24: a worker holding jobs without progress because its broker
connection is half-open (the path drops packets, no FIN or RST). A worker
keeps two connections, publisher and consumer; here only the consumer's
goes through a proxy (tests/fixtures/blackhole.py) that blackholes it while
the worker is idle, so its heartbeat events keep flowing on the publisher
connection and the tracing service (no Prometheus endpoint, no management
API: it sees neither unacked counts nor which consumer holds what) hears a
live worker, whose beats say how long its consumer connection has had no
answer from the broker (`Echo`, a no-op round trip every 2 s). Photos are then uploaded: the broker hands some to the
blackholed consumer, and the proxy counts those deliveries as they vanish.

What bounds the hold is the AMQP heartbeat every connection asks for
(`PROPHOTO_AMQP_HEARTBEAT_S`, 10 s): RabbitMQ closes a connection it has
heard nothing on for two intervals, its unacked deliveries go back to the
queue, and the other worker does them. Measured here: when the broker closed
the connection, when every photo had its preview (bound: 40 s from the
blackhole, the issue's stall bound; measured 23 s, against 171 s with
aiormq's default 60 s heartbeat), that the queue read `stalled` meanwhile
(bound: 40 s; `PROPHOTO_BROKER_SILENT_AFTER_S` is 15 s) and not once the
worker consumes again, that each job ran once (the workers'
success counts add up to the photos), and that the worker reconnected by
itself (aiormq gives up after three silent intervals) and consumes again.
"""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest
from yarl import URL

from shared.settings import Settings
from tests.fixtures.blackhole import BlackholeProxy
from tests.fixtures.preview import PreviewWorkers
from tests.fixtures.tracing import start_tracing
from tests.integration.test_upload_api import jpeg_bytes

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

DONE_WITHIN_S = 40.0
STALLED_WITHIN_S = 40.0


def successes(workers: PreviewWorkers, i: int) -> float:
    found = re.findall(r'^prophoto_jobs_total\{[^}]*outcome="success"[^}]*\} (\S+)$',
                       workers.metrics(i), re.M)
    return sum(float(v) for v in found)


async def test_jobs_held_by_a_half_open_consumer_are_done_by_another_worker_within_40_s(
    settings: Settings, topology: object, migrated: str, upload_server, preview_workers: PreviewWorkers,
    pool,
):
    assert settings.rabbitmq_prometheus_url == settings.rabbitmq_management_url == ""
    assert settings.amqp_heartbeat_s == 10
    broker = URL(settings.amqp_url)
    proxy = BlackholeProxy(broker.host or "127.0.0.1", broker.port or 5672)
    port = await proxy.start()
    queue = settings.queue_preview
    try:
        await asyncio.to_thread(preview_workers.start, {"PROPHOTO_AMQP_URL": str(broker.with_port(port))})
        await asyncio.to_thread(preview_workers.start)
        async with start_tracing(settings) as tracing, httpx.AsyncClient(
                headers=tracing.headers, timeout=5) as c:

            async def status() -> dict:
                r = await c.get(f"{tracing.url}/v1/queue-status")
                return r.json()["queues"][queue]

            deadline = time.monotonic() + 30
            while (await status())["worker"]["workers_reporting"] < 2:
                assert time.monotonic() < deadline, "the tracing service never heard both workers"
                await asyncio.sleep(0.5)
            silent = proxy.blackhole()
            at = time.monotonic()
            assert len(silent) == 1, "only the proxied worker's consumer connection goes silent"
            assert any(not link.consumer for link in proxy.links), "its publisher stays connected"

            uuids = []
            for n in range(12):
                user = "tok-alice" if n % 2 else "tok-bob"
                async with upload_server.client(token=user) as uc:
                    r = await uc.post("/v1/uploads", content=jpeg_bytes(800 + n, 600),
                                      headers={"Content-Type": "application/octet-stream",
                                               "X-Filename": f"h{n}.jpg"})
                assert r.status_code in (200, 201), r.text
                uuids.append(r.json()["uuid"])
                if proxy.deliveries_dropped >= 2:
                    break
                await asyncio.sleep(0.3)
            held = proxy.deliveries_dropped
            assert held >= 1, "the broker handed nothing to the blackholed consumer"

            seen: list[tuple[float, str, str]] = []
            done_after = broker_closed_after = stalled_after = None
            while time.monotonic() - at < 60:
                q = await status()
                entry = (round(time.monotonic() - at, 1), q["worker"]["status"], q["worker"]["detail"])
                if not seen or seen[-1][1] != entry[1]:
                    seen.append(entry)
                if broker_closed_after is None and silent[0].broker_closed_at is not None:
                    broker_closed_after = silent[0].broker_closed_at - at
                ready = await pool.fetchval(
                    "SELECT count(*) FROM proxy_images WHERE uuid = ANY($1::uuid[])"
                    " AND preview_status = 'ready'", uuids)
                if done_after is None and ready == len(uuids):
                    done_after = time.monotonic() - at
                reconnected = sum(1 for link in proxy.links if link.consumer
                                  and link.opened_at > at) >= 1
                if stalled_after is None and q["worker"]["status"] == "stalled":
                    stalled_after = time.monotonic() - at
                if done_after is not None and reconnected and q["broker"]["consumers"] == 2 \
                        and q["worker"]["status"] != "stalled":
                    break
                await asyncio.sleep(0.5)
            reconnected_after = min((link.opened_at - at for link in proxy.links
                                     if link.consumer and link.opened_at > at), default=None)
            report = (f"{len(uuids)} uploads, {held} deliveries blackholed; broker closed the "
                      f"connection {broker_closed_after} s after the blackhole, client "
                      f"{None if silent[0].client_closed_at is None else silent[0].client_closed_at - at}"
                      f" s; all previews ready {done_after} s; stalled {stalled_after} s; worker consuming again "
                      f"{reconnected_after} s; queue status: {seen}")
            print(report)
            assert done_after is not None and done_after <= DONE_WITHIN_S, report
            # seen without unacked counts: the worker's beats say its consumer connection is silent
            assert stalled_after is not None and stalled_after <= STALLED_WITHIN_S, report
            assert any(s == "stalled" and "heard nothing from the broker" in d
                       for _, s, d in seen), report
            assert seen[-1][1] != "stalled", report  # and no longer, once it consumes again
            assert broker_closed_after is not None and broker_closed_after <= 3 * settings.amqp_heartbeat_s, report
            assert reconnected_after is not None, report
            counts = [await asyncio.to_thread(successes, preview_workers, i) for i in (0, 1)]
            assert sum(counts) == len(uuids), (counts, report)  # each job done once, none lost
    finally:
        await asyncio.to_thread(preview_workers.stop)  # before the proxy goes: a quiet exit
        await proxy.close()
