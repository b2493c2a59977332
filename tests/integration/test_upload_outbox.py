"""No job is lost when the broker is down at upload time, and the whole corpus goes in."""

from __future__ import annotations

import asyncio
import csv
import time
from pathlib import Path

import pytest

from shared.messages import Lane
from tests.conftest import make_settings
from tests.fixtures.outages import SwitchableProxy
from tests.fixtures.upload import serve
from tests.integration.test_upload_api import jpeg_bytes, queued_jobs, wait_for_jobs

pytestmark = pytest.mark.integration


async def test_an_upload_while_the_broker_is_down_is_published_once_it_returns(
    tmp_path, topology, migrated, pool
):
    proxy = SwitchableProxy()
    await proxy.up()
    settings = make_settings(
        tmp_path, amqp_url=f"amqp://guest:guest@127.0.0.1:{proxy.port}/",
        exchange=topology.settings.exchange, queue_preview=topology.settings.queue_preview,
        publish_timeout_s=2.0,
    )
    async for server in serve(settings):
        await proxy.down()
        async with server.client() as c:
            r = await c.post("/v1/uploads", files={"file": ("down.jpg", jpeg_bytes(), "image/jpeg")})
        assert r.status_code == 201, r.text
        uuid = r.json()["uuid"]
        # one upload: the interactive lane, in its user's shard
        preview_queue = topology.shard_for(Lane.INTERACTIVE, settings.tokens()["tok-alice"])
        await asyncio.sleep(1.5)
        assert await queued_jobs(topology.settings) == []  # nothing got through ...
        pending = await pool.fetchval(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL AND message_id = $1"
            " AND routing_key = $2", uuid, preview_queue)
        assert pending == 1  # ... but the job is durably recorded (its traces beside it)
        await proxy.up()
        jobs = await wait_for_jobs(topology.settings, 1, timeout=30)
        assert [j["uuid"] for j in jobs] == [uuid]
        for _ in range(50):  # the row is marked when the relay's batch commits, just after the publish
            published = await pool.fetchval(
                "SELECT published_at IS NOT NULL FROM outbox WHERE message_id = $1"
                " AND routing_key = $2", uuid, preview_queue)
            if published:
                break
            await asyncio.sleep(0.2)
        assert published
    await proxy.down()


def _manifest(corpus: Path) -> list[dict[str, str]]:
    with open(corpus / "MANIFEST.tsv", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


async def test_every_corpus_file_is_accepted_with_a_queued_job_or_refused_clearly(
    upload_server, corpus: Path
):
    rows = _manifest(corpus)
    accepted, refused = [], []
    started = time.monotonic()
    async with upload_server.client() as c:
        for row in rows:
            path = corpus / row["path"]
            r = await c.post("/v1/uploads", content=path.read_bytes(),
                             headers={"Content-Type": "application/octet-stream",
                                      "X-Filename": path.name})
            if r.status_code in (200, 201):
                accepted.append((row["path"], r.json()))
            else:
                assert 400 <= r.status_code < 500, (row["path"], r.status_code, r.text)
                assert r.json()["detail"], row["path"]
                refused.append((row["path"], r.status_code))
    assert len(accepted) + len(refused) == len(rows)
    # every real photo is accepted; only a metadata stub of an exotic RAW may be refused
    assert all(path.startswith("raw/stubs/") for path, _ in refused), refused
    created = {b["uuid"] for _, b in accepted}
    jobs = await wait_for_jobs(upload_server.settings, len(created), timeout=30)
    assert {j["uuid"] for j in jobs} == created
    assert time.monotonic() - started < 120
