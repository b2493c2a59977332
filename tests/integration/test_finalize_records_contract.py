"""One contract for `FinalizeRecords`, run on PostgreSQL (`PgFinalizeRecords`) and on the in-memory
fake (`tests/fakes/finalize_records.py`): the guards the finalize job relies on hold in both, so the
unit tests of the job (`tests/unit/test_finalize_job.py`) meet the SQL's behaviour."""

from __future__ import annotations

import hashlib
import uuid as uuidlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from shared.db import sidecars
from shared.db.finalize_records import FinalizeRecords, PgFinalizeRecords
from shared.db.images import metadata_columns
from shared.db.status import IngestStatus, ProxyStatus
from shared.exif.sidecar import base_name
from tests.fakes.finalize_records import FakeFinalizeRecords

pytestmark = pytest.mark.integration


@dataclass
class Backend:
    """The records under test, and how to plant what the upload would have written."""

    records: FinalizeRecords
    pool: asyncpg.Pool | None
    fake: FakeFinalizeRecords | None
    user: str
    disk: str

    async def confirmed_proxy(self, name: str, mime: str = "image/jpeg", user: str | None = None) -> UUID:
        uuid, user = uuidlib.uuid4(), user or self.user
        ext = name.rpartition(".")[2].lower()
        sha = hashlib.sha256(uuid.bytes).hexdigest()
        if self.fake is not None:
            self.fake.add(f"ingest-temp/originals/{uuid}.{ext}", uuid=uuid, user_id=user, mime=mime,
                          status=ProxyStatus.READY)
            self.fake.rows[uuid].update(original_name=name, sha256=sha, size=10)
            self.fake.confirm(uuid)
            return uuid
        assert self.pool is not None
        await self.pool.execute(
            """INSERT INTO proxy_images (uuid, user_id, original_name, ext, mime, format, size, sha256,
                   temp_key, metadata, preview_status, ingest_status, ingest_tags, uploaded_at)
               VALUES ($1, $2, $3, $4, $5, $4, 10, $6, $7, '{}'::jsonb, 'ready', 'queued', '{}', now())""",
            uuid, user, name, ext, mime, sha, f"ingest-temp/originals/{uuid}.{ext}")
        return uuid

    async def waiting_sidecar(self, name: str) -> int:
        if self.fake is not None:
            return self.fake.add_sidecar(self.user, name, f"ingest-temp/sidecars/{name}", "ab", 2)
        assert self.pool is not None
        row, _ = await sidecars.put_sidecar(self.pool, {
            "user_id": self.user, "base_name": base_name(name), "original_name": name,
            "temp_key": f"ingest-temp/sidecars/{uuidlib.uuid4()}.xmp", "sha256": "ab", "size": 2,
            "metadata": {}, "proxy_uuid": None})
        return int(row["id"])

    async def image(self, uuid: UUID, name: str, mime: str, taken: datetime | None = None,
                    unique_id: str | None = None) -> int:
        columns = metadata_columns({"keywords": [], "image_unique_id": unique_id,
                                    "taken_at_local": taken.isoformat() if taken else None})
        return await self.records.insert_image(uuid, columns | {
            "user_id": self.user, "disk": self.disk, "path": f"d/{uuid}-{name}", "original_name": name,
            "metadata": {"mime": mime}, "tags": [], "association": {}, "sha256": "ab", "size": 10,
            "renditions": {}})


@pytest.fixture(params=["memory", "postgres"])
def backend(request: pytest.FixtureRequest, pool: asyncpg.Pool) -> Backend:
    user, disk = f"contract-{uuidlib.uuid4().hex[:10]}", f"contract-{uuidlib.uuid4().hex[:10]}"
    if request.param == "memory":
        fake = FakeFinalizeRecords()
        return Backend(fake, None, fake, user, disk)
    return Backend(PgFinalizeRecords(pool), pool, None, user, disk)


def key_in(directory: str) -> Any:
    return lambda seq: f"{directory}/{seq:03d}.jpg"


async def nothing_there(key: str) -> bool:
    return False


