"""One broker connection per process: the upload and tracing services serve requests that
publish, choose shards, list and replay parked jobs, stream events and read queue depths, and
open no AMQP connection but their own one (counted where aio-pika opens every connection)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import aiormq
import httpx
import pytest

from shared.broker.topology import Topology
from shared.settings import Settings
from tests.fixtures.tracing import start_tracing
from tests.fixtures.upload import serve
from tests.integration.test_upload_api import jpeg_bytes

pytestmark = pytest.mark.integration


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    urls: list[str] = []
    real = aiormq.connect

    async def counting(url: Any, *args: Any, **kwargs: Any) -> Any:
        urls.append(str(url))
        return await real(url, *args, **kwargs)

    monkeypatch.setattr(aiormq, "connect", counting)
    yield urls


async def test_the_upload_service_serves_everything_over_one_connection(
        settings: Settings, topology: Topology, migrated: str, opened: list[str]) -> None:
    async for server in serve(settings):
        async with server.client("tok-alice") as client:
            for n in range(3):
                r = await client.post("/v1/uploads", content=jpeg_bytes(64 + n, 48),
                                      headers={"Content-Type": "image/jpeg", "X-Filename": f"{n}.jpg"})
                assert r.status_code == 201, r.text
            photo = r.json()["uuid"]
            for _ in range(5):
                assert (await client.get("/v1/failed")).status_code == 200
                assert (await client.post("/v1/failed/replay", json={"tag": "ingest"})).status_code == 200
            async with client.stream("GET", f"/v1/proxies/{photo}/events") as events:
                assert events.status_code == 200
            for _ in range(50):  # the outbox relay publishes the three preview jobs
                if (await client.get("/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert (await client.get("/readyz")).status_code == 200
        assert len(opened) == 1, opened


async def test_the_tracing_service_serves_everything_over_one_connection(
        settings: Settings, topology: Topology, migrated: str, opened: list[str]) -> None:
    async with start_tracing(settings) as server:
        async with httpx.AsyncClient(base_url=server.url, headers=server.headers) as client:
            for _ in range(5):
                assert (await client.get("/v1/queue-status")).status_code == 200
            await asyncio.sleep(settings.queue_poll_s)
    assert len(opened) == 1, opened
