"""Colour and HDR through the pipeline: upload, preview worker, API, confirm, permanent Image.

JPEG XL (lossless, and a recompressed JPEG) and the colour set's Adobe RGB
(EXIF only) and 16-bit ProPhoto files are made at test time
(`tests/fixtures/colour_set.py`); the gain-map files are the corpus's own
(`jpeg/sky.jpg`, an Ultra HDR JPEG in Display P3; `other/iphone_13_pro_max.HEIC`,
an iPhone HDR photo). The preview worker runs in the Display P3 setting, so
wide sources come back tagged P3 and are scored against the P3 reference.
The debug page's timeline of a photo shows the same facts.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.conftest import CORPUS, make_settings
from tests.fixtures import colour_set
from tests.fixtures.proxies import *  # noqa: F403
from tests.fixtures.proxies import wait_until
from tests.fixtures.tracing import start_tracing
from tests.integration.test_preview_pipeline import settle, upload

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(tmp_path: Path):
    return make_settings(tmp_path, preview_gamut="display-p3")


async def test_jxl_and_gain_map_files_become_images_that_say_their_colour_and_hdr(
        settings, upload_server, preview_workers, finalize_workers, pool, tmp_path: Path):
    made = {"p3-lossless.jxl", "p3-recompressed.jxl", "adobe-exif.jpg", "prophoto16.tiff"}
    cases = colour_set.make(CORPUS, tmp_path, only=made)
    files = {name: cases[name].path for name in sorted(made)}
    files["sky.jpg"] = CORPUS / "jpeg/sky.jpg"
    files["iphone.heic"] = CORPUS / "other/iphone_13_pro_max.HEIC"
    preview_workers.start()
    uuids = {name: await upload(upload_server, path.read_bytes(), name) for name, path in files.items()}
    rows = await settle(pool, list(uuids.values()))
    assert all(rows[u]["preview_status"] == "ready" for u in uuids.values()), \
        {n: rows[u]["preview_error"] for n, u in uuids.items()}
    async with upload_server.client() as http:
        views = {name: (await http.get(f"/v1/proxies/{u}")).json() for name, u in uuids.items()}
        for name in ("p3-lossless.jxl", "p3-recompressed.jxl", "adobe-exif.jpg", "prophoto16.tiff"):
            colour = views[name]["colour"]
            assert (colour["space"], colour["preview_gamut"], colour["hdr"]) == (
                cases[name].space, "display-p3", False), (name, colour)
            preview = (await http.get(f"/v1/proxies/{uuids[name]}/preview")).content
            assert colour_set.tagged_p3(preview), name
            ref = colour_set.reference(cases[name], (views[name]["preview_width"], views[name]["preview_height"]),
                                       "p3")
            mean, p95 = colour_set.score(preview, "p3", ref)
            assert mean < 1.0 and p95 < 2.5, (name, mean, p95)
        assert views["adobe-exif.jpg"]["colour"]["evidence"] == "exif"
        sky, iphone = views["sky.jpg"]["colour"], views["iphone.heic"]["colour"]
        assert (sky["space"], sky["hdr"], sky["hdr_format"], sky["hdr_headroom"]) == (
            "display-p3", True, "ultra-hdr", pytest.approx(2.205, abs=0.001)), sky
        assert (iphone["space"], iphone["hdr"], iphone["hdr_format"]) == (
            "display-p3", True, "apple-gain-map"), iphone
        assert iphone["hdr_headroom"] == pytest.approx(1.64, abs=0.01)  # Apple's formula, maker note values

        async with start_tracing(settings) as tracing, httpx.AsyncClient(
                base_url=tracing.url, headers=tracing.headers) as debug:
            page = (await debug.get(f"/admin/ingest-traces/{uuids['sky.jpg']}")).text
        assert 'id="timeline-colour"' in page and "<b>display-p3</b>" in page and "<b>ultra-hdr</b>" in page
        assert re.search(r"2\.2\d stops of headroom", page), page

        finalize_workers.start()
        confirmed = ["p3-lossless.jxl", "p3-recompressed.jxl", "sky.jpg", "iphone.heic"]
        answer = await http.post("/v1/ingest", json={"uuids": [uuids[n] for n in confirmed]})
        assert answer.status_code == 202, answer.text

        async def images() -> dict[str, dict] | None:
            page = (await http.get("/v1/images")).json()["items"]
            found = {i["original_name"]: i for i in page}
            return found if set(confirmed) <= set(found) else None

        kept = await wait_until(images, timeout=120, what="the confirmed files as Images")
    assert kept["p3-recompressed.jxl"]["colour"]["space"] == "display-p3"
    assert (kept["sky.jpg"]["colour"]["hdr_format"], kept["iphone.heic"]["colour"]["hdr_format"]) == (
        "ultra-hdr", "apple-gain-map")
    assert kept["sky.jpg"]["colour"]["hdr_headroom"] == pytest.approx(2.205, abs=0.001)
    record = await pool.fetchrow("SELECT colour_space, hdr_format FROM images WHERE original_name = 'iphone.heic'")
    assert tuple(record) == ("display-p3", "apple-gain-map")


async def test_a_parked_preview_job_still_leaves_the_exif_thumbnail_as_a_degraded_thumbnail(
        settings, pool, temp_store, migrated):
    """A job parked after crashes or timeouts never reached the degraded path of a failed render:
    `record_failure` makes the thumbnail from the EXIF thumbnail then, without the original."""
    import asyncio
    import uuid

    from prometheus_client import CollectorRegistry

    from services.preview.preview import PreviewDeps, record_failure
    from shared import imaging
    from shared.db import previews
    from shared.messages import GeneratePreview
    from shared.metrics import PreviewMetrics
    from shared.worker import render_process
    from tests.fixtures.proxies import make_proxy

    user = f"colour-{uuid.uuid4().hex[:8]}"
    proxy = await make_proxy(pool, temp_store, user, (CORPUS / "jpeg/jolla.jpg").read_bytes(),
                             preview_status="processing")
    renderer = render_process.for_settings(settings)
    deps = PreviewDeps(records=previews.PgPreviewRecords(pool), store=temp_store,
                       limits=imaging.Limits.from_settings(settings), metrics=PreviewMetrics(CollectorRegistry()),
                       cpu=asyncio.Semaphore(1), renderer=renderer)
    try:
        job = GeneratePreview(uuid=proxy.uuid, user_id=user)
        assert await record_failure(deps, job, "timed out 3 times")
    finally:
        renderer.close()
    row = await pool.fetchrow("SELECT * FROM proxy_images WHERE uuid = $1", proxy.uuid)
    assert (row["preview_status"], row["preview_error"]) == ("failed", "timed out 3 times")
    assert "EXIF thumbnail" in row["preview_degraded"] and row["thumbnail_path"]
    thumb = await temp_store.get_bytes(row["thumbnail_path"])
    assert thumb[:2] == b"\xff\xd8" and len(thumb) > 1000
