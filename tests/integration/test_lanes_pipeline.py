"""Lanes through the real pipeline: bulk uploads, a photo asked for first, the automatic threshold,
and re-render runs (HTTP, RabbitMQ, preview workers, PostgreSQL)."""

from __future__ import annotations

import asyncio
import io
import sys
import time
from uuid import UUID

import aio_pika
import pytest
from PIL import Image

from prophoto import AsyncClient
from shared.broker.topology import Topology
from shared.db import rerender
from shared.messages import Lane
from tests.conftest import REPO, make_settings
from tests.fixtures.upload import serve
from tests.integration.test_upload_api import queued_jobs

pytestmark = pytest.mark.integration


def photo(i: int, size: tuple[int, int] = (1200, 900)) -> bytes:
    img = Image.new("RGB", size, (i % 256, (i * 7) % 256, 90))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


async def upload(server, data: bytes, name: str, token: str = "tok-alice", bulk: bool = False) -> str:
    async with server.client(token) as c:
        r = await c.post("/v1/uploads", content=data, params={"bulk": "true"} if bulk else None,
                         headers={"Content-Type": "application/octet-stream", "X-Filename": name})
    assert r.status_code == 201, r.text
    return str(r.json()["uuid"])


async def ready_in_lanes(settings, n: int, timeout: float = 30) -> None:
    """Wait until the preview lanes' queues hold `n` ready messages (counted, never taken)."""
    names = [q for _, queues in Topology(settings).lanes() for q in queues]
    deadline = time.monotonic() + timeout
    conn = await aio_pika.connect(settings.amqp_url)
    async with conn:
        channel = await conn.channel()
        while True:
            counts = [(await channel.declare_queue(name, passive=True)).declaration_result.message_count
                      for name in names]
            if sum(c or 0 for c in counts) >= n:
                return
            assert time.monotonic() < deadline, f"{sum(c or 0 for c in counts)} of {n} jobs queued"
            await asyncio.sleep(0.1)


async def settled(pool, uuids: list[str], timeout: float = 120) -> dict[str, dict]:
    deadline = time.monotonic() + timeout
    while True:
        rows = await pool.fetch("SELECT * FROM proxy_images WHERE uuid = ANY($1::uuid[])", uuids)
        if len(rows) == len(uuids) and all(r["preview_status"] in ("ready", "failed") for r in rows):
            return {str(r["uuid"]): dict(r) for r in rows}
        assert time.monotonic() < deadline, [r["preview_status"] for r in rows]
        await asyncio.sleep(0.2)


async def test_a_photo_asked_for_first_and_another_users_upload_overtake_a_bulk_backlog_once(
        upload_server, preview_workers, pool):
    backlog = [await upload(upload_server, photo(i), f"a{i}.jpg", bulk=True) for i in range(24)]
    wanted = backlog[-1]  # the last of the backlog: rendered last without the request
    async with upload_server.client() as c:
        first = await c.post(f"/v1/proxies/{wanted}/prioritize")
        again = await c.post(f"/v1/proxies/{wanted}/prioritize")
        missing = await c.post("/v1/proxies/00000000-0000-4000-8000-000000000000/prioritize")
    assert (first.status_code, first.json()["queued"]) == (202, True), first.text
    assert (again.status_code, again.json()["queued"]) == (200, False)  # a repeat queues nothing
    assert missing.status_code == 404
    other = await upload(upload_server, photo(999), "b.jpg", token="tok-bob")  # one upload: interactive
    # every job on the broker before the worker starts (uploads reach it through the outbox): the
    # lanes' order is what is tested here, not how soon the relay publishes under load
    await ready_in_lanes(upload_server.settings, len(backlog) + 2)
    preview_workers.start()
    rows = await settled(pool, [*backlog, other])
    assert all(r["preview_status"] == "ready" for r in rows.values())
    by_time = sorted(rows, key=lambda u: rows[u]["preview_rendered_at"])
    # the worker's first job is whichever message reached it first; then the lanes decide
    assert wanted in by_time[:3] and other in by_time[:3], [backlog.index(u) if u in backlog else "b"
                                                             for u in by_time[:5]]
    # its bulk copy came later and found it taken: rendered once
    assert rows[wanted]["preview_attempts"] == 1
    async with upload_server.client() as c:
        ready = await c.post(f"/v1/proxies/{wanted}/prioritize")
    assert (ready.status_code, ready.json()) == (200, {"uuid": wanted, "queued": False,
                                                       "preview_status": "ready"})


