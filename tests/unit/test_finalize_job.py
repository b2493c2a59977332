"""The finalize job function against in-memory fakes (`tests/fakes`): real ExifTool, no broker, no
PostgreSQL. The same job against the real services is `tests/integration/test_finalize.py` (and
`test_pairs.py`, `test_metadata_api.py` for pairs, sidecars and reindex); the fake's guards are held to
the SQL's by `tests/integration/test_finalize_records_contract.py`."""

from __future__ import annotations

import hashlib
import io
import uuid as uuidlib
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import pytest
from PIL import Image

from services.finalize.finalize import FinalizeDeps, finalize, record_failure
from services.finalize.verified_copy import IntegrityMismatch
from shared import keys
from shared.db.status import INGESTED, IngestStatus, ProxyStatus
from shared.exif import AsyncExifTool
from shared.messages import FinalizeIngest
from shared.settings import Settings
from shared.storage.memory import MemoryStore
from tests.fakes.finalize_records import FakeFinalizeRecords
from tests.fakes.jobs import Recorder, context

TAKEN = "2024:05:17 09:30:12"
DIRECTORY = "shoots/2024/05/Canon-EOS-R5"


def photo(width: int, height: int, taken: str = TAKEN) -> bytes:
    """A camera JPEG: EXIF Make, Model and DateTimeOriginal, read back by the real ExifTool."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "Canon EOS R5"
    exif.get_ifd(0x8769)[0x9003] = taken
    out = io.BytesIO()
    Image.new("RGB", (width, height), (120, 140, 60)).save(out, "JPEG", quality=80, exif=exif)
    return out.getvalue()


class World:
    """A temp store, a final store and the records, as the upload and preview workers leave them."""

    def __init__(self) -> None:
        self.temp, self.final, self.records = MemoryStore("temp"), MemoryStore("final"), FakeFinalizeRecords()

    async def confirmed(self, name: str, data: bytes, *, mime: str = "image/jpeg", preview: int = 2048,
                        tags: list[str] | None = None) -> FinalizeIngest:
        """An uploaded proxy with its preview and thumbnail rendered, confirmed for ingest."""
        uuid = uuidlib.uuid4()
        ext = name.rpartition(".")[2].lower()
        self.records.add(keys.original_key(uuid, ext), uuid=uuid, mime=mime)
        height = preview * 2 // 3
        made = {"preview": {"key": keys.preview_key(uuid), "width": preview, "height": height},
                "thumbnail": {"key": keys.thumb_key(uuid), "width": 400, "height": 400}}
        self.records.rows[uuid].update(
            original_name=name, size=len(data), sha256=hashlib.sha256(data).hexdigest(), format=ext,
            preview_status=ProxyStatus.READY, renditions=made, preview_path=made["preview"]["key"],
            thumbnail_path=made["thumbnail"]["key"], preview_width=preview, preview_height=height,
            colour_space="srgb")
        await self.temp.put_bytes(keys.original_key(uuid, ext), data)
        await self.temp.put_bytes(keys.preview_key(uuid), b"preview of " + name.encode())
        await self.temp.put_bytes(keys.thumb_key(uuid), b"thumbnail of " + name.encode())
        self.records.confirm(uuid, tags=tags)
        return FinalizeIngest(uuid=uuid, user_id="alice")

    def deps(self, exif: AsyncExifTool) -> FinalizeDeps:
        settings = Settings(env="test", schema_pattern="shoots/{year}/{month}/{camera}")
        return FinalizeDeps(settings=settings, records=self.records, temp_store=self.temp,
                            final_store=self.final, exif=exif)

    def image_of(self, uuid: UUID) -> dict[str, object]:
        (image,) = [i for i in self.records.images.values() if i["proxy_uuid"] == uuid]
        return image


@pytest.fixture
async def exiftool() -> AsyncIterator[AsyncExifTool]:
    tool = AsyncExifTool(size=1)
    yield tool
    await tool.close()


async def test_a_confirmed_proxy_becomes_an_image_with_its_original_and_renditions_beside_it(
        exiftool: AsyncExifTool) -> None:
    world, report = World(), Recorder()
    data = photo(640, 480)
    job = await world.confirmed("IMG_0001.JPG", data, tags=["birds"])
    image_id = await finalize(world.deps(exiftool), job, context(report))

    image = world.image_of(job.uuid)
    key = f"{DIRECTORY}/001-IMG_0001.JPG"
    assert image["id"] == image_id and (image["disk"], image["path"]) == ("final", key)
    assert world.final.objects[key] == data
    kept = {name: keys.kept_rendition_key(key, name) for name in ("preview", "thumbnail")}
    assert (image["preview_path"], image["thumbnail_path"]) == (kept["preview"], kept["thumbnail"])
    assert image["renditions"] == {"preview": {"key": kept["preview"], "width": 2048, "height": 1365},
                                   "thumbnail": {"key": kept["thumbnail"], "width": 400, "height": 400}}
    assert world.final.objects[kept["preview"]] == b"preview of IMG_0001.JPG"
    assert world.final.objects[kept["thumbnail"]] == b"thumbnail of IMG_0001.JPG"
    assert (image["camera_make"], image["camera_model"], str(image["taken_at_local"])) == (
        "Canon", "Canon EOS R5", "2024-05-17 09:30:12")
    metadata = image["metadata"]
    assert isinstance(metadata, dict) and metadata["reader"] == "exiftool-full"
    assert (metadata["mime"], metadata["preview_size"]) == ("image/jpeg", [2048, 1365])
    assert image["tags"] == ["birds"] and image["colour_space"] == "srgb"
    assert image["sha256"] == hashlib.sha256(data).hexdigest() and image["size"] == len(data)
    # the clean-up: no temporary object and no proxy row left
    assert world.temp.objects == {} and job.uuid not in world.records.rows
    assert report.events == [{"status": INGESTED, "error": None, "width": None, "height": None,
                              "image_id": image_id}]
    assert [(t["step"], t["method"], t["success"]) for t in report.traces] == [
        ("metadata_extraction", "exiftool-full", True)]


async def test_a_redelivered_job_after_a_crash_before_the_insert_reuses_its_number_and_makes_one_image(
        exiftool: AsyncExifTool) -> None:
    world = World()
    job = await world.confirmed("IMG_0002.JPG", photo(320, 240))
    insert = world.records.insert_image

    async def crash(uuid: UUID, values: dict[str, Any]) -> int:
        raise ConnectionError("the worker died before the insert committed")

    world.records.insert_image = crash  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await finalize(world.deps(exiftool), job, context(Recorder()))
    assert world.records.rows[job.uuid]["final_key"] == f"{DIRECTORY}/001-IMG_0002.JPG"

    world.records.insert_image = insert  # type: ignore[method-assign]
    first = await finalize(world.deps(exiftool), job, context(Recorder(), attempt=2))
    again = await finalize(world.deps(exiftool), job, context(Recorder(), attempt=3))  # after it all
    assert first == again and len(world.records.images) == 1
    assert world.image_of(job.uuid)["path"] == f"{DIRECTORY}/001-IMG_0002.JPG"
    assert world.records.sequences == {("alice", DIRECTORY): 1}
    assert sorted(world.final.objects) == [f"{DIRECTORY}/.renditions/001-IMG_0002.JPG.{name}.jpg"
                                           for name in ("preview", "thumb")] + [f"{DIRECTORY}/001-IMG_0002.JPG"]


async def test_a_redelivered_job_after_the_insert_only_finishes_the_clean_up(exiftool: AsyncExifTool) -> None:
    world, report = World(), Recorder()
    job = await world.confirmed("IMG_0003.JPG", photo(320, 240))
    delete = world.records.delete_ingested

    async def crash(uuid: UUID) -> None:
        raise ConnectionError("the worker died before the proxy row went")

    world.records.delete_ingested = crash  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await finalize(world.deps(exiftool), job, context(Recorder()))
    world.records.delete_ingested = delete  # type: ignore[method-assign]
    image_id = await finalize(world.deps(exiftool), job, context(report, attempt=2))

    assert list(world.records.images) == [image_id] and job.uuid not in world.records.rows
    assert [e["status"] for e in report.events] == [INGESTED] and report.traces == []  # not read again


async def test_numbers_in_one_directory_follow_each_other_and_skip_a_key_an_object_already_holds(
        exiftool: AsyncExifTool) -> None:
    world = World()
    await world.final.put_bytes(f"{DIRECTORY}/002-IMG_0005.JPG", b"put there by hand")
    first = await world.confirmed("IMG_0004.JPG", photo(320, 240))
    second = await world.confirmed("IMG_0005.JPG", photo(320, 240))
    for job in (first, second):
        await finalize(world.deps(exiftool), job, context(Recorder()))

    assert world.image_of(first.uuid)["path"] == f"{DIRECTORY}/001-IMG_0004.JPG"
    assert world.image_of(second.uuid)["path"] == f"{DIRECTORY}/003-IMG_0005.JPG"
    assert world.final.objects[f"{DIRECTORY}/002-IMG_0005.JPG"] == b"put there by hand"


async def test_a_raw_and_its_camera_jpeg_are_paired_and_the_raw_shows_the_larger_jpeg_preview(
        exiftool: AsyncExifTool) -> None:
    world = World()
    raw = await world.confirmed("IMG_0006.CR3", photo(320, 240), mime="image/x-canon-cr3", preview=1024)
    jpeg = await world.confirmed("IMG_0006.JPG", photo(640, 480), preview=2048)
    raw_id = await finalize(world.deps(exiftool), raw, context(Recorder()))
    jpeg_id = await finalize(world.deps(exiftool), jpeg, context(Recorder()))

    raw_image, jpeg_image = world.records.images[raw_id or 0], world.records.images[jpeg_id or 0]
    assert (raw_image["paired_image_id"], jpeg_image["paired_image_id"]) == (jpeg_id, raw_id)
    assert raw_image["pair_kind"] == jpeg_image["pair_kind"] == "raw+jpeg"
    assert raw_image["metadata"]["preview_source"] == "camera-jpeg"
    shown = keys.kept_rendition_key(raw_image["path"], "preview")
    assert raw_image["preview_path"] == shown and raw_image["renditions"]["preview"]["width"] == 2048
    assert world.final.objects[shown] == b"preview of IMG_0006.JPG"


async def test_a_waiting_sidecar_is_kept_beside_the_original_and_its_row_released(
        exiftool: AsyncExifTool) -> None:
    world = World()
    xmp = b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>"
    await world.temp.put_bytes(keys.sidecar_temp_key("s1"), xmp)
    world.records.add_sidecar("alice", "IMG_0007.xmp", keys.sidecar_temp_key("s1"),
                              hashlib.sha256(xmp).hexdigest(), len(xmp))
    job = await world.confirmed("IMG_0007.JPG", photo(320, 240))
    await finalize(world.deps(exiftool), job, context(Recorder()))

    image = world.image_of(job.uuid)
    assert image["sidecar_path"] == f"{DIRECTORY}/001-IMG_0007.xmp"
    assert world.final.objects[f"{DIRECTORY}/001-IMG_0007.xmp"] == xmp
    assert world.records.sidecars == {} and world.temp.objects == {}


async def test_a_copy_that_is_not_the_uploaded_bytes_makes_no_image_and_the_last_failure_is_recorded(
        exiftool: AsyncExifTool) -> None:
    world = World()
    job = await world.confirmed("IMG_0008.JPG", photo(320, 240))
    world.records.rows[job.uuid]["sha256"] = "0" * 64  # the bytes changed since the upload
    with pytest.raises(IntegrityMismatch):
        await finalize(world.deps(exiftool), job, context(Recorder()))
    assert world.records.images == {}

    assert await record_failure(world.deps(exiftool), job, "integrity mismatch")
    row = world.records.rows[job.uuid]
    assert (row["ingest_status"], row["metadata_error"]) == (IngestStatus.FAILED, "integrity mismatch")
    assert keys.original_key(job.uuid, "jpg") in world.temp.objects  # the proxy keeps its files
    assert not await record_failure(world.deps(exiftool), job, "again")  # failed already: no change


class Unreadable(AsyncExifTool):
    """An ExifTool whose read fails outright (as when neither ExifTool nor Pillow can answer)."""

    async def read(self, path: object, mode: object = None) -> dict[str, Any]:
        raise OSError("no reader answered")


async def test_a_failed_full_read_finalizes_with_the_metadata_the_upload_read() -> None:
    world, report = World(), Recorder()
    job = await world.confirmed("IMG_0009.JPG", photo(320, 240, taken="2019:01:02 03:04:05"))
    world.records.rows[job.uuid]["metadata"] = {"Make": "Canon", "Model": "Canon EOS R5",
                                                "DateTimeOriginal": TAKEN}
    await finalize(world.deps(Unreadable(size=1)), job, context(report))

    image = world.image_of(job.uuid)
    assert image["path"] == f"{DIRECTORY}/001-IMG_0009.JPG" and str(image["taken_at_local"]).startswith("2024")
    assert isinstance(image["metadata"], dict) and image["metadata"]["reader"] == "upload-fast-read"
    assert [(t["method"], t["success"]) for t in report.traces] == [("upload-fast-read", False)]
