"""Upload -> preview ready -> confirm -> permanent Image, through running services.

The upload service, a preview worker and a finalize worker run as processes
(`python -m services.<name>`) on the real broker, database, ExifTool and
libvips; the test talks to them only over HTTP, and looks at the database and
the stores to check what they left behind. Once on the filesystem store, once
with both stores on one S3 server (so finalize copies server-side).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from shared.settings import Settings
from shared.storage import ObjectStore, open_store
from tests.conftest import REPO, make_settings, settings_env
from tests.fixtures.proxies import ServiceWorkers, wait_until
from tests.fixtures.s3 import s3_settings
from tests.fixtures.upload import free_port
from tests.fixtures.workers import stop_processes, wait_answering

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

#: corpus file -> the directory the default pattern puts it in
UPLOADS = {
    "jpeg/prairie_falcon.jpg": "shoots/2022/03/Canon-EOS-R5",  # DateTimeOriginal 2022:03:31
    "raw/Canon-R6-pruned.CR3": "shoots/2021/05/Canon-EOS-R6",  # 2021:05:12 12:21:21+02:00
}
AUTH = {"Authorization": "Bearer tok-alice"}


@pytest.fixture(params=["file", "s3"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "file":
        return make_settings(tmp_path, final_store=f"file://{tmp_path / 'final'}")
    # two buckets on one endpoint: finalize's copy is an S3 CopyObject
    return s3_settings(tmp_path, request.getfixturevalue("s3_server"))


@pytest.fixture
async def stores(settings: Settings) -> AsyncIterator[tuple[ObjectStore, ObjectStore]]:
    temp = open_store(settings.temp_store, settings.stores.s3)
    final = open_store(settings.final_store, settings.stores.s3)
    yield temp, final
    await temp.close()
    await final.close()


@pytest.fixture
def api(settings: Settings, topology: object, migrated: str) -> Iterator[str]:
    """The three services as processes; yields the upload service's URL once all are up."""
    port = free_port()
    upload = subprocess.Popen([sys.executable, "-m", "services.upload"], cwd=REPO,
                              env=settings_env(settings) | {"PROPHOTO_UPLOAD_PORT": str(port)})
    preview = ServiceWorkers(settings, "preview", "PROPHOTO_PREVIEW_METRICS_PORT")
    finalize = ServiceWorkers(settings, "finalize", "PROPHOTO_FINALIZE_METRICS_PORT")
    url = f"http://127.0.0.1:{port}"
    try:
        # all three boot at once; jobs wait in the queue for a worker still starting
        preview_proc = preview.start(wait=False)
        finalize.start()
        _wait_ready(upload, url)
        assert preview_proc.poll() is None, f"the preview worker exited with {preview_proc.returncode}"
        yield url
    finally:
        stop_processes(preview.procs + finalize.procs + [upload])


def _wait_ready(proc: subprocess.Popen[bytes], url: str, timeout: float = 30) -> None:
    wait_answering(proc, f"{url}/readyz", 200, "the upload service", timeout)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def _preview_ready(http: httpx.AsyncClient, uuid: str) -> bool:
    view = (await http.get(f"/v1/proxies/{uuid}")).json()
    assert view["preview_status"] != "failed", view
    return view["preview_status"] == "ready"


async def _original(http: httpx.AsyncClient, image_id: int) -> bytes:
    """The original's bytes: streamed by the API, or from the presigned URL it redirects to."""
    resp = await http.get(f"/v1/images/{image_id}/original")
    if resp.status_code == 307:
        async with httpx.AsyncClient(timeout=30) as anyone:  # the signed URL needs no token
            resp = await anyone.get(resp.headers["location"])
    assert resp.status_code == 200, resp.text
    return resp.content


async def test_an_uploaded_jpeg_and_raw_confirmed_after_their_previews_become_images_at_their_pattern_keys(
    settings, pool, stores, api, corpus
):
    temp_store, final_store = stores
    if settings.final_store.startswith("s3://"):
        assert final_store.same_service(temp_store)  # so finalize copies server-side
    user = f"alice-{settings.exchange}"
    data = {rel: (corpus / rel).read_bytes() for rel in UPLOADS}
    # the default pattern has no {user}: a directory is shared by every user of a store (disk
    # "file" here, in a database other runs used too), so a name of this run keeps 001 ours
    names = {rel: f"{settings.exchange}-{Path(rel).name}" for rel in UPLOADS}
    async with httpx.AsyncClient(base_url=api, headers=AUTH, timeout=30) as http:
        uuids: dict[str, str] = {}
        for rel, body in data.items():
            resp = await http.post("/v1/uploads", content=body, headers={
                "Content-Type": "application/octet-stream", "X-Filename": names[rel]})
            assert resp.status_code == 201, resp.text
            assert resp.json()["sha256"] == sha(body)
            uuids[rel] = resp.json()["uuid"]
        for rel, uuid in uuids.items():
            await wait_until(lambda u=uuid: _preview_ready(http, u), 30, f"the preview of {rel}")

        proxies = {rel: await pool.fetchrow("SELECT * FROM proxy_images WHERE uuid = $1::uuid", u)
                   for rel, u in uuids.items()}
        temp_keys = {rel: [k for k in (p["temp_key"], p["preview_path"], p["thumbnail_path"],
                                       p["exif_thumb_key"]) if k] for rel, p in proxies.items()}
        assert proxies["raw/Canon-R6-pruned.CR3"]["exif_thumb_key"]  # the CR3 carries one; the JPEG none
        for rel, keys in temp_keys.items():
            assert len(keys) >= 3, (rel, keys)  # original, preview, thumbnail (+ EXIF thumb if any)
            for key in keys:
                assert await temp_store.exists(key), (rel, key)

        resp = await http.post("/v1/ingest", json={"uuids": list(uuids.values()), "tags": ["e2e"]})
        assert resp.status_code == 202, resp.text
        assert resp.json()["queued"] == len(uuids)

        async def images() -> list | None:
            rows = await pool.fetch("SELECT * FROM images WHERE proxy_uuid = ANY($1::uuid[])",
                                    list(uuids.values()))
            return rows if len(rows) == len(uuids) else None

        rows = {str(r["proxy_uuid"]): r for r in await wait_until(images, 40, "both Image rows")}
        await wait_until(lambda: _proxies_gone(pool, list(uuids.values())), 20, "the proxy rows to go")

        for rel, uuid in uuids.items():
            image, body = rows[uuid], data[rel]
            assert image["user_id"] == user
            assert image["path"] == f"{UPLOADS[rel]}/001-{names[rel]}"
            assert (image["sha256"], image["size"]) == (sha(body), len(body))
            assert "e2e" in image["tags"]
            assert sha(await final_store.get_bytes(image["path"])) == sha(body)
            for key in temp_keys[rel]:
                assert not await temp_store.exists(key), (rel, key)
            view = (await http.get(f"/v1/images/{image['id']}")).json()
            assert view["path"] == image["path"] and view["proxy_uuid"] == uuid
            assert await _original(http, image["id"]) == body


async def _proxies_gone(pool, uuids: list[str]) -> bool:
    left = await pool.fetchval("SELECT count(*) FROM proxy_images WHERE uuid = ANY($1::uuid[])", uuids)
    return left == 0
