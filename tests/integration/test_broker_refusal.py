"""A broker that refuses connections for a long while: services wait, say so, and recover.

The upload service, the tracing service and a preview worker reach RabbitMQ
through a `SwitchableProxy`; `down()` drops their connections and refuses new
ones for `PROPHOTO_TEST_REFUSAL_S` seconds (12 in `make test`; `make soak`
runs it with 60). Meanwhile every one of them stays alive and answers
`/readyz` 503, uploads are still accepted (their jobs wait in the outbox), and
a finalize worker started during the refusal waits for the broker instead of
exiting. When the broker answers again, all of them are ready and the upload
made during the refusal becomes a ready preview.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import httpx
import pytest

from shared.broker.topology import Topology
from shared.settings import Settings
from tests.conftest import AMQP_URL, make_settings, settings_env
from tests.fixtures.outages import SwitchableProxy, eventually
from tests.fixtures.tracing import start_tracing
from tests.fixtures.upload import free_port, serve
from tests.integration.test_consumer_cancel import consumer_up
from tests.integration.test_outages import start_service, stop_process
from tests.integration.test_upload_api import jpeg_bytes

REFUSAL_S = float(os.environ.get("PROPHOTO_TEST_REFUSAL_S", "12"))

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240 + 2 * REFUSAL_S)]


async def status(url: str) -> int:
    try:
        async with httpx.AsyncClient(timeout=3) as c:
            return (await c.get(url)).status_code
    except httpx.HTTPError:
        return 0


async def test_services_wait_through_a_long_broker_refusal_unready_meanwhile_and_recover(
    tmp_path: Path, topology: Topology, pool, migrated
):
    proxy = SwitchableProxy(5672)
    await proxy.up()
    settings: Settings = make_settings(
        tmp_path, amqp_url=proxy.url_for(AMQP_URL, 5672), exchange=topology.exchange,
        queue_preview=topology.settings.queue_preview, queue_finalize=topology.settings.queue_finalize,
        queue_enhance=topology.settings.queue_enhance, queue_traces=topology.settings.queue_traces,
        publish_timeout_s=2.0, queue_poll_s=0.5, heartbeat_s=0.5)
    env = settings_env(settings)
    preview_port, finalize_port = free_port(), free_port()
    preview = start_service("preview", env | {"PROPHOTO_PREVIEW_METRICS_PORT": str(preview_port)})
    finalize = None
    try:
        async with start_tracing(settings) as tracing:
            async for upload in serve(settings):
                urls = {"upload": f"{upload.url}/readyz", "tracing": f"{tracing.url}/readyz",
                        "preview": f"http://127.0.0.1:{preview_port}/readyz"}
                for name, url in urls.items():
                    await eventually(lambda u=url: _is(u, 200), 30, f"{name} is ready")

                await proxy.down()
                refused_at = time.monotonic()
                for name, url in urls.items():
                    await eventually(lambda u=url: _is(u, 503), 10, f"{name} says it is not ready")
                async with upload.client() as c:  # accepted: the job waits in the outbox
                    r = await c.post("/v1/uploads", files={
                        "file": ("refused.jpg", jpeg_bytes(720, 480), "image/jpeg")})
                assert r.status_code == 201, r.text
                photo = r.json()["uuid"]
                finalize = start_service("finalize", env | {
                    "PROPHOTO_FINALIZE_METRICS_PORT": str(finalize_port)})
                urls["finalize"] = f"http://127.0.0.1:{finalize_port}/readyz"

                samples = 0
                while time.monotonic() - refused_at < REFUSAL_S:  # unready all along, none exits
                    for name, url in urls.items():
                        code = await status(url)
                        assert code in (0, 503) if name == "finalize" else code == 503, (name, code)
                    assert preview.poll() is None and finalize.poll() is None
                    samples += 1
                    await asyncio.sleep(1.0)
                assert samples >= REFUSAL_S // 2
                assert await consumer_up(f"http://127.0.0.1:{preview_port}/metrics",
                                         settings.queue_preview) == 0.0

                await proxy.up()
                for name, url in urls.items():
                    await eventually(lambda u=url: _is(u, 200), 40, f"{name} is ready again")
                await eventually(lambda: _preview_ready(pool, photo), 60,
                                 "the upload made during the refusal has its preview")
    finally:
        for proc in (preview, finalize):
            if proc is not None:
                await stop_process(proc)
        await proxy.down()


async def _is(url: str, code: int) -> bool:
    return await status(url) == code


async def _preview_ready(pool, photo: str) -> bool:
    state = await pool.fetchval("SELECT preview_status FROM proxy_images WHERE uuid = $1::uuid", photo)
    return bool(state == "ready")
