"""Services ride out a broker or database that goes away and comes back.

Each service under test reaches RabbitMQ or PostgreSQL through a
`SwitchableProxy`, so cutting it is an outage for that service alone.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from shared.broker.publisher import AmqpPublisher, publish_trace
from tests.conftest import AMQP_URL, DATABASE_URL, REPO, make_settings, settings_env
from tests.fixtures.outages import SwitchableProxy, eventually
from tests.fixtures.tracing import start_tracing
from tests.fixtures.upload import free_port, serve
from tests.integration.test_tracing_ingest import event, rows_for
from tests.integration.test_upload_api import jpeg_bytes, wait_for_jobs

pytestmark = pytest.mark.integration


async def ready(url: str) -> tuple[int, dict[str, object]]:
    async with httpx.AsyncClient(timeout=5) as c:
        r = await c.get(url)
    return r.status_code, r.json()


async def test_the_trace_consumer_consumes_again_after_the_broker_returns_and_is_unready_meanwhile(
    tmp_path: Path, topology, pool
):
    proxy = SwitchableProxy(5672)
    await proxy.up()
    settings = make_settings(
        tmp_path, amqp_url=proxy.url_for(AMQP_URL, 5672), exchange=topology.settings.exchange,
        queue_traces=topology.settings.queue_traces, trace_batch_size=4, trace_batch_wait_s=0.1,
        queue_poll_s=0.3)
    direct = AmqpPublisher(topology.settings.broker, topology)  # publishes beside the outage, on the real port
    await direct.connect(declare=False)
    photo = uuid.uuid4()
    try:
        async with start_tracing(settings) as server:
            await publish_trace(direct, topology, event(photo, 1))
            assert len(await rows_for(pool, photo, 1)) == 1
            assert (await ready(f"{server.url}/readyz"))[0] == 200

            await proxy.down()  # what a broker restart does to its clients
            await eventually(lambda: _status_is(server.url, 503), 10, "readyz answers 503")
            _, body = await ready(f"{server.url}/readyz")
            assert "broker connection" in body["missing"], body
            await publish_trace(direct, topology, event(photo, 2))  # piles up meanwhile

            await proxy.up()
            await eventually(lambda: _status_is(server.url, 200), 20, "readyz answers 200 again")
            assert len(await rows_for(pool, photo, 2, within=15)) == 2  # the waiting event
            await publish_trace(direct, topology, event(photo, 3))
            assert len(await rows_for(pool, photo, 3, within=15)) == 3  # and new ones
    finally:
        await direct.close()
        await proxy.down()


async def _status_is(url: str, status: int) -> bool:
    try:
        return (await ready(f"{url}/readyz"))[0] == status
    except httpx.HTTPError:
        return False


async def test_an_upload_while_the_database_is_away_answers_503_problem_with_retry_after(
    tmp_path: Path, topology, migrated
):
    proxy = SwitchableProxy(5432)
    await proxy.up()
    settings = make_settings(
        tmp_path, database_url=proxy.url_for(DATABASE_URL, 5432),
        exchange=topology.settings.exchange, queue_preview=topology.settings.queue_preview)
    try:
        async for server in serve(settings):
            await proxy.down()
            async with server.client() as c:
                r = await c.post("/v1/uploads", files={"file": ("a.jpg", jpeg_bytes(), "image/jpeg")})
                assert r.status_code == 503, r.text
                assert r.headers["content-type"] == "application/problem+json"
                assert int(r.headers["retry-after"]) > 0
                assert r.json()["unavailable"] == "database"
                assert "database" in (await c.get("/readyz")).json()["missing"]
                await proxy.up()
                r = await c.post("/v1/uploads", files={"file": ("a.jpg", jpeg_bytes(), "image/jpeg")})
                assert r.status_code == 201, r.text
            jobs = await wait_for_jobs(settings, 1)  # published before the server stops
            assert [j["uuid"] for j in jobs] == [r.json()["uuid"]]
            assert len(list((tmp_path / "store").rglob("*.jpg"))) == 1  # the refused one left nothing
    finally:
        await proxy.down()


async def test_a_worker_started_while_the_broker_and_database_are_away_waits_then_works(
    tmp_path: Path, topology, migrated
):
    broker = SwitchableProxy(5672)
    database = SwitchableProxy(5432)  # both down from the start
    settings = make_settings(
        tmp_path, amqp_url=broker.url_for(AMQP_URL, 5672),
        database_url=database.url_for(DATABASE_URL, 5432),
        exchange=topology.settings.exchange, queue_finalize=topology.settings.queue_finalize,
        queue_preview=topology.settings.queue_preview)
    port = free_port()
    env = settings_env(settings) | {"PROPHOTO_FINALIZE_METRICS_PORT": str(port)}
    proc = start_service("finalize", env)
    try:
        await asyncio.sleep(4)
        assert proc.poll() is None, "the worker exited instead of waiting"
        await broker.up()
        await database.up()
        url = f"http://127.0.0.1:{port}/readyz"
        await eventually(lambda: _answers(url, 200), 30, "the worker becomes ready")
        await broker.down()  # and loses the broker again: not ready, still alive
        await eventually(lambda: _answers(url, 503), 15, "the worker says it is not ready")
        assert (await ready(url))[1]["missing"] == ["broker connection"]
        await broker.up()
        await eventually(lambda: _answers(url, 200), 30, "the worker is ready again")
        assert proc.poll() is None
    finally:
        await stop_process(proc)
        await broker.down()
        await database.down()


def start_service(name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", f"services.{name}"], cwd=REPO, env=env)


async def stop_process(proc: subprocess.Popen[bytes], within: float = 20) -> None:
    """SIGTERM, then wait without blocking the loop (the proxies run in it); SIGKILL if late."""
    proc.terminate()
    try:
        await eventually(lambda: _exited(proc), within, "the process exits on SIGTERM")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def _exited(proc: subprocess.Popen[bytes]) -> bool:
    return proc.poll() is not None


async def _answers(url: str, status: int) -> bool:
    try:
        async with httpx.AsyncClient(timeout=3) as c:
            return (await c.get(url)).status_code == status
    except httpx.HTTPError:
        return False


async def test_the_upload_service_started_while_the_database_is_away_waits_then_serves(
    tmp_path: Path, topology, migrated
):
    database = SwitchableProxy(5432)  # down from the start, as during a PostgreSQL restart
    port = free_port()
    settings = make_settings(
        tmp_path, database_url=database.url_for(DATABASE_URL, 5432), upload_port=port,
        exchange=topology.settings.exchange, queue_preview=topology.settings.queue_preview)
    proc = start_service("upload", settings_env(settings))
    try:
        await asyncio.sleep(4)
        assert proc.poll() is None, "the upload service exited instead of waiting"
        await database.up()
        await eventually(lambda: _answers(f"http://127.0.0.1:{port}/readyz", 200), 30,
                         "the upload service becomes ready")
    finally:
        await stop_process(proc)
        await database.down()
