"""On-demand enhance through the real API, RabbitMQ, enhance worker processes, store and DB."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from uuid import UUID

import pytest
import pyvips
from PIL import Image

from shared.broker.topology import Topology
from shared.imaging import Limits
from shared.imaging import enhance as render
from tests.conftest import make_settings
from tests.fixtures.proxies import *  # noqa: F403
from tests.fixtures.proxies import distinct, drain, make_proxy, wait_until
from tests.fixtures.s3 import s3_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(request, tmp_path: Path):
    """The usual per-test settings; parametrized with "s3", both stores on the S3 test server."""
    if getattr(request, "param", "file") == "s3":
        return s3_settings(tmp_path, request.getfixturevalue("s3_server"))
    return make_settings(tmp_path)


def jpeg_size(data: bytes) -> tuple[int, int]:
    """Real dimensions, decoded twice: libvips reads the header, Pillow decodes the pixels."""
    head = pyvips.Image.new_from_buffer(data, "")
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        assert im.format == "JPEG"
        assert im.size == (head.width, head.height)
        return im.size


async def row(pool, uuid: UUID) -> dict:
    return dict(await pool.fetchrow("SELECT * FROM proxy_images WHERE uuid = $1", uuid))


async def settled(pool, uuid: UUID, timeout: float = 30) -> dict:
    async def done() -> dict | None:
        r = await row(pool, uuid)
        return r if r["enhancement_status"] in ("ready", "failed") else None

    return await wait_until(done, timeout, f"enhancement of {uuid} to settle")




async def enhance_traces(settings, uuid: UUID | None = None) -> list[dict]:
    """The enhance trace events (of one proxy) waiting in the traces queue; consumes them all."""
    events = [json.loads(m.body) for m in await drain(settings, settings.queue_traces)]
    return sorted((e for e in events if e["trace_type"] == "enhance" and uuid in (None, UUID(e["uuid"]))),
                  key=lambda e: e["attempt"])


class StatusEvents:
    """The proxy's status events, straight from the events exchange (what SSE clients are fed)."""

    def __init__(self, amqp, settings, user: str, uuid: UUID) -> None:
        self.amqp, self.topology = amqp, Topology(settings)
        self.key = Topology.status_routing_key(user, str(uuid))
        self.seen: list[dict] = []

    async def __aenter__(self) -> StatusEvents:
        self.channel = await self.amqp.channel()
        exchange = await self.channel.get_exchange(self.topology.events_exchange)
        self.queue = await self.channel.declare_queue(exclusive=True, auto_delete=True)
        await self.queue.bind(exchange, self.key)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.channel.close()

    async def collect(self) -> list[dict]:
        while (m := await self.queue.get(no_ack=True, fail=False)) is not None:
            self.seen.append(json.loads(m.body))
        return [e for e in self.seen if e["field"] == "enhancement"]


@pytest.mark.parametrize("settings", ["file", "s3"], indirect=True)
async def test_a_preview_is_rescaled_from_a_wider_original_to_the_target_width_with_status_events(
    upload_server, enhance_workers, temp_store, pool, amqp, settings, corpus: Path
):
    # 2048x1536 stored, EXIF orientation 6: 1536 px wide upright, and the preview is 600 wide
    proxy = await make_proxy(pool, temp_store, f"alice-{settings.exchange}",
                             (corpus / "jpeg/canon_hdr_YES.jpg").read_bytes(), "hdr.jpg",
                             preview_width=600)
    assert jpeg_size(await temp_store.get_bytes(proxy.preview_key)) == (600, 800)
    assert (temp_store.local_path(proxy.temp_key) is None) == settings.temp_store.startswith("s3://")
    enhance_workers.start()
    async with StatusEvents(amqp, settings, proxy.user_id, proxy.uuid) as events, \
            upload_server.client() as c:
        r = await c.post(f"/v1/proxies/{proxy.uuid}/enhance", json={"target_width": 1200})
        assert r.status_code == 202, r.text
        assert r.json() == {"uuid": str(proxy.uuid), "enhancement_status": "pending",
                            "target_width": 1200, "limit": 4096, "source": "original"}
        done = await settled(pool, proxy.uuid)
        statuses = await wait_until(
            lambda: _statuses_through(events, "ready"), 10, "the ready event")
        served = await c.get(f"/v1/proxies/{proxy.uuid}/preview", follow_redirects=True)  # S3: presigned
    assert done["enhancement_status"] == "ready", done["enhancement_error"]
    assert (done["preview_width"], done["preview_height"]) == (1200, 1600)
    stored = await temp_store.get_bytes(done["preview_path"])
    assert jpeg_size(stored) == (1200, 1600)  # upright: the original's orientation was applied
    assert served.status_code == 200 and served.content == stored
    # the new preview lives at a new key and the old object is gone
    assert done["preview_path"] == f"ingest-temp/previews/{proxy.uuid}-1200w.jpg"
    assert await temp_store.stat(proxy.preview_key) is None
    assert statuses == ["pending", "processing", "ready"]
    ready = [e for e in events.seen if e["field"] == "enhancement"][-1]
    assert (ready["preview_width"], ready["preview_height"]) == (1200, 1600)
    (trace,) = await enhance_traces(settings, proxy.uuid)
    assert trace["success"] and trace["attempt"] == 1 and trace["service"] == "enhance"
    assert trace["method"] == "original:pyvips:shrink"
    assert trace["result_size"] == len(stored)