async def test_a_key_is_allocated_once_per_proxy_and_numbers_follow_each_other(backend: Backend) -> None:
    first, second = await backend.confirmed_proxy("a.jpg"), await backend.confirmed_proxy("b.jpg")
    records, user, disk, d = backend.records, backend.user, backend.disk, backend.disk  # a directory of its own
    assert await records.allocate_key(first, user, disk, d, key_in(d), nothing_there) == (1, f"{d}/001.jpg")
    assert await records.allocate_key(first, user, disk, d, key_in(d), nothing_there) == (1, f"{d}/001.jpg")
    assert await records.allocate_key(second, user, disk, d, key_in(d), nothing_there) == (2, f"{d}/002.jpg")
    proxy = await records.load_proxy(first)
    assert proxy is not None and (proxy["sequence"], proxy["final_key"]) == (1, f"{d}/001.jpg")
    with pytest.raises(LookupError):
        await records.allocate_key(uuidlib.uuid4(), user, disk, d, key_in(d), nothing_there)


async def test_a_number_whose_key_an_object_another_proxy_or_an_image_holds_is_skipped(backend: Backend) -> None:
    directory = f"shared-{uuidlib.uuid4().hex[:8]}"  # no {user} in the pattern: two users share it
    other = f"{backend.user}-other"
    theirs = await backend.confirmed_proxy("a.jpg", user=other)
    mine, later = await backend.confirmed_proxy("b.jpg"), await backend.confirmed_proxy("c.jpg")
    keys = key_in(directory)
    records, disk = backend.records, backend.disk
    assert (await records.allocate_key(theirs, other, disk, directory, keys, nothing_there))[0] == 1

    async def second_is_there(key: str) -> bool:
        return key == f"{directory}/002.jpg"

    # 1 is the other user's proxy's key, 2 an object's: mine is 3
    assert await records.allocate_key(mine, backend.user, disk, directory, keys, second_is_there) == (
        3, f"{directory}/003.jpg")
    await records.insert_image(theirs, metadata_columns({}) | {
        "user_id": other, "disk": disk, "path": f"{directory}/004.jpg", "original_name": "a.jpg",
        "metadata": {}, "tags": [], "association": {}, "sha256": "ab", "size": 1, "renditions": {}})
    assert await records.allocate_key(later, backend.user, disk, directory, keys, nothing_there) == (
        5, f"{directory}/005.jpg")


async def test_an_ingest_starts_from_queued_and_fails_once_from_queued_or_processing(backend: Backend) -> None:
    uuid, records = await backend.confirmed_proxy("a.jpg"), backend.records
    await records.start_ingest(uuid)
    proxy = await records.load_proxy(uuid)
    assert proxy is not None and proxy["ingest_status"] == IngestStatus.PROCESSING
    failed = await records.mark_ingest_failed(uuid, "x" * 2000)
    assert failed is not None and (failed["uuid"], failed["user_id"]) == (uuid, backend.user)
    assert await records.mark_ingest_failed(uuid, "again") is None
    await records.start_ingest(uuid)
    proxy = await records.load_proxy(uuid)
    assert proxy is not None and proxy["ingest_status"] == IngestStatus.FAILED
    assert proxy["metadata_error"] == "x" * 1000


async def test_an_image_is_inserted_once_per_proxy_and_outlives_the_proxy_row(backend: Backend) -> None:
    uuid, records = await backend.confirmed_proxy("a.jpg"), backend.records
    image_id = await backend.image(uuid, "a.jpg", "image/jpeg")
    assert await backend.image(uuid, "a.jpg", "image/jpeg") == image_id
    proxy = await records.load_proxy(uuid)
    assert proxy is not None and proxy["image_id"] == image_id
    await records.delete_ingested(uuid)
    assert await records.load_proxy(uuid) is None
    done = await records.image_for_proxy(uuid)
    assert done is not None and dict(done) == {"id": image_id, "path": f"d/{uuid}-a.jpg", "disk": backend.disk}
    assert await records.image_to_reindex(image_id, "someone else") is None
    await records.update_metadata(image_id, metadata_columns({"keywords": ["k"]}) | {
        "metadata": {"mime": "image/jpeg", "reader": "again"}, "tags": ["k"]})
    image = await records.image_to_reindex(image_id, backend.user)
    assert image is not None and (image["metadata"]["reader"], image["tags"], image["keywords"]) == (
        "again", ["k"], ["k"])


