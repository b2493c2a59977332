"""The enhance job function against in-memory fakes (`tests/fakes`): real libvips, no broker, no
PostgreSQL. The same job against the real services is `tests/integration/test_enhance.py`."""

from __future__ import annotations

import asyncio
import io
from uuid import UUID

import pytest
from PIL import Image

from services.enhance.enhance import EnhanceDeps, SourceMissing, enhance_preview, record_failure
from shared import imaging, keys
from shared.db.status import ProxyStatus
from shared.filetype import jpeg_dimensions
from shared.messages import EnhancePreview
from shared.storage.memory import MemoryStore
from shared.worker.context import PermanentError
from tests.fakes.jobs import InProcess, Recorder, context
from tests.fakes.records import FakeProxies


def jpeg(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(out, "JPEG", quality=85)
    return out.getvalue()


async def ready_proxy(store: MemoryStore, records: FakeProxies, original: tuple[int, int],
                      preview_width: int = 1024) -> UUID:
    """A proxy whose preview is ready and an enhance was asked for (what the API leaves)."""
    uuid = records.add("unused.jpg", status=ProxyStatus.READY,
                       metadata={"ImageWidth": original[0], "ImageHeight": original[1]})
    row = records.rows[uuid]
    preview_height = round(preview_width * original[1] / original[0])
    row.update(temp_key=keys.original_key(uuid, "jpg"), preview_path=keys.preview_key(uuid),
               preview_width=preview_width, preview_height=preview_height,
               enhancement_status=ProxyStatus.PENDING,
               renditions={"preview": {"key": keys.preview_key(uuid), "width": preview_width,
                                       "height": preview_height}})
    await store.put_bytes(row["temp_key"], jpeg(*original))
    await store.put_bytes(keys.preview_key(uuid), jpeg(preview_width, preview_height))
    return uuid


def deps_for(store: MemoryStore, records: FakeProxies) -> EnhanceDeps:
    return EnhanceDeps(records=records, store=store, limits=imaging.Limits(), cpu=asyncio.Semaphore(1),
                       renderer=InProcess())


async def test_a_wider_preview_from_the_original_replaces_the_old_one_and_its_rendition_entry() -> None:
    store, records, report = MemoryStore(), FakeProxies(), Recorder()
    uuid = await ready_proxy(store, records, (3000, 2000))
    await enhance_preview(deps_for(store, records), EnhancePreview(uuid=uuid, user_id="alice",
                                                                   target_width=1500), context(report))

    row, key = records.rows[uuid], keys.enhanced_key(uuid, 1500)
    assert (row["enhancement_status"], row["preview_path"], row["preview_width"]) == ("ready", key, 1500)
    assert row["renditions"]["preview"] == {"key": key, "width": 1500, "height": 1000}
    assert jpeg_dimensions(store.objects[key]) == (1500, 1000)
    assert keys.preview_key(uuid) not in store.objects  # the old preview goes once the row points away
    assert [(e["status"], e["width"]) for e in report.events] == [("processing", None), ("ready", 1500)]


async def test_a_target_outside_the_limits_fails_for_good_and_writes_nothing() -> None:
    store, records, report = MemoryStore(), FakeProxies(), Recorder()
    uuid = await ready_proxy(store, records, (1200, 800))
    before = dict(store.objects)
    with pytest.raises(PermanentError, match="outside"):
        await enhance_preview(deps_for(store, records), EnhancePreview(uuid=uuid, user_id="alice",
                                                                       target_width=9000), context(report))
    assert store.objects == before and records.rows[uuid]["preview_path"] == keys.preview_key(uuid)
    assert await record_failure(deps_for(store, records), EnhancePreview(uuid=uuid, user_id="alice",
                                                                         target_width=9000), "outside")
    assert records.rows[uuid]["enhancement_status"] == ProxyStatus.FAILED


async def test_a_missing_source_is_retried_and_the_old_preview_stays_in_use() -> None:
    store, records, report = MemoryStore(), FakeProxies(), Recorder()
    uuid = await ready_proxy(store, records, (3000, 2000))
    del store.objects[keys.original_key(uuid, "jpg")]
    with pytest.raises(SourceMissing):
        await enhance_preview(deps_for(store, records), EnhancePreview(uuid=uuid, user_id="alice",
                                                                       target_width=1500), context(report))
    row = records.rows[uuid]
    assert (row["preview_path"], row["preview_width"]) == (keys.preview_key(uuid), 1024)
    assert sorted(store.objects) == [keys.preview_key(uuid)]


async def test_nothing_happens_for_a_proxy_with_no_enhance_asked_for() -> None:
    store, records, report = MemoryStore(), FakeProxies(), Recorder()
    uuid = await ready_proxy(store, records, (3000, 2000))
    records.rows[uuid]["enhancement_status"] = None
    await enhance_preview(deps_for(store, records), EnhancePreview(uuid=uuid, user_id="alice",
                                                                   target_width=1500), context(report))
    assert report.events == [] and records.rows[uuid]["preview_width"] == 1024
