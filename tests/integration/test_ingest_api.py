"""The confirm (ingest), images and ingest-retry HTTP API against the real broker,
database, ExifTool and finalize worker; both storage backends for originals."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid as uuidlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx
import pytest

from shared.settings import Settings
from shared.storage import ObjectStore, open_store
from tests.conftest import make_settings
from tests.fixtures.proxies import *  # noqa: F403
from tests.fixtures.proxies import make_proxy, wait_until
from tests.fixtures.upload import UploadServer, serve

pytestmark = pytest.mark.integration

PROBLEM_JSON = "application/problem+json"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # originals go to a final store apart from the temp store, as in production
    return make_settings(tmp_path, final_store=f"file://{tmp_path / 'final'}")


def alice(settings: Settings) -> str:
    return f"alice-{settings.exchange}"


def bob(settings: Settings) -> str:
    return f"bob-{settings.exchange}"


def falcon(corpus: Path) -> bytes:
    return (corpus / "jpeg" / "prairie_falcon.jpg").read_bytes()  # Canon EOS R5, 2022-03-31


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def depth(settings: Settings, queue: str) -> int:
    """Messages waiting in `queue` (nobody consumes the per-test queues unless a test starts a worker)."""
    conn = await aio_pika.connect(settings.amqp_url)
    async with conn:
        q = await (await conn.channel()).declare_queue(queue, passive=True)
        return int(q.declaration_result.message_count or 0)


async def take_all(settings: Settings, queue: str) -> list[dict[str, Any]]:
    conn = await aio_pika.connect(settings.amqp_url)
    out = []
    async with conn:
        q = await (await conn.channel()).declare_queue(queue, passive=True)
        while (m := await q.get(no_ack=True, fail=False)) is not None:
            out.append(json.loads(m.body))
    return out


async def outbox_rows(pool, settings: Settings) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT message_id, published_at FROM outbox WHERE exchange = $1 AND routing_key = $2",
                            settings.exchange, settings.queue_finalize)
    return [dict(r) for r in rows]


async def all_published(pool, settings: Settings) -> bool:
    return all(r["published_at"] is not None for r in await outbox_rows(pool, settings))


async def insert_image(pool, store: ObjectStore, user_id: str, path: str, *, taken_at: datetime | None = None,
                       camera: str | None = None, tags: list[str] | None = None,
                       data: bytes = b"", with_object: bool = True) -> int:
    """An Image row as the finalize worker writes it (columns of shared/migrations/0001)."""
    if with_object:
        await store.put_bytes(path, data, "image/jpeg")
    make, model = (camera.split(" ", 1)[0], camera) if camera else (None, None)
    image_id: int = await pool.fetchval(
        """INSERT INTO images (proxy_uuid, user_id, disk, path, original_name, metadata, tags, association,
                               sha256, size, taken_at, camera_make, camera_model)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id""",
        uuidlib.uuid4(), user_id, store.disk, path, path.rsplit("/", 1)[-1],
        {"camera": camera, "mime": "image/jpeg"} if camera else {"mime": "image/jpeg"},
        tags or [], {}, sha(data), len(data), taken_at, make, model,
    )
    return image_id


def assert_problem(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM_JSON)
    body = resp.json()
    assert body["status"] == status and body["title"]
    return body


# ---- POST /v1/ingest -----------------------------------------------------------------

async def test_confirming_a_ready_proxy_queues_one_finalize_job_and_asking_again_queues_nothing_more(
    settings, pool, temp_store, upload_server: UploadServer, corpus
):
    proxy = await make_proxy(pool, temp_store, alice(settings), falcon(corpus), "falcon.jpg")
    body = {"uuids": [str(proxy.uuid)], "tags": ["birds", " birds ", "client:acme"],
            "association": {"album": 7, "note": "ünïcode"}}
    async with upload_server.client() as http:
        first = await http.post("/v1/ingest", json=body)
        assert first.status_code == 202, first.text
        assert first.json() == {"queued": 1, "refused": 0,
                                "results": [{"uuid": str(proxy.uuid), "status": "queued", "reason": None}]}
        await wait_until(lambda: all_published(pool, settings), 10, "the outbox relay to publish")
        await wait_until(lambda: _equals(depth(settings, settings.queue_finalize), 1), 10, "one job")

        again = await http.post("/v1/ingest", json=body)
        assert again.status_code == 202, again.text
        assert again.json()["queued"] == 0
        assert again.json()["results"] == [
            {"uuid": str(proxy.uuid), "status": "refused", "reason": "already ingesting"}]
    await asyncio.sleep(3 * settings.outbox_poll_s)  # give a wrongly queued second job time to arrive

    assert [r["message_id"] for r in await outbox_rows(pool, settings)] == [str(proxy.uuid)]
    [job] = await take_all(settings, settings.queue_finalize)
    assert job["kind"] == "finalize_ingest" and job["uuid"] == str(proxy.uuid)
    assert job["user_id"] == alice(settings)
    assert job["image_tags"] == ["birds", "client:acme"]  # cleaned and de-duplicated
    assert job["association"] == {"album": 7, "note": "ünïcode"}
    row = await pool.fetchrow("SELECT * FROM proxy_images WHERE uuid = $1", proxy.uuid)
    assert row["ingest_status"] == "queued" and list(row["ingest_tags"]) == ["birds", "client:acme"]
    assert row["ingest_association"] == {"album": 7, "note": "ünïcode"}


async def _equals(awaitable, expected) -> bool:
    return await awaitable == expected


async def test_each_uuid_the_ingest_cannot_take_is_refused_with_its_reason_and_nothing_leaks_across_users(
    settings, pool, temp_store, final_store, upload_server: UploadServer, corpus
):
    data = falcon(corpus)
    from tests.fixtures.proxies import distinct

    me = alice(settings)
    ready = await make_proxy(pool, temp_store, me, distinct(data, 1), "ready.jpg")
    failed_preview = await make_proxy(pool, temp_store, me, distinct(data, 2), "nopreview.jpg",
                                      preview_status="failed")
    pending = await make_proxy(pool, temp_store, me, distinct(data, 3), "pending.jpg", preview_status="pending")
    processing = await make_proxy(pool, temp_store, me, distinct(data, 4), "proc.jpg",
                                  preview_status="processing")
    ingesting = await make_proxy(pool, temp_store, me, distinct(data, 5), "ing.jpg", ingest_status="processing")
    bobs = await make_proxy(pool, temp_store, bob(settings), distinct(data, 6), "bob.jpg")
    unknown = uuidlib.uuid4()
    # ingested: the Image exists and the proxy is gone
    mine_done = await insert_image(pool, final_store, me, f"t/{settings.exchange}/done.jpg", data=b"x")
    mine_done_uuid = await pool.fetchval("SELECT proxy_uuid FROM images WHERE id = $1", mine_done)
    bobs_done = await insert_image(pool, final_store, bob(settings), f"t/{settings.exchange}/bob.jpg", data=b"y")
    bobs_done_uuid = await pool.fetchval("SELECT proxy_uuid FROM images WHERE id = $1", bobs_done)

    asked = [unknown, bobs.uuid, pending.uuid, processing.uuid, ingesting.uuid, mine_done_uuid,
             bobs_done_uuid, ready.uuid, failed_preview.uuid, ready.uuid]
    async with upload_server.client() as http:
        resp = await http.post("/v1/ingest", json={"uuids": [str(u) for u in asked]})
    assert resp.status_code == 202, resp.text
    answer = resp.json()
    assert [(r["uuid"], r["status"], r["reason"]) for r in answer["results"]] == [
        (str(unknown), "refused", "not found"),
        (str(bobs.uuid), "refused", "not found"),  # exactly like an unknown uuid
        (str(pending.uuid), "refused", "preview pending"),
        (str(processing.uuid), "refused", "preview processing"),
        (str(ingesting.uuid), "refused", "already ingesting"),
        (str(mine_done_uuid), "refused", "already ingested"),
        (str(bobs_done_uuid), "refused", "not found"),
        (str(ready.uuid), "queued", None),  # listed twice, answered (and queued) once
        (str(failed_preview.uuid), "queued", None),  # the original is intact: no preview needed
    ]
    assert (answer["queued"], answer["refused"]) == (2, 7)

    await wait_until(lambda: all_published(pool, settings), 10, "the outbox relay to publish")
    await wait_until(lambda: _equals(depth(settings, settings.queue_finalize), 2), 10, "two jobs")
    jobs = await take_all(settings, settings.queue_finalize)
    assert sorted(j["uuid"] for j in jobs) == sorted([str(ready.uuid), str(failed_preview.uuid)])
    statuses = dict(await pool.fetch("SELECT uuid, ingest_status FROM proxy_images WHERE uuid = ANY($1::uuid[])",
                                     [bobs.uuid, pending.uuid, processing.uuid]))
    assert set(statuses.values()) == {None}  # refused proxies are left exactly as they were


async def test_malformed_ingest_bodies_get_422_problems_and_a_missing_or_unknown_token_gets_401(
    settings, pool, upload_server: UploadServer
):
    good = str(uuidlib.uuid4())
    bad_bodies = {
        "no uuids": {"uuids": []},
        "uuids missing": {"tags": ["x"]},
        "501 uuids": {"uuids": [str(uuidlib.uuid4()) for _ in range(501)]},
        "not a uuid": {"uuids": [good, "not-a-uuid"]},
        "uuids not a list": {"uuids": good},
        "association too big": {"uuids": [good], "association": {"blob": "x" * (16 * 1024)}},
        "association with NUL": {"uuids": [good], "association": {"k": "a\x00b"}},
        "association not an object": {"uuids": [good], "association": ["a"]},
        "tags not strings": {"uuids": [good], "tags": [{"a": 1}]},
        "too many tags": {"uuids": [good], "tags": [f"t{i}" for i in range(51)]},
    }
    async with upload_server.client() as http:
        for what, body in bad_bodies.items():
            problem = assert_problem(await http.post("/v1/ingest", json=body), 422)
            assert problem["errors"], what
        assert_problem(await http.post("/v1/ingest", content=b"{not json",
                                       headers={"content-type": "application/json"}), 422)
        # 500 is the documented maximum, and it is accepted
        at_limit = await http.post("/v1/ingest", json={"uuids": [str(uuidlib.uuid4()) for _ in range(500)]})
        assert at_limit.status_code == 202 and at_limit.json()["refused"] == 500
    async with upload_server.client(token=None) as anonymous:
        assert_problem(await anonymous.post("/v1/ingest", json={"uuids": [good]}), 401)
        assert_problem(await anonymous.get("/v1/images"), 401)
    async with upload_server.client(token="tok-mallory") as stranger:
        assert_problem(await stranger.post("/v1/ingest", json={"uuids": [good]}), 401)
    assert await outbox_rows(pool, settings) == []


# ---- the real worker: confirm -> Image -> API ------------------------------------------

async def test_a_confirmed_proxy_becomes_an_image_listed_described_and_downloadable_only_by_its_owner(
    settings, pool, temp_store, final_store, upload_server: UploadServer, finalize_workers, corpus
):
    data = falcon(corpus)
    name = f"falcon-{settings.exchange}.jpg"
    proxy = await make_proxy(pool, temp_store, alice(settings), data, name)
    finalize_workers.start()
    async with upload_server.client() as http, upload_server.client("tok-bob") as bob_http:
        resp = await http.post("/v1/ingest", json={"uuids": [str(proxy.uuid)], "tags": ["birds"],
                                                   "association": {"client": "acme"}})
        assert resp.json()["results"][0]["status"] == "queued"

        async def listed():
            page = (await http.get("/v1/images")).json()
            return page["items"] if page["items"] else None

        [image] = await wait_until(listed, 30, "the image in GET /v1/images")
        assert image["proxy_uuid"] == str(proxy.uuid)
        assert image["path"] == f"shoots/2022/03/Canon-EOS-R5/001-{name}"
        assert image["original_name"] == name and image["sha256"] == sha(data) and image["size"] == len(data)
        assert image["camera"] == "Canon EOS R5" and image["camera_make"] == "Canon"
        assert image["taken_at_local"].startswith("2022-03-31") and image["taken_at"] is None
        assert image["tags"][0] == "birds" and image["association"] == {"client": "acme"}
        assert image["original_url"] == f"/v1/images/{image['id']}/original"

        detail = await http.get(f"/v1/images/{image['id']}")
        assert detail.status_code == 200 and detail.json() == image

        original = await http.get(image["original_url"])
        assert original.status_code == 200
        assert sha(original.content) == sha(data)
        assert original.headers["content-type"] == "image/jpeg"
        assert int(original.headers["content-length"]) == len(data)
        assert name in original.headers["content-disposition"]

        assert_problem(await bob_http.get(f"/v1/images/{image['id']}"), 404)
        assert_problem(await bob_http.get(image["original_url"]), 404)
        assert (await bob_http.get("/v1/images")).json() == {"items": [], "next_cursor": None}

        await wait_until(lambda: _proxy_gone(pool, proxy.uuid), 30, "the proxy to go")
        again = await http.post("/v1/ingest", json={"uuids": [str(proxy.uuid)]})
        assert again.json()["results"][0]["reason"] == "already ingested"
        assert (await bob_http.post("/v1/ingest", json={"uuids": [str(proxy.uuid)]})).json()[
            "results"][0]["reason"] == "not found"


async def _proxy_gone(pool, uuid) -> bool:
    return await pool.fetchval("SELECT count(*) FROM proxy_images WHERE uuid = $1", uuid) == 0


# ---- GET /v1/images -----------------------------------------------------------------

async def test_images_are_paged_newest_first_and_filtered_by_taken_date_camera_and_tag(
    settings, pool, final_store, upload_server: UploadServer
):
    me, prefix = alice(settings), f"t/{settings.exchange}"

    def when(month: int, day: int = 1) -> datetime:
        return datetime(2024, month, day, 12, tzinfo=UTC)

    ids = {
        "jan": await insert_image(pool, final_store, me, f"{prefix}/jan.jpg", taken_at=when(1),
                                  camera="Canon EOS R5", tags=["birds"]),
        "feb": await insert_image(pool, final_store, me, f"{prefix}/feb.jpg", taken_at=when(2),
                                  camera="NIKON D850", tags=["birds", "snow"]),
        "mar": await insert_image(pool, final_store, me, f"{prefix}/mar.jpg", taken_at=when(3),
                                  camera="Canon EOS R5", tags=["people"]),
        "apr": await insert_image(pool, final_store, me, f"{prefix}/apr.jpg", taken_at=when(4)),
        "undated": await insert_image(pool, final_store, me, f"{prefix}/undated.jpg", camera="Canon EOS R5"),
    }
    await insert_image(pool, final_store, bob(settings), f"{prefix}/bob.jpg", taken_at=when(2),
                       camera="Canon EOS R5", tags=["birds"])

    async with upload_server.client() as http:
        async def names(**params: Any) -> list[str]:
            resp = await http.get("/v1/images", params=params)
            assert resp.status_code == 200, resp.text
            by_id = {v: k for k, v in ids.items()}
            return [by_id[item["id"]] for item in resp.json()["items"]]

        seen, cursor, pages = [], None, 0
        while True:
            params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = (await http.get("/v1/images", params=params)).json()
            assert len(page["items"]) <= 2
            seen += [item["id"] for item in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == sorted(ids.values(), reverse=True) and pages == 3  # no repeats, no gaps, no bob
        # a full last page says there is no next one (no empty page to fetch)
        last = (await http.get("/v1/images", params={"limit": len(ids)})).json()
        assert len(last["items"]) == len(ids) and last["next_cursor"] is None

        assert await names(taken_from="2024-02-01T00:00:00+00:00", taken_to="2024-04-01T00:00:00+00:00") \
            == ["mar", "feb"]
        assert await names(taken_from="2024-03-15T00:00:00Z") == ["apr"]
        assert await names(taken_to="2024-01-01T12:00:00Z") == []  # the upper bound is exclusive
        assert await names(camera="Canon EOS R5") == ["undated", "mar", "jan"]
        assert await names(camera="canon-eos-r5") == ["undated", "mar", "jan"]  # as in the final key
        assert await names(tag="birds") == ["feb", "jan"]
        assert await names(tag="birds", camera="NIKON D850") == ["feb"]
        assert await names(tag="nobody") == []

        for bad in ({"limit": 0}, {"limit": 201}, {"cursor": 0}, {"taken_from": "yesterday"}):
            assert_problem(await http.get("/v1/images", params=bad), 422)
        assert_problem(await http.get("/v1/images/not-a-number"), 422)
        assert_problem(await http.get("/v1/images/999999999999"), 404)


async def test_an_image_whose_stored_original_is_missing_answers_404_not_a_broken_stream(
    settings, pool, final_store, upload_server: UploadServer
):
    image_id = await insert_image(pool, final_store, alice(settings), f"t/{settings.exchange}/gone.jpg",
                                  data=b"abc", with_object=False)
    async with upload_server.client() as http:
        problem = assert_problem(await http.get(f"/v1/images/{image_id}/original"), 404)
    assert problem["title"] == "Original missing"


async def test_on_the_s3_store_the_original_is_a_redirect_to_a_presigned_url_that_serves_its_bytes(
    pool, s3_settings_factory, corpus, migrated
):
    s3 = s3_settings_factory()
    store = open_store(s3.final_store, s3.stores.s3)
    data = falcon(corpus)
    try:
        image_id = await insert_image(pool, store, f"alice-{s3.exchange}", f"t/{s3.exchange}/falcon.jpg",
                                      camera="Canon EOS R5", data=data)
        async for server in serve(s3):
            async with server.client() as http, server.client("tok-bob") as bob_http:
                resp = await http.get(f"/v1/images/{image_id}/original")
                assert resp.status_code == 307, resp.text
                url = resp.headers["location"]
                assert url.startswith(s3.s3_endpoint) and "X-Amz-Signature" in url
                assert_problem(await bob_http.get(f"/v1/images/{image_id}/original"), 404)
            async with httpx.AsyncClient() as anyone:  # the URL alone is the credential
                fetched = await anyone.get(url)
            assert fetched.status_code == 200 and sha(fetched.content) == sha(data)
    finally:
        await store.close()


# ---- POST /v1/proxies/{uuid}/retry for a failed ingest -------------------------------

async def test_retrying_a_failed_ingest_removes_its_parked_job_and_queues_a_new_one_that_finishes(
    settings, pool, temp_store, final_store, upload_server: UploadServer, finalize_workers, corpus, tmp_path
):
    data = falcon(corpus)
    proxy = await make_proxy(pool, temp_store, alice(settings), data, f"retry-{settings.exchange}.jpg")
    # a file where the pattern's first directory must go: every copy fails until it is removed
    blocker = tmp_path / "final" / "shoots"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_bytes(b"not a directory")
    finalize_workers.start()
    parked_queue = f"{settings.queue_finalize}.failed"
    async with upload_server.client() as http, upload_server.client("tok-bob") as bob_http:
        await http.post("/v1/ingest", json={"uuids": [str(proxy.uuid)], "tags": ["kept"],
                                            "association": {"job": 1}})

        async def failed():
            return (await http.get(f"/v1/proxies/{proxy.uuid}")).json()["ingest_status"] == "failed"

        await wait_until(failed, 30, "ingest_status=failed")
        await wait_until(lambda: _equals(depth(settings, parked_queue), 1), 10, "the parked job")
        # refused while failed, retried only through the retry endpoint
        refused = (await http.post("/v1/ingest", json={"uuids": [str(proxy.uuid)]})).json()
        assert refused["results"][0]["reason"].startswith("ingest failed")
        assert_problem(await bob_http.post(f"/v1/proxies/{proxy.uuid}/retry"), 404)

        blocker.unlink()
        resp = await http.post(f"/v1/proxies/{proxy.uuid}/retry")
        assert resp.status_code == 202, resp.text
        assert resp.json() == {"uuid": str(proxy.uuid), "requeued": "ingest", "removed_parked": 1}
        assert await depth(settings, parked_queue) == 0

        async def image():
            page = (await http.get("/v1/images")).json()
            return page["items"] or None

        [made] = await wait_until(image, 30, "the retried job's Image")
    assert made["proxy_uuid"] == str(proxy.uuid) and sha(await final_store.get_bytes(made["path"])) == sha(data)
    assert made["tags"][0] == "kept" and made["association"] == {"job": 1}  # the request survives the retry
    await wait_until(lambda: _proxy_gone(pool, proxy.uuid), 30, "the proxy to go")
    assert await depth(settings, parked_queue) == 0
    assert await pool.fetchval("SELECT count(*) FROM images WHERE proxy_uuid = $1", proxy.uuid) == 1


async def test_retry_of_a_proxy_whose_ingest_has_not_failed_is_a_409_and_queues_nothing(
    settings, pool, temp_store, upload_server: UploadServer, corpus
):
    proxy = await make_proxy(pool, temp_store, alice(settings), falcon(corpus), ingest_status="queued")
    async with upload_server.client() as http:
        assert_problem(await http.post(f"/v1/proxies/{proxy.uuid}/retry"), 409)
        assert_problem(await http.post(f"/v1/proxies/{uuidlib.uuid4()}/retry"), 404)
    assert await outbox_rows(pool, settings) == []


async def park(settings: Settings, pool: asyncpg.Pool, uuid: uuidlib.UUID, user_id: str) -> None:
    """A finalize job in `<queue>.failed` and its row, as the worker leaves it after its last
    attempt (through the worker's own `park`)."""
    from shared.broker.publisher import AmqpPublisher
    from shared.broker.topology import Topology
    from shared.db import parked as parked_rows
    from shared.messages import FinalizeIngest
    from shared.worker.park import Delivery
    from shared.worker.park import park as park_message

    topology = Topology(settings)
    publisher = AmqpPublisher(settings.broker, topology)
    try:
        delivery = Delivery(FinalizeIngest(uuid=uuid, user_id=user_id).model_dump_json().encode(),
                            message_id=str(uuid))
        assert await park_message(publisher, topology, settings.queue_finalize, delivery,
                                  "failed after 3 attempts", "boom",
                                  lambda job: parked_rows.record(pool, job))
    finally:
        await publisher.close()


async def test_retry_re_queues_the_failed_ingest_of_a_proxy_whose_preview_had_failed_too(
    settings, pool, temp_store, upload_server: UploadServer, corpus
):
    # a failed preview does not block an ingest (the original is intact); when that ingest
    # fails as well, retry must re-run the ingest, not a preview for a proxy on its way out
    me = alice(settings)
    proxy = await make_proxy(pool, temp_store, me, falcon(corpus), preview_status="failed",
                             ingest_status="failed")
    await pool.execute("UPDATE proxy_images SET ingest_tags = '{kept}', metadata_error = 'boom' WHERE uuid = $1",
                       proxy.uuid)
    await park(settings, pool, proxy.uuid, me)
    parked_queue = f"{settings.queue_finalize}.failed"
    await wait_until(lambda: _equals(depth(settings, parked_queue), 1), 10, "the parked job")
    async with upload_server.client() as http:
        resp = await http.post(f"/v1/proxies/{proxy.uuid}/retry")
        assert resp.status_code == 202, resp.text
        assert resp.json() == {"uuid": str(proxy.uuid), "requeued": "ingest", "removed_parked": 1}
        assert_problem(await http.post(f"/v1/proxies/{proxy.uuid}/retry"), 409)  # queued now, not failed
    await wait_until(lambda: all_published(pool, settings), 10, "the outbox relay to publish")
    await wait_until(lambda: _equals(depth(settings, settings.queue_finalize), 1), 10, "the new job")
    assert await depth(settings, parked_queue) == 0
    assert await depth(settings, settings.queue_preview) == 0
    [job] = await take_all(settings, settings.queue_finalize)
    assert job["uuid"] == str(proxy.uuid) and job["image_tags"] == ["kept"]
    row = await pool.fetchrow("SELECT * FROM proxy_images WHERE uuid = $1", proxy.uuid)
    assert (row["ingest_status"], row["metadata_error"], row["preview_status"]) == ("queued", None, "failed")


async def test_identical_confirmations_racing_each_other_queue_exactly_one_job(
    settings, pool, temp_store, upload_server: UploadServer, corpus
):
    proxy = await make_proxy(pool, temp_store, alice(settings), falcon(corpus))
    async with upload_server.client() as http:
        answers = await asyncio.gather(*(http.post("/v1/ingest", json={"uuids": [str(proxy.uuid)]})
                                         for _ in range(10)))
    assert sorted(a.json()["queued"] for a in answers) == [0] * 9 + [1]
    await wait_until(lambda: all_published(pool, settings), 10, "the outbox relay to publish")
    await asyncio.sleep(3 * settings.outbox_poll_s)
    assert await depth(settings, settings.queue_finalize) == 1
    assert len(await outbox_rows(pool, settings)) == 1


async def test_values_postgres_cannot_store_are_422_problems_not_server_errors(
    settings, upload_server: UploadServer
):
    good = str(uuidlib.uuid4()).encode()
    raw_bodies = {  # Python's JSON parser accepts all of these; jsonb and text do not
        "NaN": b'{"uuids": ["%s"], "association": {"x": NaN}}' % good,
        "Infinity": b'{"uuids": ["%s"], "association": {"x": [1, -Infinity]}}' % good,
        "lone surrogate": b'{"uuids": ["%s"], "association": {"x": {"y": "\\ud800"}}}' % good,
        "lone surrogate key": b'{"uuids": ["%s"], "association": {"\\udc00": 1}}' % good,
        "NUL key": b'{"uuids": ["%s"], "association": {"a\\u0000": 1}}' % good,
    }
    async with upload_server.client() as http:
        for what, raw in raw_bodies.items():
            resp = await http.post("/v1/ingest", content=raw, headers={"content-type": "application/json"})
            assert_problem(resp, 422)["errors"], what
        # a backslash followed by "u0000" is ordinary text, and a paired surrogate an ordinary emoji
        fine = await http.post("/v1/ingest", json={"uuids": [good.decode()],
                                                   "association": {"path": "C:\\u0000", "e": "😀"}})
        assert fine.status_code == 202, fine.text
        for params in ({"tag": "a\x00b"}, {"camera": "\x00"}, {"cursor": 2**63},
                       {"taken_from": "9999-12-31T23:59:59-01:00"}, {"taken_to": "0001-01-01T00:00:00+01:00"}):
            assert_problem(await http.get("/v1/images", params=params), 422)
        for path in (f"/v1/images/{2**63}", f"/v1/images/{2**70}/original", "/v1/images/0"):
            assert_problem(await http.get(path), 422)


async def test_a_taken_date_without_an_offset_means_utc_whatever_the_servers_time_zone(
    settings, pool, final_store, upload_server: UploadServer, monkeypatch
):
    import time

    image_id = await insert_image(pool, final_store, alice(settings), f"t/{settings.exchange}/noon.jpg",
                                  taken_at=datetime(2024, 5, 1, 12, tzinfo=UTC))
    monkeypatch.setenv("TZ", "America/New_York")  # UTC-4 in May: a local reading moves the bound to 16:00Z
    time.tzset()
    try:
        async with upload_server.client() as http:
            found = (await http.get("/v1/images", params={"taken_from": "2024-05-01T10:00:00",
                                                          "taken_to": "2024-05-01T13:00:00"})).json()
            by_day = (await http.get("/v1/images", params={"taken_from": "2024-05-01"})).json()
    finally:
        monkeypatch.undo()
        time.tzset()
    assert [i["id"] for i in found["items"]] == [image_id]
    assert [i["id"] for i in by_day["items"]] == [image_id]