async def _statuses_through(events: StatusEvents, last: str) -> list[str] | None:
    statuses = [e["status"] for e in await events.collect()]
    return statuses if statuses and statuses[-1] == last else None


async def test_an_original_narrower_than_the_target_is_upscaled_and_the_default_is_1_25x(
    upload_server, enhance_workers, temp_store, pool, settings, corpus: Path
):
    data = (corpus / "jpeg/prairie_falcon.jpg").read_bytes()  # 800x533
    user = f"alice-{settings.exchange}"
    upscale = await make_proxy(pool, temp_store, user, data, "falcon.jpg", preview_width=400)
    default = await make_proxy(pool, temp_store, user, distinct(data, 2), "falcon2.jpg", preview_width=400)
    # the upload's metadata did not tell the original's size: the preview is the source
    unknown = await make_proxy(pool, temp_store, user, distinct(data, 3), "falcon3.jpg", preview_width=400,
                               metadata={"ImageWidth": None, "ImageHeight": None})
    enhance_workers.start()
    async with upload_server.client() as c:
        r = await c.post(f"/v1/proxies/{unknown.uuid}/enhance", json={"target_width": 1601})
        assert r.status_code == 422 and r.json()["limit"] == 1600, r.text
        r = await c.post(f"/v1/proxies/{unknown.uuid}/enhance", json={"factor": 2})
        assert r.status_code == 202, r.text
        assert (r.json()["source"], r.json()["target_width"]) == ("preview", 800)
        # the original (800) is wider than the preview (400): the source; it may grow 4x
        r = await c.post(f"/v1/proxies/{upscale.uuid}/enhance", json={"target_width": 1000})
        assert r.status_code == 202, r.text
        assert (r.json()["source"], r.json()["limit"]) == ("original", 3200)
        r = await c.post(f"/v1/proxies/{default.uuid}/enhance")  # no body at all
        assert r.status_code == 202, r.text
        assert r.json()["target_width"] == 500
    up, dflt = await settled(pool, upscale.uuid), await settled(pool, default.uuid)
    assert up["enhancement_status"] == "ready", up["enhancement_error"]
    assert (up["preview_width"], up["preview_height"]) == (1000, 666)
    assert jpeg_size(await temp_store.get_bytes(up["preview_path"])) == (1000, 666)
    assert dflt["enhancement_status"] == "ready", dflt["enhancement_error"]
    assert (dflt["preview_width"], dflt["preview_height"]) == (500, 333)
    assert jpeg_size(await temp_store.get_bytes(dflt["preview_path"])) == (500, 333)
    from_preview = await settled(pool, unknown.uuid)
    # the preview is 400x266, so twice that, not the original's 800x533
    assert (from_preview["preview_width"], from_preview["preview_height"]) == (800, 532)
    assert jpeg_size(await temp_store.get_bytes(from_preview["preview_path"])) == (800, 532)
    traces = await enhance_traces(settings)
    methods = {UUID(t["uuid"]): (t["method"], t["success"]) for t in traces}
    assert methods == {upscale.uuid: ("original:pyvips:lanczos3-sharpen", True),
                       default.uuid: ("original:pyvips:shrink", True),
                       unknown.uuid: ("preview:pyvips:lanczos3-sharpen", True)}
    # a second enhance starts from the enhanced preview: 1000 -> 1250, still within 3200
    async with upload_server.client() as c:
        r = await c.post(f"/v1/proxies/{upscale.uuid}/enhance")
    assert r.status_code == 202 and r.json()["target_width"] == 1250, r.text
    again = await settled(pool, upscale.uuid)
    assert (again["preview_width"], again["preview_height"]) == (1250, 833)

    async def old_gone() -> bool:  # deleted after the row's commit, which `settled` saw
        return await temp_store.stat(up["preview_path"]) is None

    assert await wait_until(old_gone, 10, "the old enhanced preview's removal")


