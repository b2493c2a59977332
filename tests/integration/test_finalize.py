"""The finalize worker through the real queue: keys, integrity, concurrency, crashes, failures."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import uuid as uuidlib
from pathlib import Path

import pytest

from shared.settings import Settings
from tests.conftest import make_settings
from tests.fixtures.proxies import *  # noqa: F403
from tests.fixtures.proxies import drain, make_proxy, queue_finalize, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # a final store apart from the temp store: the copy crosses stores, like temp -> permanent
    return make_settings(tmp_path, final_store=f"file://{tmp_path / 'final'}")


def falcon(corpus: Path) -> bytes:
    return (corpus / "jpeg" / "prairie_falcon.jpg").read_bytes()  # Canon EOS R5, 2022-03-31, keywords


async def images_for(pool, uuids) -> list[dict]:
    rows = await pool.fetch("SELECT * FROM images WHERE proxy_uuid = ANY($1::uuid[])", list(uuids))
    return [dict(r) for r in rows]




def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_a_confirmed_proxy_becomes_an_image_at_the_pattern_key_and_its_temp_files_go(
    settings, pool, temp_store, final_store, finalize_workers, corpus
):
    user = f"alice-{settings.exchange}"
    name = f"falcon-{settings.exchange}.jpg"
    proxy = await make_proxy(pool, temp_store, user, falcon(corpus), name)
    finalize_workers.start()
    await queue_finalize(pool, settings, [proxy], tags=["birds", "client:acme"])

    [image] = await wait_until(lambda: images_for(pool, [proxy.uuid]), 30, "the Image row")
    await wait_until(lambda: _gone(pool, proxy.uuid), 30, "the proxy row to go")

    assert image["path"] == f"shoots/2022/03/Canon-EOS-R5/001-{name}"
    assert image["sha256"] == proxy.sha256 and image["size"] == proxy.size
    assert sha(await final_store.get_bytes(image["path"])) == proxy.sha256
    assert (image["camera_make"], image["camera_model"]) == ("Canon", "Canon EOS R5")
    assert image["taken_at_local"].year == 2022 and image["taken_at_local"].month == 3
    assert image["taken_at"] is None and image["taken_at_zone_source"] == "unknown"  # no offset, no GPS
    meta = image["metadata"]
    assert meta["camera"] == "Canon EOS R5" and meta["width"] == 800 and meta["height"] == 533
    assert meta["iso"] and meta["f_number"] and meta["exposure_time"] and meta["focal_length_mm"]
    assert meta["mime"] == "image/jpeg" and meta["reader"] == "exiftool-full"
    assert image["tags"][:2] == ["birds", "client:acme"] and "raptors" in image["tags"]
    for key in proxy.temp_keys:
        assert not await temp_store.exists(key), key

    traces = [json.loads(m.body) for m in await drain(settings, settings.queue_traces)]
    mine = [t for t in traces if t["uuid"] == str(proxy.uuid) and t["trace_type"] == "finalize"]
    assert [t["success"] for t in mine] == [True] and mine[0]["result_size"] == proxy.size


async def _gone(pool, uuid) -> bool:
    return await pool.fetchval("SELECT count(*) FROM proxy_images WHERE uuid = $1", uuid) == 0


async def test_two_workers_ingesting_fifty_same_named_originals_into_one_directory_number_them_1_to_50(
    settings, pool, temp_store, final_store, finalize_workers, corpus
):
    from tests.fixtures.proxies import distinct

    user = f"alice-{settings.exchange}"
    name = f"IMG-{settings.exchange}.jpg"
    data = falcon(corpus)
    proxies = await asyncio.gather(*(
        make_proxy(pool, temp_store, user, distinct(data, i), name, preview_status="failed")
        for i in range(50)
    ))
    finalize_workers.start(wait=False)
    finalize_workers.start()
    await queue_finalize(pool, settings, list(proxies))

    async def all_done():
        rows = await images_for(pool, [p.uuid for p in proxies])
        return rows if len(rows) == 50 else None

    rows = await wait_until(all_done, 90, "50 images")
    by_uuid = {r["proxy_uuid"]: r for r in rows}
    paths = sorted(r["path"] for r in rows)
    assert paths == [f"shoots/2022/03/Canon-EOS-R5/{i:03d}-{name}" for i in range(1, 51)]
    for p in proxies:  # no overwrite: every object still holds its own upload's bytes
        assert sha(await final_store.get_bytes(by_uuid[p.uuid]["path"])) == p.sha256
    counter = await pool.fetchval(
        "SELECT last_seq FROM directory_sequences WHERE user_id = $1 AND directory = $2",
        user, "shoots/2022/03/Canon-EOS-R5")
    assert counter == 50


@pytest.mark.parametrize("crash_at", ["after_copy", "after_insert"])
async def test_a_worker_killed_mid_finalize_leaves_a_job_that_finishes_with_one_image_and_nothing_lost(
    settings, pool, temp_store, final_store, finalize_workers, corpus, crash_at
):
    user = f"alice-{settings.exchange}"
    name = f"crash-{settings.exchange}.jpg"
    proxy = await make_proxy(pool, temp_store, user, falcon(corpus), name)
    doomed = finalize_workers.start(env={"PROPHOTO_TEST_CRASH_AT": crash_at})
    await queue_finalize(pool, settings, [proxy])
    await asyncio.to_thread(doomed.wait, 30)
    assert doomed.returncode == -signal.SIGKILL

    row = await pool.fetchrow("SELECT * FROM proxy_images WHERE uuid = $1", proxy.uuid)
    assert row is not None and row["sequence"] == 1
    key = row["final_key"]
    assert sha(await final_store.get_bytes(key)) == proxy.sha256  # copied before the crash
    assert len(await images_for(pool, [proxy.uuid])) == (1 if crash_at == "after_insert" else 0)
    for k in proxy.temp_keys:  # nothing removed before the Image committed
        assert await temp_store.exists(k), k

    finalize_workers.start()  # the broker redelivers the unacked job to the new worker
    await wait_until(lambda: _gone(pool, proxy.uuid), 30, "the redelivered job to finish")
    [image] = await images_for(pool, [proxy.uuid])
    assert image["path"] == key == f"shoots/2022/03/Canon-EOS-R5/001-{name}"
    assert sha(await final_store.get_bytes(key)) == proxy.sha256
    assert await pool.fetchval(
        "SELECT last_seq FROM directory_sequences WHERE user_id = $1", user) == 1  # no second number
    for k in proxy.temp_keys:
        assert not await temp_store.exists(k), k


async def test_a_finalize_that_keeps_failing_is_parked_and_the_proxy_keeps_its_files_and_says_why(
    settings, pool, temp_store, final_store, finalize_workers, corpus, tmp_path
):
    user = f"alice-{settings.exchange}"
    proxy = await make_proxy(pool, temp_store, user, falcon(corpus), "blocked.jpg")
    # a file where the pattern's first directory must go: every copy attempt fails
    blocker = tmp_path / "final" / "shoots"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_bytes(b"not a directory")
    finalize_workers.start()
    await queue_finalize(pool, settings, [proxy])

    async def failed():
        return await pool.fetchrow("SELECT * FROM proxy_images WHERE uuid = $1 AND ingest_status = 'failed'",
                                   proxy.uuid)

    row = await wait_until(failed, 30, "ingest_status=failed")
    assert "failed after 3 attempts" in row["metadata_error"]
    for k in proxy.temp_keys:
        assert await temp_store.exists(k), k
    assert await images_for(pool, [proxy.uuid]) == []
    parked = await drain(settings, f"{settings.queue_finalize}.failed")
    assert [json.loads(m.body)["uuid"] for m in parked] == [str(proxy.uuid)]
    traces = [json.loads(m.body) for m in await drain(settings, settings.queue_traces)]
    attempts = [(t["attempt"], t["success"]) for t in traces
                if t["uuid"] == str(proxy.uuid) and t["trace_type"] == "finalize"]
    assert attempts == [(1, False), (2, False), (3, False)]


async def test_a_job_for_a_proxy_already_ingested_and_cleaned_up_is_acknowledged_as_done(
    settings, pool, temp_store, finalize_workers, corpus
):
    from shared.broker.publisher import AmqpPublisher, publish_command
    from shared.broker.topology import Topology
    from shared.messages import FinalizeIngest

    finalize_workers.start()
    publisher = AmqpPublisher(settings.broker, Topology(settings))
    await publisher.connect(declare=False)
    ghost = uuidlib.uuid4()
    await publish_command(publisher, Topology(settings),
                          FinalizeIngest(uuid=ghost, user_id=f"alice-{settings.exchange}"))
    await publisher.close()

    async def traced():
        traces = [json.loads(m.body) for m in await drain(settings, settings.queue_traces)]
        return [t for t in traces if t["uuid"] == str(ghost)]

    [trace] = await wait_until(traced, 20, "a trace for the ghost job")
    assert trace["success"] and trace["reason"] == "nothing to do"
    assert await drain(settings, f"{settings.queue_finalize}.failed") == []
