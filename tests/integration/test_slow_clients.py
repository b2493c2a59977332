"""Slow resumable uploads hold no database connection: 40 PATCHes trickling their bodies from
two users leave a third user's HEAD, PATCH and direct upload as fast as without them."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import make_settings
from tests.fixtures.hostile_client import Service, baseline, upload_process
from tests.integration.test_upload_api import jpeg_bytes

pytestmark = pytest.mark.integration

TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, migrated: str) -> Iterator[Service]:
    with upload_process(make_settings(Path(tmp_path_factory.mktemp("slow")))) as s:
        yield s


def _create(client: httpx.Client, token: str, length: int) -> str:
    r = client.post("/v1/tus/", headers=TUS | {"Authorization": f"Bearer {token}",
                                               "Upload-Length": str(length)})
    assert r.status_code == 201, r.text
    return str(r.headers["Location"])


def _trickle(service: Service, token: str, location: str) -> socket.socket:
    """A PATCH that promises 1,000 bytes and sends one: its body stays open."""
    sock = service.connect()
    sock.sendall(f"PATCH {location} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n"
                 "Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
                 "Content-Type: application/offset+octet-stream\r\nContent-Length: 1000\r\n\r\n\xff".encode())
    return sock


def test_forty_slow_patches_from_two_users_leave_a_third_users_requests_fast(service: Service) -> None:
    url = f"http://127.0.0.1:{service.port}"
    photo = jpeg_bytes(64, 48)
    with httpx.Client(base_url=url, timeout=30) as client:
        carol = {"Authorization": "Bearer tok-oscar"}  # a third caller
        own = _create(client, "tok-oscar", 10_000)
        counter = iter(range(10**6))

        def head() -> float:
            started = time.perf_counter()
            assert client.head(own, headers=TUS | carol).status_code == 200
            return time.perf_counter() - started

        def patch_and_upload() -> float:
            location = _create(client, "tok-oscar", 10)
            started = time.perf_counter()
            r = client.patch(location, content=b"\xff" * 5, headers=TUS | carol | {
                "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
            assert r.status_code == 204, r.text
            client.delete(location, headers=TUS | carol)
            unique = photo[:-2] + next(counter).to_bytes(4, "big") + photo[-2:]
            r = client.post("/v1/uploads", content=unique, headers=carol | {
                "Content-Type": "image/jpeg", "X-Filename": "c.jpg"})
            assert r.status_code == 201, r.text
            return time.perf_counter() - started

        quiet_head, quiet_rest = baseline(head, 5), baseline(patch_and_upload, 5)
        held = [_create(client, token, 1000) for token in ("tok-alice", "tok-bob") for _ in range(20)]
        slow = [_trickle(service, "tok-alice" if i < 20 else "tok-bob", location)
                for i, location in enumerate(held)]
        try:
            time.sleep(1.0)
            during_head = [head() for _ in range(5)]
            during_rest = [patch_and_upload() for _ in range(3)]
            # the slow PATCHes do hold their uploads (what used to hold a connection each)
            busy = client.patch(held[-1], content=b"\xff", headers=TUS | {
                "Authorization": "Bearer tok-bob", "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream"})
            assert busy.status_code == 423, busy.text
        finally:
            for sock in slow:
                sock.close()
    assert max(during_head) < 0.5 + quiet_head, (during_head, quiet_head)
    assert max(during_rest) < 0.5 + quiet_rest, (during_rest, quiet_rest)