async def test_a_waiting_sidecar_is_attached_to_one_proxy_only_and_released_after(backend: Backend) -> None:
    sidecar_id = await backend.waiting_sidecar("IMG_1.xmp")
    first, second = await backend.confirmed_proxy("IMG_1.CR3"), await backend.confirmed_proxy("img_1.jpg")
    records = backend.records
    claimed = await records.claim_sidecar(backend.user, first, "img_1", "xmp")
    assert claimed is not None and (claimed["id"], claimed["proxy_uuid"]) == (sidecar_id, first)
    assert await records.claim_sidecar(backend.user, second, "img_1", "xmp") is None
    assert await records.claim_sidecar(backend.user, first, "img_1", "live-video") is None
    again = await records.claim_sidecar(backend.user, first, "img_1", "xmp")
    assert again is not None and again["id"] == sidecar_id
    assert [s["id"] for s in await records.sidecars_attached_to(first)] == [sidecar_id]
    await records.delete_sidecar(sidecar_id)
    assert await records.sidecars_attached_to(first) == []


async def test_a_raw_and_the_jpeg_of_its_frame_are_partners_and_are_paired_both_or_neither(
        backend: Backend) -> None:
    taken = datetime(2024, 5, 17, 9, 30, 12, 400000)
    records = backend.records
    raw = await backend.image(await backend.confirmed_proxy("IMG_1.CR3"), "IMG_1.CR3", "image/x-canon-cr3", taken)
    await backend.image(await backend.confirmed_proxy("IMG_1.png"), "IMG_1.png", "image/png", taken)
    other = await backend.image(await backend.confirmed_proxy("IMG_2.JPG"), "IMG_2.JPG", "image/jpeg", taken)
    jpeg = await backend.image(await backend.confirmed_proxy("img_1.JPG"), "img_1.JPG", "image/jpeg",
                               taken.replace(microsecond=0))
    me = await records.pairing_facts(raw)
    assert me is not None and (me["base"], me["is_raw"], me["paired_image_id"]) == ("img_1", True, None)
    partner = await records.partner_of(me)
    assert partner is not None and (partner["id"], partner["is_raw"]) == (jpeg, False)

    assert await records.link_images(raw, jpeg, "raw+jpeg")
    assert not await records.link_images(raw, other, "raw+jpeg")  # raw is taken: other stays unpaired
    facts = [await records.pairing_facts(i) for i in (raw, jpeg, other)]
    assert [f["paired_image_id"] if f else "gone" for f in facts] == [jpeg, raw, None]
    await records.set_image_renditions(raw, {"renditions": {"preview": {"key": "p", "width": 9}},
                                             "preview_path": "p", "thumbnail_path": None,
                                             "preview_source": "camera-jpeg"})
    shown = await records.pairing_facts(raw)
    assert shown is not None and (shown["preview_path"], shown["renditions"]) == (
        "p", {"preview": {"key": "p", "width": 9}})


async def test_images_of_one_frame_by_their_unique_id_are_partners(backend: Backend) -> None:
    records = backend.records
    raw = await backend.image(await backend.confirmed_proxy("A.NEF"), "A.NEF", "image/x-nikon-nef",
                              unique_id="f00d")
    jpeg = await backend.image(await backend.confirmed_proxy("B.HEIC"), "B.HEIC", "image/heic",
                               unique_id="f00d")
    me = await records.pairing_facts(jpeg)
    assert me is not None
    partner = await records.partner_of(me)
    assert partner is not None and partner["id"] == raw
    # no capture time and no unique id: the base name alone never pairs
    await backend.image(await backend.confirmed_proxy("C.NEF"), "C.NEF", "image/x-nikon-nef")
    alone = await records.pairing_facts(
        await backend.image(await backend.confirmed_proxy("c.jpg"), "c.jpg", "image/jpeg"))
    assert alone is not None and await records.partner_of(alone) is None