async def test_requests_past_the_limits_or_without_a_ready_preview_are_refused(
    upload_server, temp_store, pool, settings, corpus: Path
):
    user = f"alice-{settings.exchange}"
    big = await make_proxy(pool, temp_store, user, (corpus / "jpeg/empty_gps.jpg").read_bytes(),
                           "big.jpg", preview_width=2048)  # original 4640 wide
    small = await make_proxy(pool, temp_store, user, (corpus / "jpeg/32-lens_data.jpeg").read_bytes(),
                             "small.jpg", preview_width=100)  # original 200 wide
    pending = await make_proxy(pool, temp_store, user, (corpus / "jpeg/DSCN0010.jpg").read_bytes(),
                               "pending.jpg", preview_status="pending")
    async with upload_server.client() as c, upload_server.client("tok-bob") as bob:
        too_wide = await c.post(f"/v1/proxies/{big.uuid}/enhance", json={"target_width": 5000})
        by_factor = await c.post(f"/v1/proxies/{big.uuid}/enhance", json={"factor": 2.1})
        past_source = await c.post(f"/v1/proxies/{small.uuid}/enhance", json={"target_width": 801})
        not_wider = await c.post(f"/v1/proxies/{small.uuid}/enhance", json={"target_width": 100})
        both = await c.post(f"/v1/proxies/{small.uuid}/enhance", json={"target_width": 300, "factor": 2})
        not_ready = await c.post(f"/v1/proxies/{pending.uuid}/enhance")
        other_user = await bob.post(f"/v1/proxies/{big.uuid}/enhance")
        unknown = await c.post("/v1/proxies/00000000-0000-4000-8000-000000000000/enhance")
        at_limit = await c.post(f"/v1/proxies/{small.uuid}/enhance", json={"target_width": 800})
        twice = await c.post(f"/v1/proxies/{small.uuid}/enhance", json={"target_width": 700})
    for r in (too_wide, by_factor, past_source, not_wider, both, not_ready, other_user, unknown, twice):
        assert r.headers["content-type"] == "application/problem+json", r.text
    assert too_wide.status_code == 422 and too_wide.json()["limit"] == 4096
    assert too_wide.json()["current_width"] == 2048 and "4096" in too_wide.json()["detail"]
    assert by_factor.status_code == 422 and by_factor.json()["limit"] == 4096  # 2.1 x 2048 = 4301
    assert past_source.status_code == 422 and past_source.json()["limit"] == 800  # 4 x 200
    assert not_wider.status_code == 422 and not_wider.json()["title"] == "Not wider"
    assert both.status_code == 422
    assert not_ready.status_code == 409 and not_ready.json()["preview_status"] == "pending"
    assert other_user.status_code == 404 and unknown.status_code == 404
    assert at_limit.status_code == 202, at_limit.text
    assert twice.status_code == 409 and twice.json()["enhancement_status"] == "pending"
    # only the accepted request changed a row or queued a job
    assert (await row(pool, big.uuid))["enhancement_status"] is None
    assert (await row(pool, pending.uuid))["enhancement_status"] is None
    assert (await row(pool, small.uuid))["enhancement_status"] == "pending"
    jobs = await wait_until(lambda: drain(settings, settings.queue_enhance), 10, "the enhance job")
    assert [json.loads(m.body)["target_width"] for m in jobs] == [800]


