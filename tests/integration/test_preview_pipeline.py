"""Previews through the real pipeline: HTTP upload, RabbitMQ, preview workers, store, DB."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import signal
import time
import zlib
from pathlib import Path
from uuid import UUID, uuid4

import psutil
import pytest
from PIL import Image

from tests.fixtures.proxies import drain
from tests.integration.test_upload_api import jpeg_bytes

pytestmark = pytest.mark.integration


async def upload(server, data: bytes, name: str) -> str:
    async with server.client() as c:
        r = await c.post("/v1/uploads", content=data,
                         headers={"Content-Type": "application/octet-stream", "X-Filename": name})
    assert r.status_code in (200, 201), r.text
    return r.json()["uuid"]


async def settle(pool, uuids: list[str], timeout: float = 180) -> dict[str, dict]:
    """Wait until no proxy is pending or processing; returns the rows."""
    deadline = time.monotonic() + timeout
    while True:
        rows = await pool.fetch("SELECT * FROM proxy_images WHERE uuid = ANY($1::uuid[])", uuids)
        if all(r["preview_status"] in ("ready", "failed") for r in rows) and len(rows) == len(uuids):
            return {str(r["uuid"]): dict(r) for r in rows}
        if time.monotonic() > deadline:
            stuck = [(str(r["uuid"]), r["preview_status"]) for r in rows
                     if r["preview_status"] not in ("ready", "failed")]
            raise AssertionError(f"still not settled: {stuck[:10]}")
        await asyncio.sleep(0.2)


def expected_long_edge(row: dict[str, str]) -> int | None:
    size = row["width_x_height"]
    if "x" not in size:
        return None
    w, h = (int(v) for v in size.split("x"))
    return min(2048, max(w, h))


def upright(row: dict[str, str]) -> bool:
    """Whether the stored pixels are portrait after orientation, as the manifest says."""
    w, h = (int(v) for v in row["width_x_height"].split("x"))
    turned = row["orientation"] in ("5", "6", "7", "8")
    return (h > w) != turned


async def traces(settings) -> list[dict]:
    return [json.loads(m.body) for m in await drain(settings, settings.queue_traces)]


def image_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as im:
        return im.size


async def test_every_corpus_file_ends_ready_or_failed_with_a_reason_across_two_workers(
    upload_server, preview_workers, pool, corpus: Path
):
    with open(corpus / "MANIFEST.tsv", newline="") as fh:  # noqa: ASYNC230 (a small local file)
        manifest = list(csv.DictReader(fh, delimiter="\t"))
    preview_workers.start()
    preview_workers.start()
    by_uuid: dict[str, dict[str, str]] = {}
    for row in manifest:
        by_uuid[await upload(upload_server, (corpus / row["path"]).read_bytes(), Path(row["path"]).name)] = row
    rows = await settle(pool, list(by_uuid))
    store = upload_server.app.state.ctx.temp_store
    failed = {}
    for uuid, proxy in rows.items():
        row = by_uuid[uuid]
        # two workers shared the queue: no job was done twice
        assert proxy["preview_attempts"] == 1, (row["path"], proxy["preview_attempts"])
        if proxy["preview_status"] == "failed":
            failed[row["path"]] = proxy["preview_error"]
            continue
        preview = await store.get_bytes(proxy["preview_path"])
        thumb = await store.get_bytes(proxy["thumbnail_path"])
        assert image_size(thumb) == (400, 400), row["path"]
        pw, ph = image_size(preview)
        assert (pw, ph) == (proxy["preview_width"], proxy["preview_height"])
        if row["path"].startswith("raw/"):
            continue  # RAW previews come from embedded images of their own size
        assert max(pw, ph) == expected_long_edge(row), (row["path"], pw, ph)
        assert (ph > pw) == upright(row) or pw == ph, (row["path"], pw, ph)
    # only files without usable image data fail, and the reason says so
    assert failed, "the corpus's metadata-only stubs must fail"
    for path, error in failed.items():
        assert path.startswith("raw/"), (path, error)
        assert "no usable image data" in error, (path, error)
    assert "raw/canon-r6.cr3" not in failed and "raw/Canon-R6-pruned.CR3" not in failed


def exif_thumbnail_of(data: bytes) -> bytes:
    """The EXIF thumbnail as ExifTool extracts it (what the upload service stores)."""
    import subprocess

    done = subprocess.run(["exiftool", "-b", "-ThumbnailImage", "-"], input=data,
                          capture_output=True, check=True)
    return done.stdout


async def test_a_raw_with_an_embedded_preview_uses_it_and_one_without_falls_back_to_libraw(
    upload_server, preview_workers, pool, corpus: Path
):
    preview_workers.start()
    with_preview = await upload(upload_server, (corpus / "raw/canon-r6.cr3").read_bytes(), "r6.cr3")
    without = await upload(upload_server, (corpus / "raw/Blackmagic.dng").read_bytes(), "bm.dng")
    rows = await settle(pool, [with_preview, without])
    assert rows[with_preview]["preview_method"] == "embedded:PreviewImage"
    assert "smaller than requested" in rows[with_preview]["preview_degraded"]
    assert rows[without]["preview_method"] == "raw:libraw"
    events = await traces(upload_server.settings)
    mine = [e for e in events if e["uuid"] == with_preview and e["trace_type"] == "preview_extraction"]
    assert any(e["method"] == "embedded:PreviewImage" and e["success"] for e in mine)
    other = [e for e in events if e["uuid"] == without and e["trace_type"] == "preview_extraction"]
    assert any(e["method"] == "embedded:none" and not e["success"]
               and "no embedded preview" in e["reason"] for e in other)
    assert any(e["method"] == "raw:libraw" and e["success"] for e in other)
    assert {e["trace_type"] for e in events} >= {"preview_extraction", "thumbnail_generation",
                                                  "metadata_extraction"}
    made = [e for e in events if e["method"] == "from-preview"]
    assert len(made) == 2 and all((e["width"], e["height"]) == (400, 400) for e in made)


def bomb_png(width: int = 50_000, height: int = 50_000) -> bytes:
    """A valid-looking PNG header announcing 2.5 gigapixels, a few KB on disk."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (len(data).to_bytes(4, "big") + kind + data
                + zlib.crc32(kind + data).to_bytes(4, "big"))

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    row = b"\x00" + b"\x00" * width
    comp = zlib.compressobj(9)
    data = b"".join(comp.compress(row) for _ in range(50)) + comp.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


