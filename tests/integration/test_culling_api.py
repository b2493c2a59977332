"""Culling through the API: pick/reject/rate a proxy, list by flag and rating, the rating
carried into the Image, a kept Image's preview/thumbnail/delete, and a re-upload of a kept
photo answered with the Image it already is. Real PostgreSQL, RabbitMQ, finalize worker;
the final store apart from the temp store."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from shared import keys
from shared.settings import Settings
from tests.conftest import make_settings
from tests.fixtures.proxies import *  # noqa: F403
from tests.fixtures.proxies import distinct, make_proxy, wait_until
from tests.fixtures.upload import UploadServer

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, final_store=f"file://{tmp_path / 'final'}")


def alice(settings: Settings) -> str:
    return f"alice-{settings.exchange}"


def falcon(corpus: Path) -> bytes:
    return (corpus / "jpeg" / "prairie_falcon.jpg").read_bytes()


def problem(resp: httpx.Response, status: int) -> dict[str, object]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = resp.json()
    return body


async def test_flags_and_ratings_are_set_checked_listed_and_the_rating_becomes_the_images(
    settings, pool, temp_store, final_store, upload_server: UploadServer, finalize_workers, corpus
):
    data = falcon(corpus)
    me = alice(settings)
    picked = await make_proxy(pool, temp_store, me, distinct(data, 1), "picked.jpg")
    rejected = await make_proxy(pool, temp_store, me, distinct(data, 2), "rejected.jpg")
    plain = await make_proxy(pool, temp_store, me, distinct(data, 3), "plain.jpg")
    async with upload_server.client() as http, upload_server.client("tok-bob") as bob_http:
        resp = await http.patch(f"/v1/proxies/{picked.uuid}", json={"flag": "pick", "rating": 4})
        assert resp.status_code == 200, resp.text
        assert (resp.json()["flag"], resp.json()["rating"]) == ("pick", 4)
        # a field left out keeps its value; null clears
        assert (await http.patch(f"/v1/proxies/{rejected.uuid}", json={"flag": "reject"})).json()["flag"] == "reject"
        assert (await http.patch(f"/v1/proxies/{plain.uuid}", json={"rating": 2})).json()["rating"] == 2
        cleared = (await http.patch(f"/v1/proxies/{plain.uuid}", json={"flag": None})).json()
        assert (cleared["flag"], cleared["rating"]) == (None, 2)

        for bad in ({"rating": 6}, {"rating": -1}, {"rating": 2.5}, {"flag": "maybe"}, {"stars": 3}):
            problem(await http.patch(f"/v1/proxies/{plain.uuid}", json=bad), 422)
        problem(await http.patch(f"/v1/proxies/{plain.uuid}", json={}), 400)
        problem(await bob_http.patch(f"/v1/proxies/{picked.uuid}", json={"flag": "reject"}), 404)

        async def names(**params: object) -> list[str]:
            page = (await http.get("/v1/proxies", params=params)).json()
            return sorted(p["original_name"] for p in page["items"])

        assert await names(flag="pick") == ["picked.jpg"]
        assert await names(flag="reject") == ["rejected.jpg"]
        assert await names(flag="none") == ["plain.jpg"]
        assert await names(min_rating=3) == ["picked.jpg"]
        assert await names(min_rating=2) == ["picked.jpg", "plain.jpg"]
        problem(await http.get("/v1/proxies", params={"min_rating": 9}), 422)

        finalize_workers.start()
        assert (await http.post("/v1/ingest", json={"uuids": [str(picked.uuid)]})).status_code == 202
        problem(await http.patch(f"/v1/proxies/{picked.uuid}", json={"rating": 1}), 409)

        async def kept() -> list[dict[str, object]] | None:
            return (await http.get("/v1/images")).json()["items"] or None

        [image] = await wait_until(kept, 30, "the Image")
        assert image["rating"] == 4
        for rendition, source in (("preview", picked.preview_key), ("thumbnail", picked.thumb_key)):
            resp = await http.get(f"/v1/images/{image['id']}/{rendition}")
            assert resp.status_code == 200 and resp.headers["content-type"] == "image/jpeg"
            assert resp.content == await temp_store.get_bytes(source) if await temp_store.exists(source) \
                else resp.content[:3] == b"\xff\xd8\xff"
            assert image[f"{rendition}_url"] == f"/v1/images/{image['id']}/{rendition}"
            problem(await bob_http.get(f"/v1/images/{image['id']}/{rendition}"), 404)
        kept_keys = [image["path"], keys.kept_rendition_key(image["path"], "preview"),
                     keys.kept_rendition_key(image["path"], "thumb")]
        assert [await final_store.exists(k) for k in kept_keys] == [True, True, True]

        # bob cannot delete it (and learns nothing); alice deletes it twice with the same answer
        assert (await bob_http.delete(f"/v1/images/{image['id']}")).status_code == 204
        assert (await http.get(f"/v1/images/{image['id']}")).status_code == 200
        for _ in range(2):
            assert (await http.delete(f"/v1/images/{image['id']}")).status_code == 204
        problem(await http.get(f"/v1/images/{image['id']}"), 404)
        assert [await final_store.exists(k) for k in kept_keys] == [False, False, False]


async def test_uploading_a_kept_photo_again_names_the_image_unless_a_second_copy_is_asked_for(
    settings, pool, temp_store, upload_server: UploadServer, finalize_workers, corpus
):
    data = distinct(falcon(corpus), 7)
    sha = hashlib.sha256(data).hexdigest()
    finalize_workers.start()
    async with upload_server.client() as http:
        first = await http.post("/v1/uploads", files={"file": ("falcon.jpg", data, "image/jpeg")})
        assert first.status_code == 201, first.text
        # no preview worker here: the preview gave up (an Image without one is still an Image)
        await pool.execute("UPDATE proxy_images SET preview_status = 'failed' WHERE uuid = $1::uuid",
                           first.json()["uuid"])
        assert (await http.post("/v1/ingest", json={"uuids": [first.json()["uuid"]]})).status_code == 202

        async def kept() -> list[dict[str, object]] | None:
            return (await http.get("/v1/images")).json()["items"] or None

        [image] = await wait_until(kept, 30, "the Image")
        assert image["preview_url"] is None
        problem(await http.get(f"/v1/images/{image['id']}/preview"), 404)
        await wait_until(lambda: _gone(pool, first.json()["uuid"]), 30, "the proxy to go")

        again = await http.post("/v1/uploads", files={"file": ("renamed.jpg", data, "image/jpeg")})
        assert again.status_code == 200, again.text
        body = again.json()
        assert body["duplicate"] is True and body["status"] == "ingested"
        assert body["kept_image"] == {"id": image["id"], "path": image["path"], "url": f"/v1/images/{image['id']}"}
        # told by hash before the body: the same answer
        claimed = await http.post("/v1/uploads", content=b"", headers={
            "X-Content-SHA256": sha, "Content-Type": "image/jpeg", "X-Filename": "x.jpg"})
        assert claimed.status_code == 200 and claimed.json()["kept_image"]["id"] == image["id"]
        assert await pool.fetchval("SELECT count(*) FROM proxy_images WHERE sha256 = $1", sha) == 0

        copy = await http.post("/v1/uploads", params={"keep_copy": "true"},
                               files={"file": ("second.jpg", data, "image/jpeg")})
        assert copy.status_code == 201, copy.text
        assert copy.json()["kept_image"] is None and copy.json()["duplicate"] is False


async def _gone(pool, uuid: str) -> bool:
    return await pool.fetchval("SELECT count(*) FROM proxy_images WHERE uuid = $1::uuid", uuid) == 0