async def test_uploads_past_the_per_minute_threshold_go_to_the_bulk_lane_without_a_flag(
        tmp_path, topology, migrated):
    settings = make_settings(tmp_path, exchange=topology.settings.exchange,
                             queue_preview=topology.settings.queue_preview,
                             bulk_after_uploads_per_minute=3)
    async for server in serve(settings):
        for i in range(5):
            await upload(server, photo(i, (64, 48)), f"{i}.jpg")
        await upload(server, photo(99, (64, 48)), "flag.jpg", token="tok-bob", bulk=True)
        for _ in range(50):
            jobs = await queued_jobs(settings)
            if len(jobs) == 6:
                break
            await asyncio.sleep(0.1)
    lanes = sorted((j["user_id"], j["lane"]) for j in jobs)
    alice, bob = settings.tokens()["tok-alice"], settings.tokens()["tok-bob"]
    assert lanes == sorted([(alice, "interactive")] * 3 + [(alice, "bulk")] * 2 + [(bob, "bulk")])


async def test_a_rerender_run_resumes_from_its_position_and_renders_each_preview_again_once(
        upload_server, preview_workers, pool, settings):
    uuids = sorted([await upload(upload_server, photo(i, (320, 240)), f"r{i}.jpg") for i in range(5)])
    preview_workers.start()
    before = await settled(pool, uuids)
    user = settings.tokens()["tok-alice"]
    # a run a stopped process left half queued: its first two previews were sent already
    run = await rerender.create_run(pool, "oscar", user)
    await pool.execute("UPDATE rerender_runs SET position = $2, queued = 2 WHERE id = $1",
                       run["id"], UUID(uuids[1]))
    await upload_server.app.state.ctx.extras["rerender"].start()  # what a restarted service does
    async with upload_server.client("tok-oscar") as c:
        for _ in range(150):
            progress = (await c.get(f"/v1/rerender/{run['id']}")).json()
            if progress["status"] == "queued" and progress["rendered"] == 3:
                break
            await asyncio.sleep(0.2)
        refused = await c.post("/v1/rerender", json={}, headers={"Authorization": "Bearer tok-alice"})
    assert progress | {"started_at": None} == progress | {
        "started_at": None, "total": 5, "queued": 5, "rendered": 3, "status": "queued", "user_id": user}
    assert refused.status_code == 403
    after = await settled(pool, uuids)
    again = [u for u in uuids if after[u]["preview_rendered_at"] > before[u]["preview_rendered_at"]]
    assert again == uuids[2:]  # the ones past the position, each once
    assert all(after[u]["preview_status"] == "ready" for u in uuids)


async def test_prophoto_rerender_queues_a_users_previews_on_the_bulk_lane_and_shows_progress(
        upload_server, pool, settings):
    uuids = [await upload(upload_server, photo(i, (64, 48)), f"s{i}.jpg") for i in range(3)]
    await pool.execute("UPDATE proxy_images SET preview_status = 'ready' WHERE uuid = ANY($1::uuid[])",
                       uuids)
    cli = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "prophoto.cli", "--url", upload_server.url, "--token", "tok-oscar",
        "rerender", "--user", settings.tokens()["tok-alice"], "--no-wait",
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    output, errors = await asyncio.wait_for(cli.communicate(), 60)
    assert cli.returncode == 0, errors.decode()
    run_id = int(output.decode().split()[1])  # "re-render <id> (user ...): ..."
    async with AsyncClient(upload_server.url, "tok-oscar") as client:
        for _ in range(50):
            run = await client.rerender_run(run_id)
            if run.status == "queued":
                break
            await asyncio.sleep(0.1)
    assert (run.total, run.queued, run.user_id) == (3, 3, settings.tokens()["tok-alice"])
    bulk = Topology(settings).lane_queue(Lane.BULK)
    jobs = [j for q in [bulk, *Topology(settings).shards(bulk)] for j in await queued_jobs(settings, q)]
    assert sorted(j["uuid"] for j in jobs if j["rerender_before"]) == sorted(uuids)
