"""The upload service over real HTTP, with the real broker, database, store and ExifTool."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import time
from pathlib import Path
from urllib.parse import quote
from uuid import UUID

import aio_pika
import httpx
import pytest
from PIL import Image

from shared.broker.topology import Topology
from shared.http.metrics_listener import serve_metrics
from shared.messages import GeneratePreview
from shared.storage import open_store
from tests.conftest import make_settings
from tests.fixtures.upload import UploadServer, free_port, serve

pytestmark = pytest.mark.integration


def jpeg_bytes(width: int = 640, height: int = 480, exif: bool = True) -> bytes:
    img = Image.new("RGB", (width, height), (200, 80, 40))
    buf = io.BytesIO()
    kwargs = {}
    if exif:
        ex = Image.Exif()
        ex[0x010F] = "Canon"
        ex[0x0110] = "Canon EOS R5"
        ex[0x0112] = 1
        kwargs["exif"] = ex.tobytes()
    img.save(buf, "JPEG", quality=80, **kwargs)
    return buf.getvalue()


async def queued_jobs(settings, queue: str | None = None) -> list[dict]:
    """The jobs waiting in `queue`, or in any preview lane's queues (left queued)."""
    names = [queue] if queue else [q for _, queues in Topology(settings).lanes() for q in queues]
    conn = await aio_pika.connect(settings.amqp_url)
    out = []
    async with conn:
        ch = await conn.channel()
        for name in names:
            q = await ch.declare_queue(name, passive=True)
            while (m := await q.get(no_ack=False, fail=False)) is not None:
                out.append(json.loads(m.body))
        # the channel closes without acks: the jobs stay queued
    return out


async def wait_for_jobs(settings, n: int, timeout: float = 15) -> list[dict]:
    deadline = time.monotonic() + timeout
    jobs: list[dict] = []
    while time.monotonic() < deadline:
        jobs = await queued_jobs(settings)
        if len(jobs) >= n:
            return jobs
        await asyncio.sleep(0.2)
    raise AssertionError(f"expected {n} queued jobs, found {len(jobs)}")


async def store_keys(settings) -> list[str]:
    return await open_store(settings.temp_store, settings.stores.s3).list("ingest-temp")


def alice(server: UploadServer) -> str:
    return server.settings.tokens()["tok-alice"]


async def proxy_count(pool, user: str) -> int:
    return await pool.fetchval("SELECT count(*) FROM proxy_images WHERE user_id = $1", user)


async def test_a_multipart_jpeg_is_answered_201_with_metadata_and_its_preview_job_is_queued(
    upload_server: UploadServer, pool
):
    data = jpeg_bytes()
    async with upload_server.client() as c:
        r = await c.post("/v1/uploads", files={"file": ("IMG_0001.JPG", data, "image/jpeg")})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "pending" and body["duplicate"] is False
    assert body["sha256"] == hashlib.sha256(data).hexdigest() and body["size"] == len(data)
    assert body["original_name"] == "IMG_0001.JPG" and body["format"] == "jpeg"
    assert body["metadata"]["camera_make"] == "Canon"
    assert body["metadata"]["camera_model"] == "Canon EOS R5"
    assert body["thumbnail"]["url"] == f"/v1/proxies/{body['uuid']}/thumbnail"
    jobs = await wait_for_jobs(upload_server.settings, 1)
    job = GeneratePreview.model_validate(jobs[0])
    assert job.uuid == UUID(body["uuid"]) and job.user_id == alice(upload_server)
    row = await pool.fetchrow("SELECT * FROM proxy_images WHERE uuid = $1", job.uuid)
    assert row["preview_status"] == "pending" and row["temp_key"] == f"ingest-temp/{job.uuid}.jpg"
    assert f"ingest-temp/{job.uuid}.jpg" in await store_keys(upload_server.settings)


async def test_the_raw_body_fast_path_takes_the_name_from_x_filename(upload_server: UploadServer):
    async with upload_server.client() as c:
        r = await c.post("/v1/uploads", content=jpeg_bytes(),
                         headers={"Content-Type": "image/jpeg", "X-Filename": "fast.jpg"})
    assert r.status_code == 201, r.text
    assert r.json()["original_name"] == "fast.jpg"


async def test_the_embedded_exif_thumbnail_is_stored_and_returned_inline(upload_server, corpus: Path):
    data = (corpus / "jpeg" / "Canon_40D.jpg").read_bytes()
    async with upload_server.client() as c:
        r = await c.post("/v1/uploads", files={"file": ("Canon_40D.jpg", data, "image/jpeg")})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["thumbnail"]["inline"].startswith("data:image/jpeg;base64,")
    assert f"ingest-temp/exif-thumbs/{body['uuid']}.jpg" in await store_keys(upload_server.settings)
    assert body["metadata"]["camera_model"] == "Canon EOS 40D"


