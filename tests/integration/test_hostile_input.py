"""The hostile corpus through the real pipeline: every case answered, no worker harmed.

One preview worker and one enhance worker run with a 64 MB budget. Every
hostile file goes through the HTTP upload, RabbitMQ, the worker and its
render process, and must end `ready` or `failed` with the reason expected,
while each worker and its render process stay the processes they were
(never restarted), with peak RSS under the budget plus the stated overhead.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import aio_pika
import psutil
import pytest

from shared.imaging import budget
from shared.messages import EnhancePreview
from tests.conftest import make_settings
from tests.fixtures import hostile
from tests.fixtures.proxies import drain, wait_until
from tests.fixtures.upload import serve
from tests.fixtures.workers import ServiceWorkers
from tests.integration.test_preview_pipeline import settle, upload

pytestmark = pytest.mark.integration

BUDGET_MB = 64
#: the stated overhead: a render process at rest (Python, libvips, LibRaw) is about 110 MB RSS;
#: its peak must stay under the budget plus this. The worker itself never decodes.
RENDER_OVERHEAD_MB = 150
WORKER_PEAK_MB = 200
ENV = {"PROPHOTO_JOB_MEMORY_MB": str(BUDGET_MB)}


def peak_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def render_child(worker: psutil.Process, timeout: float = 30) -> psutil.Process:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [c for c in worker.children() if "shared.worker.render_child" in " ".join(c.cmdline())]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError("the worker has no render process")


def hostile_cases(corpus: Path) -> dict[str, tuple[bytes, str]]:
    """name -> (bytes, 'ready' or a phrase the failure reason must contain)."""
    under = hostile.real_progressive_jpeg(1600, 1600)
    over = hostile.real_progressive_jpeg(2600, 2600)
    assert budget.estimate(under).mb < BUDGET_MB < budget.estimate(over).mb
    return {
        "progressive JPEG just under the budget": (under, "ready"),
        "progressive JPEG just over the budget": (over, "needs ~"),
        "580 bytes of progressive JPEG claiming 121 MP": (hostile.progressive_jpeg(11000, 11000), "needs ~"),
        "main image over the cap, huge progressive EXIF thumbnail": (hostile.with_exif_thumbnail(
            hostile.claim_jpeg_size(hostile.real_progressive_jpeg(64, 64), 20000, 10000),
            hostile.progressive_jpeg(12000, 12000)), "too many pixels"),
        # refused from its header, the embedded preview gives way to LibRaw (checked in the traces)
        "RAW whose embedded preview claims 144 MP": (hostile.raw_with_huge_preview(
            corpus / "raw/Nikon_uncompressed.nef", 12000, 12000), "ready"),
        "interlaced 16-bit PNG claiming 4000x4000": (hostile.interlaced_png(4000, 4000), "needs ~"),
        "multi-page TIFF, one 6000x6000 strip a page": (hostile.multipage_tiff(6000, 6000), "needs ~"),
        "animated GIF claiming 6000x6000 frames": (hostile.animated_gif(6000, 6000), "needs ~"),
        "PNG of 60x40000": (hostile.tall_png(60, 40000), "ready"),
        "TIFF carrying 30 MB of embedded data": (hostile.tiff_with_embedded_data(30), "ready"),
    }


async def publish_enhance(settings, job: EnhancePreview) -> None:
    """The job as a replayed or hand-made message would arrive: past the API's checks."""
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(settings.exchange)
        await exchange.publish(aio_pika.Message(job.model_dump_json().encode()),
                               routing_key=settings.queue_enhance)


async def test_the_hostile_corpus_is_answered_and_no_worker_is_harmed(tmp_path, topology, migrated, pool,
                                                                       corpus: Path):
    settings = make_settings(tmp_path, exchange=topology.settings.exchange,
                             queue_preview=topology.settings.queue_preview,
                             queue_enhance=topology.settings.queue_enhance,
                             queue_traces=topology.settings.queue_traces, job_memory_mb=BUDGET_MB)
    cases = hostile_cases(corpus)
    previews = ServiceWorkers(settings, "preview", "PROPHOTO_PREVIEW_METRICS_PORT")
    enhancers = ServiceWorkers(settings, "enhance", "PROPHOTO_ENHANCE_METRICS_PORT")
    try:
        workers = [psutil.Process(previews.start(ENV).pid), psutil.Process(enhancers.start(ENV).pid)]
        children = [render_child(w) for w in workers]
        async for server in serve(settings):
            uuids = {name: await upload(server, data, f"hostile-{i}")
                     for i, (name, (data, _)) in enumerate(cases.items())}
            rows = await settle(pool, list(uuids.values()), timeout=120)
            tall = uuids["PNG of 60x40000"]
            async with server.client() as c:
                refused = await c.post(f"/v1/proxies/{tall}/enhance", json={"target_width": 240})
            await pool.execute("UPDATE proxy_images SET enhancement_status = 'pending' WHERE uuid = $1", tall)
            await publish_enhance(settings, EnhancePreview(uuid=tall, user_id=rows[tall]["user_id"],
                                                           target_width=240))

            async def enhance_settled() -> dict | None:
                row = await pool.fetchrow("SELECT * FROM proxy_images WHERE uuid = $1::uuid", tall)
                return dict(row) if row["enhancement_status"] in ("ready", "failed") else None

            enhanced = await wait_until(enhance_settled, 60, "the enhance job to settle")
            events = [json.loads(m.body) for m in await drain(settings, settings.queue_traces)]
        alive = [(w.is_running(), w.pid) for w in workers + children]
        peaks = [peak_mb(p.pid) for p in workers + children]
        now_children = [render_child(w) for w in workers]
    finally:
        previews.stop()
        enhancers.stop()
    for name, (_, expected) in cases.items():
        row = rows[uuids[name]]
        if expected == "ready":
            assert row["preview_status"] == "ready", (name, row["preview_error"])
            continue
        assert row["preview_status"] == "failed", (name, row["preview_status"])
        assert expected in row["preview_error"], (name, row["preview_error"])
        if expected == "needs ~":
            assert f"the budget is {BUDGET_MB} MB" in row["preview_error"], (name, row["preview_error"])
    raw = str(uuids["RAW whose embedded preview claims 144 MP"])
    assert rows[uuids["RAW whose embedded preview claims 144 MP"]]["preview_method"] == "raw:libraw"
    [embedded] = [e for e in events if e["uuid"] == raw and e["method"] == "embedded:PreviewImage"]
    assert not embedded["success"] and "needs ~" in embedded["reason"], embedded
    # enhance: the API refuses with the numbers; the worker refuses a message that got past it
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["title"] == "Too large" and problem["budget_mb"] == BUDGET_MB, problem
    assert problem["needed_mb"] > BUDGET_MB and f"the budget is {BUDGET_MB} MB" in problem["detail"]
    assert enhanced["enhancement_status"] == "failed"
    assert "needs ~" in enhanced["enhancement_error"], enhanced["enhancement_error"]
    # the same worker and render processes throughout, within the budget plus the overhead
    assert all(running for running, _ in alive), alive
    assert [c.pid for c in now_children] == [c.pid for c in children]
    assert max(peaks[:2]) < WORKER_PEAK_MB, peaks
    assert max(peaks[2:]) < BUDGET_MB + RENDER_OVERHEAD_MB, peaks
