"""Per-user quotas against the real upload service (a process): 429 with Retry-After past each,
counted in metrics, and nobody else slowed."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import make_settings
from tests.fixtures.hostile_client import Service, baseline, healthz, read_status, upload_process
from tests.integration.test_upload_api import jpeg_bytes

pytestmark = pytest.mark.integration

UPLOADS_PER_MINUTE = 40
STREAMS = 5


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, migrated: str) -> Iterator[Service]:
    settings = make_settings(Path(tmp_path_factory.mktemp("quotas")))
    with upload_process(settings, PROPHOTO_QUOTA_UPLOADS_PER_MINUTE=str(UPLOADS_PER_MINUTE),
                        PROPHOTO_QUOTA_SSE_STREAMS=str(STREAMS),
                        PROPHOTO_QUOTA_PARKED_SCANS_PER_MINUTE="3") as s:
        yield s


def _url(service: Service) -> str:
    return f"http://127.0.0.1:{service.port}"


async def _upload(client: httpx.AsyncClient, token: str, body: bytes) -> tuple[int, float, httpx.Response]:
    started = time.perf_counter()
    r = await client.post("/v1/uploads", content=body, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "image/jpeg", "X-Filename": "q.jpg"})
    return r.status_code, time.perf_counter() - started, r


def _unique(i: int) -> bytes:
    base = jpeg_bytes(32, 24)
    return base[:-2] + i.to_bytes(4, "big") + base[-2:]  # after the scan data, before EOI


async def test_a_thousand_uploads_in_a_minute_from_one_user_are_429_past_the_quota_and_slow_nobody(
        service: Service) -> None:
    async with httpx.AsyncClient(base_url=_url(service), timeout=30,
                                 limits=httpx.Limits(max_connections=16)) as client:
        quiet = [(await _upload(client, "tok-bob", _unique(10_000 + i)))[1] for i in range(6)]
        started = time.perf_counter()
        attack = asyncio.gather(*(_upload(client, "tok-alice", _unique(i)) for i in range(1000)))
        await asyncio.sleep(0.05)
        victim = [await _upload(client, "tok-bob", _unique(20_000 + i)) for i in range(6)]
        results = await attack
        took = time.perf_counter() - started
        metrics = (await client.get(f"http://127.0.0.1:{service.metrics_port}/metrics")).text
    codes = [status for status, _, _ in results]
    assert took < 60
    assert codes.count(201) == UPLOADS_PER_MINUTE, {c: codes.count(c) for c in set(codes)}
    assert codes.count(429) == 1000 - UPLOADS_PER_MINUTE
    refused = next(r for status, _, r in results if status == 429)
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json()["quota"] == "uploads per minute"
    assert all(status == 201 for status, _, _ in victim)  # bob's own quota is untouched
    # bob waits behind alice's queue of refusals at most as long as a few of his own uploads
    assert sorted(t for _, t, _ in victim)[3] < 0.5 + 3 * max(quiet)
    assert 'prophoto_quota_refusals_total{quota="uploads per minute"} 960.0' in metrics


def _open_stream(service: Service, path: str) -> tuple[socket.socket, int]:
    sock = service.connect()
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer tok-bob\r\n\r\n".encode())
    status, _ = read_status(sock)
    return sock, status


def test_event_streams_past_the_cap_are_429_and_healthz_stays_fast(service: Service) -> None:
    r = httpx.post(f"{_url(service)}/v1/uploads", content=_unique(99_999), headers={
        "Authorization": "Bearer tok-bob", "Content-Type": "image/jpeg", "X-Filename": "s.jpg"})
    assert r.status_code in (200, 201), r.text
    path = f"/v1/proxies/{r.json()['uuid']}/events"  # no preview worker runs: it stays pending
    quiet = baseline(lambda: healthz(service))
    opened: list[socket.socket] = []
    try:
        statuses = []
        for _ in range(300):
            sock, status = _open_stream(service, path)
            statuses.append(status)
            if status == 200:
                opened.append(sock)
            else:
                sock.close()
        assert statuses.count(200) == STREAMS
        assert statuses.count(429) == 300 - STREAMS
        assert healthz(service) < 0.05 + quiet
        metrics = httpx.get(f"http://127.0.0.1:{service.metrics_port}/metrics").text
        assert f"prophoto_sse_streams {float(STREAMS)}" in metrics
    finally:
        for sock in opened:
            sock.close()
    deadline = time.monotonic() + 10  # closed streams give their places back
    while time.monotonic() < deadline:
        sock, status = _open_stream(service, path)
        sock.close()
        if status == 200:
            break
        time.sleep(0.2)
    assert status == 200


def test_parked_job_scans_past_the_rate_are_429(service: Service) -> None:
    codes = [httpx.get(f"{_url(service)}/v1/failed", headers={"Authorization": "Bearer tok-bob"},
                       timeout=30).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
