"""The preview job function against in-memory fakes (`tests/fakes`): real libvips, no broker, no
PostgreSQL. The same job against the real services is `tests/integration/test_preview_pipeline.py`."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image
from prometheus_client import CollectorRegistry

from services.preview.preview import PreviewDeps, generate_preview, record_failure
from shared import imaging, keys
from shared.db.status import ProxyStatus
from shared.filetype import jpeg_dimensions
from shared.imaging import renditions
from shared.imaging.renditions import Spec
from shared.messages import GeneratePreview
from shared.metrics import PreviewMetrics
from shared.storage.memory import MemoryStore
from shared.worker.context import PermanentError
from tests.fakes.jobs import InProcess, Recorder, context
from tests.fakes.records import FakeProxies


def jpeg(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (180, 90, 30)).save(out, "JPEG", quality=85)
    return out.getvalue()


def deps_for(store: MemoryStore, records: FakeProxies) -> PreviewDeps:
    return PreviewDeps(records=records, store=store, limits=imaging.Limits(),
                       metrics=PreviewMetrics(CollectorRegistry()), cpu=asyncio.Semaphore(1), renderer=InProcess())


async def proxy(store: MemoryStore, records: FakeProxies, data: bytes, exif: bytes | None = None,
                status: str = ProxyStatus.PENDING) -> GeneratePreview:
    uuid = records.add("unused", status=status)
    records.rows[uuid]["temp_key"] = keys.original_key(uuid, "jpg")
    await store.put_bytes(keys.original_key(uuid, "jpg"), data)
    if exif is not None:
        records.rows[uuid]["exif_thumb_key"] = keys.exif_thumb_key(uuid)
        await store.put_bytes(keys.exif_thumb_key(uuid), exif)
    return GeneratePreview(uuid=uuid, user_id="alice")


async def test_a_jpeg_gets_its_renditions_written_recorded_and_announced() -> None:
    store, records, report = MemoryStore(), FakeProxies(), Recorder()
    job = await proxy(store, records, jpeg(3000, 2000))
    await generate_preview(deps_for(store, records), job, context(report))

    row = records.rows[job.uuid]
    assert row["preview_status"] == ProxyStatus.READY and row["preview_method"] == "source:turbo-scaled"
    assert row["renditions"] == {
        "preview": {"key": keys.preview_key(job.uuid), "width": 2048, "height": 1365},
        "thumbnail": {"key": keys.thumb_key(job.uuid), "width": 400, "height": 400}}
    assert (row["preview_path"], row["thumbnail_path"]) == (keys.preview_key(job.uuid), keys.thumb_key(job.uuid))
    assert jpeg_dimensions(store.objects[keys.preview_key(job.uuid)]) == (2048, 1365)
    assert jpeg_dimensions(store.objects[keys.thumb_key(job.uuid)]) == (400, 400)
    assert [e["status"] for e in report.events] == ["processing", "ready"]
    assert (report.events[-1]["width"], report.events[-1]["height"]) == (2048, 1365)
    assert [(t["step"], t["method"]) for t in report.traces] == [
        ("preview_extraction", "source:turbo-scaled"), ("thumbnail_generation", "from-preview")]


async def test_a_third_spec_in_the_list_is_rendered_and_recorded_with_no_other_change(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(renditions, "SPECS", (*renditions.SPECS, Spec("web", 1024, 1024, quality=82)))
    store, records, report = MemoryStore(), FakeProxies(), Recorder()
    job = await proxy(store, records, jpeg(1600, 1200))
    await generate_preview(deps_for(store, records), job, context(report))

    web = keys.rendition_key(job.uuid, "web")
    assert records.rows[job.uuid]["renditions"]["web"] == {"key": web, "width": 1024, "height": 768}
    assert jpeg_dimensions(store.objects[web]) == (1024, 768)
    assert ("thumbnail_generation", "from-preview:web") in [(t["step"], t["method"]) for t in report.traces]


async def test_a_redelivered_job_for_a_ready_proxy_does_nothing() -> None:
    store, records, report = MemoryStore(), FakeProxies(), Recorder()
    job = await proxy(store, records, jpeg(640, 480), status=ProxyStatus.READY)
    await generate_preview(deps_for(store, records), job, context(report))
    assert report.events == [] and sorted(store.objects) == [keys.original_key(job.uuid, "jpg")]


async def test_bytes_that_are_no_image_fail_for_good_and_keep_a_thumbnail_from_the_exif_one() -> None:
    store, records, report = MemoryStore(), FakeProxies(), Recorder()
    job = await proxy(store, records, b"\xff\xd8\xff\xe0" + b"\x00" * 4000, exif=jpeg(160, 120))
    with pytest.raises(PermanentError):
        await generate_preview(deps_for(store, records), job, context(report))

    row = records.rows[job.uuid]
    assert row["renditions"] == {"thumbnail": {"key": keys.thumb_key(job.uuid), "width": 400, "height": 400}}
    assert row["thumbnail_path"] == keys.thumb_key(job.uuid) and "EXIF thumbnail" in row["preview_degraded"]
    assert jpeg_dimensions(store.objects[keys.thumb_key(job.uuid)]) == (400, 400)
    assert ("thumbnail_generation", "exif-thumbnail", True) in [
        (t["step"], t["method"], t["success"]) for t in report.traces]
    # the harness parks it: the row says why
    assert await record_failure(deps_for(store, records), job, "unsupported or corrupt data")
    assert records.rows[job.uuid]["preview_status"] == ProxyStatus.FAILED


async def test_renditions_written_for_a_proxy_deleted_during_the_render_are_removed() -> None:
    store, records, report = MemoryStore(), FakeProxies(), Recorder()
    job = await proxy(store, records, jpeg(800, 600))
    deps = deps_for(store, records)
    claim = records.claim_for_preview

    async def deleted_meanwhile(*args: object) -> object:
        row = await claim(*args)  # type: ignore[arg-type]
        records.rows.pop(job.uuid)  # a DELETE while the render runs
        return row

    records.claim_for_preview = deleted_meanwhile  # type: ignore[method-assign,assignment]
    await generate_preview(deps, job, context(report))
    assert sorted(store.objects) == [keys.original_key(job.uuid, "jpg")]
    assert [e["status"] for e in report.events] == ["processing"]