async def test_a_failing_enhance_keeps_the_old_preview_and_parks_the_job_after_two_attempts(
    upload_server, enhance_workers, temp_store, pool, settings, corpus: Path
):
    data = (corpus / "jpeg/canon_hdr_YES.jpg").read_bytes()
    user = f"alice-{settings.exchange}"
    removed = await make_proxy(pool, temp_store, user, data, "removed.jpg", preview_width=600)
    corrupt = await make_proxy(pool, temp_store, user, distinct(data, 2), "corrupt.jpg", preview_width=600)
    before = {p.uuid: await temp_store.get_bytes(p.preview_key) for p in (removed, corrupt)}
    await temp_store.delete(removed.temp_key)
    await temp_store.put_bytes(corrupt.temp_key, data[:2000] + b"\x00" * 5000, "image/jpeg")
    enhance_workers.start()
    async with upload_server.client() as c:
        for p in (removed, corrupt):
            r = await c.post(f"/v1/proxies/{p.uuid}/enhance", json={"target_width": 1200})
            assert r.status_code == 202 and r.json()["source"] == "original", r.text
    rows = {p.uuid: await settled(pool, p.uuid) for p in (removed, corrupt)}
    all_traces = await enhance_traces(settings)  # published before each attempt's outcome
    for p, why in ((removed, "is missing"), (corrupt, "no renderer could read the source")):
        failed = rows[p.uuid]
        assert failed["enhancement_status"] == "failed"
        assert "failed after 2 attempts" in failed["enhancement_error"], failed["enhancement_error"]
        assert why in failed["enhancement_error"], failed["enhancement_error"]
        # the old preview is still the one in use, byte for byte
        assert failed["preview_path"] == p.preview_key
        assert (failed["preview_width"], failed["preview_height"]) == (600, 800)
        assert await temp_store.get_bytes(p.preview_key) == before[p.uuid]
        traces = [t for t in all_traces if t["uuid"] == str(p.uuid)]
        assert [(t["attempt"], t["success"]) for t in traces] == [(1, False), (2, False)]
        assert all(why in t["reason"] for t in traces), traces
    # no half-made enhanced preview was left behind
    assert sorted(await temp_store.list("ingest-temp/previews/")) == sorted(
        p.preview_key for p in (removed, corrupt))
    async with upload_server.client() as c:
        listed = (await c.get("/v1/failed", params={"queue": "enhance"})).json()["items"]
        assert sorted(i["uuid"] for i in listed) == sorted(str(p.uuid) for p in (removed, corrupt))
        assert {i["attempt"] for i in listed} == {2}
        # once the original is back, replaying the parked job finishes the enhance
        await temp_store.put_bytes(removed.temp_key, data, "image/jpeg")
        r = await c.post("/v1/failed/replay", json={"queue": "enhance", "uuids": [str(removed.uuid)]})
        assert r.status_code == 200 and r.json() == {"replayed": 1}, r.text
    replayed = await settled(pool, removed.uuid)
    assert replayed["enhancement_status"] == "ready", replayed["enhancement_error"]
    assert replayed["enhancement_error"] is None
    assert jpeg_size(await temp_store.get_bytes(replayed["preview_path"])) == (1200, 1600)
    parked = await drain(settings, Topology(settings).failed_queue(settings.queue_enhance))
    assert [json.loads(m.body)["uuid"] for m in parked] == [str(corrupt.uuid)]
    assert parked[0].headers["job-attempt"] == 2


@pytest.mark.parametrize("target", [600, 1000, 1900])
def test_the_pillow_fallback_renders_what_libvips_renders(corpus: Path, target: int):
    """Both renderers, on a rotated original: same upright size, shrink or upscale."""
    path = corpus / "jpeg/canon_hdr_YES.jpg"  # 1536 px wide upright
    vips, pillow = (fn(path, target, True, Limits()) for fn in (render._vips, render._pillow))
    for result in (vips, pillow):
        render.verify(result, target)
        assert jpeg_size(result.jpeg) == (result.width, result.height)
    assert (vips.width, vips.height) == (pillow.width, pillow.height) == (target, round(2048 * target / 1536))
    kind = "shrink" if target <= 1536 else "upscale"
    assert (vips.method, pillow.method) == {
        "shrink": ("original:pyvips:shrink", "original:pillow:shrink"),
        "upscale": ("original:pyvips:lanczos3-sharpen", "original:pillow:lanczos-unsharp")}[kind]


async def test_the_sse_stream_follows_an_enhancement_to_ready_and_then_ends(
    upload_server, enhance_workers, temp_store, pool, settings, corpus: Path
):
    proxy = await make_proxy(pool, temp_store, f"alice-{settings.exchange}",
                             (corpus / "jpeg/prairie_falcon.jpg").read_bytes(), "sse.jpg", preview_width=400)
    seen: list[tuple[str, str]] = []

    async def follow() -> None:
        async with upload_server.client() as c, c.stream("GET", f"/v1/proxies/{proxy.uuid}/events") as r:
            async for line in r.aiter_lines():
                if line.startswith("data: "):
                    event = json.loads(line[6:])
                    seen.append((event["field"], event["status"]))

    async with upload_server.client() as c:
        # a ready preview with nothing else under way: one event, then the stream ends
        await asyncio.wait_for(follow(), timeout=10)
        assert seen == [("preview", "ready")]
        seen.clear()
        r = await c.post(f"/v1/proxies/{proxy.uuid}/enhance", json={"target_width": 600})
        assert r.status_code == 202, r.text
        listener = asyncio.create_task(follow())  # the worker is not running yet: pending
        await asyncio.sleep(0.5)
        assert not listener.done()
        enhance_workers.start()
        await asyncio.wait_for(listener, timeout=60)
    assert seen[:2] == [("preview", "ready"), ("enhancement", "pending")]
    assert ("enhancement", "processing") in seen and seen[-1] == ("enhancement", "ready")