async def test_the_same_bytes_again_answer_200_with_the_first_uuid(upload_server: UploadServer):
    data = jpeg_bytes(320, 200)
    async with upload_server.client() as c:
        first = await c.post("/v1/uploads", files={"file": ("a.jpg", data, "image/jpeg")})
        again = await c.post("/v1/uploads", content=data,
                             headers={"Content-Type": "image/jpeg", "X-Filename": "b.jpg"})
        shortcut = await c.post(
            "/v1/uploads", content=b"",
            headers={"Content-Type": "image/jpeg", "X-Filename": "c.jpg",
                     "X-Content-SHA256": hashlib.sha256(data).hexdigest()},
        )
    assert first.status_code == 201
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert shortcut.status_code == 200 and shortcut.json()["duplicate"] is True
    assert first.json()["uuid"] == again.json()["uuid"] == shortcut.json()["uuid"]
    assert len(await wait_for_jobs(upload_server.settings, 1)) == 1


async def test_another_users_proxy_is_not_found(upload_server: UploadServer):
    async with upload_server.client() as alice, upload_server.client("tok-bob") as bob:
        r = await alice.post("/v1/uploads", files={"file": ("a.jpg", jpeg_bytes(), "image/jpeg")})
        uuid = r.json()["uuid"]
        assert (await alice.get(f"/v1/proxies/{uuid}")).status_code == 200
        hidden = await bob.get(f"/v1/proxies/{uuid}")
        assert hidden.status_code == 404
        assert hidden.headers["content-type"].startswith("application/problem+json")
        assert (await bob.delete(f"/v1/proxies/{uuid}")).status_code == 404
        # the same bytes are a new proxy for another user, not a duplicate
        mine = await bob.post("/v1/uploads", files={"file": ("a.jpg", jpeg_bytes(), "image/jpeg")})
        assert mine.status_code == 201 and mine.json()["uuid"] != uuid


@pytest.mark.parametrize("token", [None, "wrong"])
async def test_a_missing_or_wrong_token_is_401_and_stores_nothing(upload_server, pool, token):
    async with upload_server.client(token) as c:
        r = await c.post("/v1/uploads", files={"file": ("a.jpg", jpeg_bytes(), "image/jpeg")})
    assert r.status_code == 401
    assert r.json()["status"] == 401 and r.json()["title"]
    assert await store_keys(upload_server.settings) == []


