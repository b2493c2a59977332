"""tus 1.0 on the upload service: the protocol, its bad input, S3 parts, expiry."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from pathlib import Path

import httpx
import pytest

from services.upload.resumable import uploads as resumable
from shared.storage import open_store
from tests.conftest import make_settings
from tests.fixtures.upload import serve
from tests.integration.test_upload_api import jpeg_bytes

pytestmark = pytest.mark.integration

V = {"Tus-Resumable": "1.0.0"}
PATCH = V | {"Content-Type": "application/offset+octet-stream"}


def padded_jpeg(size: int) -> bytes:
    """A real JPEG followed by random bytes up to `size` (sniffed, read and hashed like any photo)."""
    head = jpeg_bytes(320, 240)
    return head + os.urandom(size - len(head))


def meta(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


async def create(c: httpx.AsyncClient, length: int, name: str = "a.jpg") -> str:
    r = await c.post("/v1/tus/", headers=V | {"Upload-Length": str(length),
                                                "Upload-Metadata": meta(filename=name)})
    assert r.status_code == 201, r.text
    assert r.headers["Tus-Resumable"] == "1.0.0"
    return r.headers["Location"]


async def offset_of(c: httpx.AsyncClient, url: str) -> int:
    r = await c.head(url, headers=V)
    assert r.status_code == 200
    return int(r.headers["Upload-Offset"])


async def proxies_with(pool, user: str, sha: str) -> int:
    return await pool.fetchval(
        "SELECT count(*) FROM proxy_images WHERE user_id = $1 AND sha256 = $2", user, sha)


async def test_discovery_names_the_version_extensions_size_limit_and_checksums(upload_server):
    async with upload_server.client(token=None) as c:
        r = await c.options("/v1/tus/")
    assert r.status_code == 204
    assert r.headers["Tus-Version"] == "1.0.0"
    assert set(r.headers["Tus-Extension"].split(",")) == {
        "creation", "creation-with-upload", "termination", "expiration", "checksum"}
    assert r.headers["Tus-Max-Size"] == str(upload_server.settings.max_upload_bytes)
    assert "sha256" in r.headers["Tus-Checksum-Algorithm"].split(",")


async def test_an_upload_in_three_patches_becomes_one_proxy_with_the_files_sha256(upload_server, pool):
    data = padded_jpeg(300_000)
    sha = hashlib.sha256(data).hexdigest()
    async with upload_server.client() as c:
        url = await create(c, len(data), "three.jpg")
        assert "Upload-Expires" in (await c.head(url, headers=V)).headers
        for start, end in ((0, 1000), (1000, 150_000), (150_000, len(data))):
            digest = base64.b64encode(hashlib.sha256(data[start:end]).digest()).decode()
            r = await c.patch(url, content=data[start:end], headers=PATCH | {
                "Upload-Offset": str(start), "Upload-Checksum": f"sha256 {digest}"})
            assert int(r.headers["Upload-Offset"]) == end
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["sha256"] == sha and answer["original_name"] == "three.jpg"
        assert answer["format"] == "jpeg" and not answer["duplicate"]
        again = await c.get(f"{url}/proxy")
        assert again.status_code == 200 and again.json()["uuid"] == answer["uuid"]
        # the last PATCH repeated (a client that missed the answer) answers the same proxy
        repeat = await c.patch(url, content=b"", headers=PATCH | {"Upload-Offset": str(len(data))})
        assert repeat.status_code == 200 and repeat.json()["uuid"] == answer["uuid"]
    user = upload_server.settings.tokens()["tok-alice"]
    assert await proxies_with(pool, user, sha) == 1
    store = open_store(upload_server.settings.temp_store, upload_server.settings.stores.s3)
    stored = await store.get_bytes(f"ingest-temp/{answer['uuid']}.jpg")
    assert hashlib.sha256(stored).hexdigest() == sha
    assert await store.list("ingest-temp/tus") == []  # the partial file became the object


async def test_creation_with_upload_completes_in_one_request(upload_server):
    data = jpeg_bytes(200, 100)
    async with upload_server.client() as c:
        r = await c.post("/v1/tus/", content=data, headers=PATCH | {
            "Upload-Length": str(len(data)), "Upload-Metadata": meta(filename="one.jpg")})
    assert r.status_code == 201, r.text
    assert r.headers["Upload-Offset"] == str(len(data))
    assert r.json()["sha256"] == hashlib.sha256(data).hexdigest()


async def test_a_patch_at_the_wrong_offset_is_409_and_changes_nothing(upload_server):
    data = padded_jpeg(20_000)
    async with upload_server.client() as c:
        url = await create(c, len(data))
        await c.patch(url, content=data[:5000], headers=PATCH | {"Upload-Offset": "0"})
        r = await c.patch(url, content=data[4000:], headers=PATCH | {"Upload-Offset": "4000"})
        assert r.status_code == 409 and r.json()["offset"] == 5000
        assert await offset_of(c, url) == 5000


async def test_a_checksum_mismatch_is_460_and_stores_none_of_the_bytes(upload_server):
    data = padded_jpeg(20_000)
    async with upload_server.client() as c:
        url = await create(c, len(data))
        await c.patch(url, content=data[:5000], headers=PATCH | {"Upload-Offset": "0"})
        wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
        r = await c.patch(url, content=data[5000:], headers=PATCH | {
            "Upload-Offset": "5000", "Upload-Checksum": f"sha256 {wrong}"})
        assert r.status_code == 460 and r.headers["Content-Type"] == "application/problem+json"
        assert await offset_of(c, url) == 5000
        part = Path(upload_server.settings.temp_store[len("file://"):]) / "ingest-temp" / "tus" / url.rsplit("/", 1)[1]
        assert part.stat().st_size == 5000
        done = await c.patch(url, content=data[5000:], headers=PATCH | {"Upload-Offset": "5000"})
    assert done.status_code == 200 and done.json()["sha256"] == hashlib.sha256(data).hexdigest()


async def test_another_users_upload_is_404(upload_server):
    async with upload_server.client() as c:
        url = await create(c, 1000)
    async with upload_server.client(token="tok-bob") as bob:
        head = await bob.head(url, headers=V)
        patch = await bob.patch(url, content=b"x" * 10, headers=PATCH | {"Upload-Offset": "0"})
        delete = await bob.delete(url, headers=V)
    assert (head.status_code, patch.status_code, delete.status_code) == (404, 404, 404)


async def test_a_length_over_the_limit_is_413_at_creation(upload_server):
    limit = upload_server.settings.max_upload_bytes
    async with upload_server.client() as c:
        r = await c.post("/v1/tus/", headers=V | {"Upload-Length": str(limit + 1)})
    assert r.status_code == 413 and r.json()["limit"] == limit


async def test_more_unfinished_uploads_than_the_cap_is_429(tmp_path, topology, migrated):
    settings = make_settings(tmp_path, tus_max_incomplete=2, tus_max_incomplete_bytes=10_000,
                             exchange=topology.settings.exchange,
                             queue_preview=topology.settings.queue_preview)
    async for server in serve(settings):
        async with server.client() as c:
            first = await create(c, 1000)
            await create(c, 1000)
            count = await c.post("/v1/tus/", headers=V | {"Upload-Length": "1000"})
            assert count.status_code == 429 and count.json()["cap"] == 2
            assert (await c.delete(first, headers=V)).status_code == 204
            size = await c.post("/v1/tus/", headers=V | {"Upload-Length": "9500"})
            assert size.status_code == 429 and "bytes" in size.json()["title"]
            assert (await c.post("/v1/tus/", headers=V | {"Upload-Length": "1000"})).status_code == 201


async def test_a_completed_file_that_is_not_a_photo_is_the_same_415_as_the_direct_upload(upload_server, pool):
    data = b"%PDF-1.7\n" + os.urandom(3000)
    async with upload_server.client() as c:
        direct = await c.post("/v1/uploads", content=data,
                              headers={"Content-Type": "application/octet-stream", "X-Filename": "a.pdf"})
        url = await create(c, len(data), "a.pdf")
        r = await c.patch(url, content=data, headers=PATCH | {"Upload-Offset": "0"})
        later = await c.get(f"{url}/proxy")
    assert direct.status_code == r.status_code == later.status_code == 415
    assert r.json()["title"] == direct.json()["title"] == later.json()["title"]
    assert r.json()["detail"] == direct.json()["detail"]
    user = upload_server.settings.tokens()["tok-alice"]
    assert await proxies_with(pool, user, hashlib.sha256(data).hexdigest()) == 0
    assert await open_store(upload_server.settings.temp_store, upload_server.settings.stores.s3).list("ingest-temp") == []


async def test_an_expired_upload_is_410_and_the_sweeper_removes_its_bytes_and_row(tmp_path, topology, migrated, pool):
    settings = make_settings(tmp_path, tus_expiry_s=0.5, exchange=topology.settings.exchange,
                             queue_preview=topology.settings.queue_preview)
    async for server in serve(settings):
        async with server.client() as c:
            url = await create(c, 10_000)
            await c.patch(url, content=b"\xff\xd8\xff" + b"x" * 997, headers=PATCH | {"Upload-Offset": "0"})
            await asyncio.sleep(0.7)
            head = await c.head(url, headers=V)
            patch = await c.patch(url, content=b"x" * 10, headers=PATCH | {"Upload-Offset": "1000"})
            assert head.status_code == patch.status_code == 410
            removed = await server.app.state.ctx.extras["tus"].sweep()  # type: ignore[attr-defined]
            assert removed >= 1  # every expired row of the shared test database goes, ours among them
            assert (await c.head(url, headers=V)).status_code == 404
    upload_id = url.rsplit("/", 1)[1]
    assert await pool.fetchval("SELECT count(*) FROM tus_uploads WHERE id = $1", upload_id) == 0
    assert await open_store(settings.temp_store, settings.stores.s3).list("ingest-temp/tus") == []


async def test_concurrent_patches_to_one_upload_one_wins_and_no_bytes_mix(upload_server, monkeypatch):
    monkeypatch.setattr(resumable, "LOCK_WAIT_S", 0.1)
    data = padded_jpeg(200_000)
    other = bytes(reversed(data[3:])) + data[:3]

    async def slow(body: bytes):
        for i in range(0, len(body), 20_000):
            yield body[i:i + 20_000]
            await asyncio.sleep(0.05)

    async with upload_server.client() as c, upload_server.client() as c2:
        url = await create(c, len(data))
        first = asyncio.create_task(c.patch(url, content=slow(data), headers=PATCH | {"Upload-Offset": "0"}))
        await asyncio.sleep(0.15)
        second = await c2.patch(url, content=other, headers=PATCH | {"Upload-Offset": "0"})
        won = await first
        late = await c2.patch(url, content=other, headers=PATCH | {"Upload-Offset": "0"})
    assert second.status_code == 423
    assert won.status_code == 200 and won.json()["sha256"] == hashlib.sha256(data).hexdigest()
    assert late.status_code == 409


async def test_termination_removes_the_bytes_and_the_upload(upload_server):
    async with upload_server.client() as c:
        url = await create(c, 50_000)
        await c.patch(url, content=b"\xff\xd8\xff" + b"y" * 1000, headers=PATCH | {"Upload-Offset": "0"})
        assert (await c.delete(url, headers=V)).status_code == 204
        assert (await c.head(url, headers=V)).status_code == 404
    assert await open_store(upload_server.settings.temp_store, upload_server.settings.stores.s3).list("ingest-temp/tus") == []


async def test_requests_without_the_tus_version_are_412(upload_server):
    async with upload_server.client() as c:
        r = await c.post("/v1/tus/", headers={"Upload-Length": "10"})
    assert r.status_code == 412 and r.headers["Tus-Resumable"] == "1.0.0"


async def test_on_s3_the_partial_upload_is_multipart_parts_and_a_tail(s3_settings_factory, topology, migrated, pool):
    settings = s3_settings_factory(exchange=topology.settings.exchange,
                                   queue_preview=topology.settings.queue_preview)
    data = padded_jpeg(12 * 1024 * 1024 + 12345)
    async for server in serve(settings):
        async with server.client() as c:
            url = await create(c, len(data), "big.jpg")
            upload_id = url.rsplit("/", 1)[1]
            step = 3 * 1024 * 1024 + 7  # never part-aligned: every PATCH leaves a tail
            for start in range(0, len(data), step):
                r = await c.patch(url, content=data[start:start + step],
                                  headers=PATCH | {"Upload-Offset": str(start)})
                if start + step < len(data):
                    assert r.status_code == 204, r.text
                    row = await pool.fetchrow("SELECT storage FROM tus_uploads WHERE id = $1", upload_id)
                    assert row["storage"]["mpu"] and (row["storage"]["tail"] or row["storage"]["parts"])
    assert r.status_code == 200, r.text
    sha = hashlib.sha256(data).hexdigest()
    assert r.json()["sha256"] == sha
    store = open_store(settings.temp_store, settings.stores.s3)
    stored = await store.get_bytes(f"ingest-temp/{r.json()['uuid']}.jpg")
    assert hashlib.sha256(stored).hexdigest() == sha
    assert [k for k in await store.list("ingest-temp") if "/tus/" in k] == []