async def test_a_decompression_bomb_fails_fast_and_the_worker_memory_barely_moves(
    upload_server, preview_workers, pool
):
    proc = preview_workers.start()
    warm = await upload(upload_server, jpeg_bytes(1200, 900), "warm.jpg")
    await settle(pool, [warm])
    before = psutil.Process(proc.pid).memory_info().rss
    data = bomb_png()
    assert len(data) < 200_000
    started = time.monotonic()
    uuid = await upload(upload_server, data, "bomb.png")
    rows = await settle(pool, [uuid], timeout=30)
    assert time.monotonic() - started < 10
    assert rows[uuid]["preview_status"] == "failed"
    assert "too many pixels" in rows[uuid]["preview_error"]
    after = psutil.Process(proc.pid).memory_info().rss
    assert (after - before) < 50 * 2**20


async def test_a_truncated_jpeg_fails_with_a_reason_and_gets_the_exif_thumbnail(
    upload_server, preview_workers, pool, corpus: Path
):
    preview_workers.start()
    data = (corpus / "jpeg/DSCN0010.jpg").read_bytes()
    cut = data[: len(data) // 2]  # the EXIF thumbnail survives, the scan data does not
    uuid = await upload(upload_server, cut, "cut.jpg")
    rows = await settle(pool, [uuid])
    assert rows[uuid]["preview_status"] == "failed"
    assert "no usable image data" in rows[uuid]["preview_error"]
    assert rows[uuid]["thumbnail_path"] == f"ingest-temp/thumbs/{uuid}.jpg"
    assert "EXIF thumbnail" in rows[uuid]["preview_degraded"]
    async with upload_server.client() as c:
        thumb = await c.get(f"/v1/proxies/{uuid}/thumbnail")
        parked = await c.get("/v1/failed", params={"queue": "preview"})
        by_tag = await c.get("/v1/failed", params={"tag": f"proxy:{uuid}"})
        other = await c.get("/v1/failed", params={"tag": f"proxy:{uuid4()}"})
        bad_tag = await c.get("/v1/failed", params={"tag": "proxy:nope"})
    assert thumb.status_code == 200 and image_size(thumb.content) == (400, 400)
    assert [i["uuid"] for i in parked.json()["items"]] == [uuid]
    # the parked copy keeps the job's tags, and the list filters by one
    assert [i["uuid"] for i in by_tag.json()["items"]] == [uuid]
    assert by_tag.json()["items"][0]["tags"][:2] == ["ingest", f"proxy:{uuid}"]
    assert other.json()["items"] == [] and bad_tag.status_code == 422
    # every thumbnail attempt is traced with the size of what it made
    attempts = {e["method"]: e for e in await traces(upload_server.settings)
                if e["uuid"] == uuid and e["trace_type"] == "thumbnail_generation"}
    assert (attempts["exif-thumbnail"]["width"], attempts["exif-thumbnail"]["height"]) == (400, 400)
    upload_thumb = attempts["upload-exif-thumbnail"]
    assert (upload_thumb["width"], upload_thumb["height"]) == image_size(exif_thumbnail_of(cut))


async def test_the_sse_stream_follows_a_proxy_to_ready_and_the_images_are_served(
    upload_server, preview_workers, pool
):
    uuid = await upload(upload_server, jpeg_bytes(3000, 2000), "sse.jpg")
    seen: list[str] = []
    first = asyncio.Event()

    async def follow() -> None:
        async with upload_server.client() as c, c.stream("GET", f"/v1/proxies/{uuid}/events") as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            async for line in r.aiter_lines():
                if line.startswith("data: "):
                    seen.append(json.loads(line[6:])["status"])
                    first.set()

    listener = asyncio.create_task(follow())
    # the worker only once the stream has said where it starts (a fixed wait lost the race
    # on a loaded machine: the stream's first event was already "processing")
    await asyncio.wait_for(first.wait(), timeout=30)
    preview_workers.start()
    await asyncio.wait_for(listener, timeout=60)
    assert seen[0] == "pending" and seen[-1] == "ready"
    assert "processing" in seen
    async with upload_server.client() as c, upload_server.client("tok-bob") as bob:
        preview = await c.get(f"/v1/proxies/{uuid}/preview")
        other = await bob.get(f"/v1/proxies/{uuid}/preview")
    assert image_size(preview.content) == (2048, 1365)
    assert other.status_code == 404
    assert "prophoto_upload_to_preview_ready_seconds_count 1.0" in preview_workers.metrics()


async def test_a_worker_killed_mid_job_leaves_the_preview_to_another_worker(
    upload_server, preview_workers, pool
):
    from bench.common import photo

    first = preview_workers.start()
    uuid = await upload(upload_server, photo(45, name="45mp").read_bytes(), "big.jpg")
    deadline = time.monotonic() + 30
    while (await pool.fetchval("SELECT preview_status FROM proxy_images WHERE uuid = $1",
                               UUID(uuid))) != "processing":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert (await pool.fetchval("SELECT preview_status FROM proxy_images WHERE uuid = $1",
                                UUID(uuid))) == "processing"
    preview_workers.start()
    rows = await settle(pool, [uuid], timeout=60)
    assert rows[uuid]["preview_status"] == "ready"
    assert rows[uuid]["preview_attempts"] == 2


async def test_retry_requeues_a_failed_preview_and_removes_its_parked_message(
    upload_server, preview_workers, pool
):
    preview_workers.start()
    uuid = await upload(upload_server, b"\xff\xd8\xff\xe0" + b"\x00" * 5000, "broken.jpg")
    rows = await settle(pool, [uuid])
    assert rows[uuid]["preview_status"] == "failed"
    async with upload_server.client() as c:
        r = await c.post(f"/v1/proxies/{uuid}/retry")
        assert r.status_code == 202, r.text
        assert r.json() == {"uuid": uuid, "requeued": "preview", "removed_parked": 1}
        rows = await settle(pool, [uuid])
        assert rows[uuid]["preview_status"] == "failed"  # still broken, failed again
        assert rows[uuid]["preview_attempts"] == 1  # attempts were reset by the retry
        parked = (await c.get("/v1/failed")).json()["items"]
        assert [p["uuid"] for p in parked] == [uuid]
        again = await c.post(f"/v1/proxies/{uuid}/retry")
        ready = await upload(upload_server, jpeg_bytes(), "fine.jpg")
        await settle(pool, [ready])
        nothing = await c.post(f"/v1/proxies/{ready}/retry")
    assert again.status_code == 202
    assert nothing.status_code == 409