BAD_BODIES = {
    "zero bytes": (b"", "image/jpeg", 400),
    "html named jpg": (b"<!DOCTYPE html><html><body>hi</body></html>", "image/jpeg", 415),
    "text named jpg": (b"just some words\n" * 20, "image/jpeg", 415),
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
async def test_bad_bodies_get_a_problem_and_leave_nothing_behind(upload_server, pool, case):
    content, ctype, status = BAD_BODIES[case]
    async with upload_server.client() as c:
        r = await c.post("/v1/uploads", files={"file": ("photo.jpg", content, ctype)})
        assert r.status_code == status, r.text
        problem = r.json()
        assert r.headers["content-type"].startswith("application/problem+json")
        assert problem["status"] == status and problem["detail"]
        if status == 415:
            assert "JPEG" in problem["detail"]  # says what is supported
        assert (await c.get("/healthz")).status_code == 200
    assert await proxy_count(pool, alice(upload_server)) == 0
    assert await store_keys(upload_server.settings) == []


async def test_a_truncated_jpeg_is_accepted_for_the_preview_step_to_judge(upload_server):
    data = jpeg_bytes(800, 600)[:3000]
    async with upload_server.client() as c:
        r = await c.post("/v1/uploads", files={"file": ("cut.jpg", data, "image/jpeg")})
    assert r.status_code == 201 and r.json()["format"] == "jpeg"


async def test_a_body_over_the_limit_is_413_and_leaves_nothing(tmp_path, topology, migrated, pool):
    settings = make_settings(tmp_path, max_upload_bytes=50_000,
                             exchange=topology.settings.exchange,
                             queue_preview=topology.settings.queue_preview)
    big = jpeg_bytes(3000, 2000)
    assert len(big) > 50_000

    async def chunks():
        for i in range(0, len(big), 8192):
            yield big[i:i + 8192]

    async for server in serve(settings):
        async with server.client() as c:
            declared = await c.post("/v1/uploads", content=big,
                                    headers={"Content-Type": "image/jpeg", "X-Filename": "x.jpg"})
            streamed = await c.post("/v1/uploads", content=chunks(),
                                    headers={"Content-Type": "image/jpeg", "X-Filename": "x.jpg"})
            multipart = await c.post("/v1/uploads", files={"file": ("x.jpg", big, "image/jpeg")})
            assert (await c.get("/healthz")).status_code == 200
    for r in (declared, streamed, multipart):
        assert r.status_code == 413, r.text
        assert r.json()["limit"] == 50_000
    assert await store_keys(settings) == []
    staging = tmp_path / "store" / ".staging"
    assert not staging.exists() or list(staging.iterdir()) == []


async def test_a_multipart_body_without_a_file_field_is_400(upload_server):
    async with upload_server.client() as c:
        r = await c.post("/v1/uploads", files={"photo": ("a.jpg", jpeg_bytes(), "image/jpeg")})
    assert r.status_code == 400 and "file" in r.json()["detail"]


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_wrong_or_missing_content_type_is_415(upload_server, ctype):
    headers = {"X-Filename": "a.jpg"} | ({"Content-Type": ctype} if ctype else {})
    async with upload_server.client() as c:
        r = await c.post("/v1/uploads", content=jpeg_bytes(), headers=headers)
    assert r.status_code == 415, r.text


@pytest.mark.parametrize("name,expected", [
    ("../../etc/passwd.jpg", "passwd.jpg"),
    ("a/b\\c.jpg", "c.jpg"),
    ("-rf.jpg", "rf.jpg"),
    ("bad\x00\x07\nname.jpg", "badname.jpg"),
    ("Été à Zürich 東京.jpg", "Été à Zürich 東京.jpg"),
    ("..", "upload"),
])
async def test_hostile_names_are_cleaned_and_never_become_the_storage_key(upload_server, pool, name, expected):
    async with upload_server.client() as c:
        r = await c.post("/v1/uploads", content=jpeg_bytes(10, 10 + len(name)),
                         headers={"Content-Type": "image/jpeg", "X-Filename": "UTF-8''" + quote(name)})
        multipart = await c.post("/v1/uploads", files={"file": (name, jpeg_bytes(11, 10 + len(name)), "image/jpeg")})
    assert r.status_code == 201, r.text
    assert multipart.status_code == 201, multipart.text
    assert "/" not in multipart.json()["original_name"] and not multipart.json()["original_name"].startswith(("-", "."))
    body = r.json()
    assert body["original_name"] == expected
    row = await pool.fetchrow("SELECT temp_key FROM proxy_images WHERE uuid = $1", UUID(body["uuid"]))
    assert row["temp_key"] == f"ingest-temp/{body['uuid']}.jpg"


async def test_proxies_are_listed_newest_first_with_a_cursor_and_a_status_filter(upload_server):
    async with upload_server.client() as c:
        uuids = []
        for i in range(5):
            r = await c.post("/v1/uploads", files={"file": (f"{i}.jpg", jpeg_bytes(50 + i, 50), "image/jpeg")})
            uuids.append(r.json()["uuid"])
        page1 = (await c.get("/v1/proxies", params={"limit": 3})).json()
        page2 = (await c.get("/v1/proxies", params={"limit": 3, "cursor": page1["next_cursor"]})).json()
        ready = (await c.get("/v1/proxies", params={"status": "ready"})).json()
        bad = await c.get("/v1/proxies", params={"cursor": "garbage"})
    listed = [p["uuid"] for p in page1["items"] + page2["items"]]
    assert listed == list(reversed(uuids))
    assert page2["next_cursor"] is None
    assert ready["items"] == []
    assert bad.status_code == 400


async def test_deleting_a_proxy_removes_its_temp_objects(upload_server, pool, corpus):
    data = (corpus / "jpeg" / "Canon_40D.jpg").read_bytes()
    async with upload_server.client() as c:
        uuid = (await c.post("/v1/uploads", files={"file": ("a.jpg", data, "image/jpeg")})).json()["uuid"]
        assert len(await store_keys(upload_server.settings)) == 2
        assert (await c.delete(f"/v1/proxies/{uuid}")).status_code == 204
        assert (await c.get(f"/v1/proxies/{uuid}")).status_code == 404
    assert await store_keys(upload_server.settings) == []


async def test_readiness_reports_database_broker_and_storage(upload_server):
    async with upload_server.client(None) as c:
        r = await c.get("/readyz")
    assert r.status_code == 200
    assert r.json()["checks"] == {"database": True, "broker": True, "storage": True, "events": True,
                                  "outbox": True}


async def test_metrics_are_not_on_the_public_api_port_but_on_the_metrics_listener(upload_server):
    async with upload_server.client(None) as c:
        for path in ("/metrics", "/metrics/"):
            assert (await c.get(path)).status_code == 404, path
        assert (await c.get("/docs")).status_code == 200  # the API's description stays public
    port = free_port()
    stop = serve_metrics(upload_server.app.state.metrics_registry, "127.0.0.1", port,  # type: ignore[attr-defined]
                         "PROPHOTO_UPLOAD_METRICS_PORT")
    try:
        async with httpx.AsyncClient() as c:
            metrics = await c.get(f"http://127.0.0.1:{port}/metrics")
        assert metrics.status_code == 200
        assert "prophoto_upload_duration_seconds" in metrics.text
        with pytest.raises(ValueError, match="PROPHOTO_UPLOAD_METRICS_PORT"):
            serve_metrics(upload_server.app.state.metrics_registry, "127.0.0.1", port,  # type: ignore[attr-defined]
                          "PROPHOTO_UPLOAD_METRICS_PORT")  # taken: a clear refusal
    finally:
        await asyncio.to_thread(stop)


async def test_openapi_documents_the_problem_answers(upload_server):
    async with upload_server.client(None) as c:
        spec = (await c.get("/openapi.json")).json()
    answers = spec["paths"]["/v1/uploads"]["post"]["responses"]
    assert {"201", "200", "400", "401", "413", "415"} <= set(answers)
