"""RAW+JPEG pairs and Live Photo movies through the HTTP API, with the real services."""

from __future__ import annotations

import io
import struct
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from shared.settings import Settings
from tests.conftest import make_settings
from tests.fixtures.preview import *  # noqa: F403
from tests.fixtures.proxies import *  # noqa: F403
from tests.fixtures.upload import UploadServer
from tests.integration.test_metadata_api import ingest_and_read

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, final_store=f"file://{tmp_path / 'final'}")


def camera_jpeg(path: Path, tags: list[str], size: tuple[int, int] = (2400, 1600)) -> bytes:
    """A JPEG as a camera writes beside its RAW: larger than the RAW's embedded preview."""
    out = io.BytesIO()
    Image.effect_noise(size, 40).convert("RGB").save(out, "JPEG", quality=80)
    path.write_bytes(out.getvalue())
    subprocess.run(["exiftool", "-q", "-overwrite_original", *tags, str(path)], check=True, timeout=30)
    return path.read_bytes()


def live_movie(content_id: str) -> bytes:
    """The smallest QuickTime movie ExifTool reads, with an Apple ContentIdentifier in its Keys."""
    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", 8 + len(payload)) + kind + payload

    key = b"com.apple.quicktime.content.identifier"
    mvhd = box(b"mvhd", bytes(4) + struct.pack(">IIII", 0, 0, 600, 600) + struct.pack(">IH", 0x10000, 0x100)
               + bytes(10) + struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000) + bytes(24)
               + struct.pack(">I", 2))
    meta = box(b"meta", box(b"hdlr", bytes(8) + b"mdta" + bytes(12) + b"\x00")
               + box(b"keys", bytes(4) + struct.pack(">I", 1) + struct.pack(">I", 8 + len(key)) + b"mdta" + key)
               + box(b"ilst", box(struct.pack(">I", 1), box(b"data", struct.pack(">I", 1) + bytes(4)
                                                                 + content_id.encode()))))
    return box(b"ftyp", b"qt  " + struct.pack(">I", 0x200) + b"qt  ") + box(b"moov", mvhd + meta)


async def post(server: UploadServer, name: str, data: bytes, mime: str) -> str:
    async with server.client() as http:
        resp = await http.post("/v1/uploads", files={"file": (name, data, mime)})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["uuid"])


async def test_a_raw_and_its_camera_jpeg_name_each_other_and_the_raw_shows_the_larger_jpeg_preview(
    tmp_path: Path, upload_server: UploadServer, preview_workers, finalize_workers, pool, corpus: Path
):
    raw = (corpus / "raw/canon-r6.cr3").read_bytes()  # 1620x1080 embedded preview, 2025:09:06 20:24:47.72
    same_frame = camera_jpeg(tmp_path / "a.jpg", ["-DateTimeOriginal=2025:09:06 20:24:47",
                                                  "-SubSecTimeOriginal=72", "-OffsetTimeOriginal=-08:00"])
    # another frame: the same base name in another folder, taken a minute later, stays alone
    other_frame = camera_jpeg(tmp_path / "b.jpg", ["-DateTimeOriginal=2025:09:06 20:25:47"], (640, 480))
    preview_workers.start()
    finalize_workers.start()
    uuids = {"raw": await post(upload_server, "IMG_5000.CR3", raw, "image/x-canon-cr3"),
             "jpeg": await post(upload_server, "IMG_5000.JPG", same_frame, "image/jpeg"),
             "other": await post(upload_server, "img_5000.jpg", other_frame, "image/jpeg")}
    images = await ingest_and_read(upload_server, pool, list(uuids.values()))
    raw_image, jpeg_image, other = (images[uuids[k]] for k in ("raw", "jpeg", "other"))
    assert raw_image["pair_kind"] == jpeg_image["pair_kind"] == "raw+jpeg"
    assert raw_image["paired_image_id"] == jpeg_image["id"] and jpeg_image["paired_image_id"] == raw_image["id"]
    assert other["pair_kind"] is None and other["paired_image_id"] is None
    assert raw_image["metadata"]["preview_source"] == "camera-jpeg"
    async with upload_server.client() as http:
        raw_preview = (await http.get(raw_image["preview_url"])).content
        jpeg_preview = (await http.get(jpeg_image["preview_url"])).content
    assert raw_preview == jpeg_preview
    with Image.open(io.BytesIO(raw_preview)) as im:
        assert max(im.size) == 2048  # the JPEG's, not the RAW's 1620 px embedded preview


async def test_a_raw_and_a_jpeg_with_the_same_image_unique_id_pair_whatever_their_names(
    tmp_path: Path, upload_server: UploadServer, preview_workers, finalize_workers, pool, corpus: Path
):
    raw = (corpus / "raw/Canon-R6-pruned.CR3").read_bytes()
    twin = camera_jpeg(tmp_path / "t.jpg", ["-ImageUniqueID=27f5f4cab6094776ad56a5bd6a0b75e4",
                                           "-DateTimeOriginal=2021:05:12 12:21:21"], (800, 600))
    preview_workers.start()
    finalize_workers.start()
    uuids = [await post(upload_server, "R6_0042.CR3", raw, "image/x-canon-cr3"),
             await post(upload_server, "exported.jpg", twin, "image/jpeg")]
    images = await ingest_and_read(upload_server, pool, uuids)
    first, second = images[uuids[0]], images[uuids[1]]
    assert (first["paired_image_id"], second["paired_image_id"]) == (second["id"], first["id"])
    # the exported JPEG (800 px) is smaller than the RAW's own preview: the RAW keeps its own
    assert first["metadata"].get("preview_source") is None


async def test_a_live_photo_keeps_its_movie_beside_it_and_a_movie_alone_is_refused(
    upload_server: UploadServer, preview_workers, finalize_workers, pool, corpus: Path
):
    movie = live_movie("5F2A-LIVE-0001")
    preview_workers.start()
    finalize_workers.start()
    async with upload_server.client() as http:
        alone = await http.post("/v1/live-videos", content=movie, headers={"X-Filename": "IMG_7000.MOV"})
        assert alone.status_code == 422 and alone.json()["title"] == "Movie without its photo", alone.text
        as_photo = await http.post("/v1/uploads", files={"file": ("IMG_7000.MOV", movie, "video/quicktime")})
        assert as_photo.status_code == 415 and "/v1/live-videos" in as_photo.json()["detail"]
        photo = await post(upload_server, "IMG_7000.HEIC", (corpus / "other/IMG_2682.heic").read_bytes(),
                           "image/heic")
        kept = await http.post("/v1/live-videos", content=movie, headers={"X-Filename": "IMG_7000.MOV"})
        assert kept.status_code == 201, kept.text
        assert kept.json()["proxy_uuid"] == photo and kept.json()["content_identifier"] == "5F2A-LIVE-0001"
        not_movie = await http.put(f"/v1/proxies/{photo}/live-video", content=b"\xff\xd8\xff\xe0 not a movie")
        assert not_movie.status_code == 415
    image = (await ingest_and_read(upload_server, pool, [photo]))[photo]
    assert image["pair_kind"] == "live-photo"
    assert image["live_video_path"] == image["path"].rsplit(".", 1)[0] + ".mov"
    final = upload_server.app.state.ctx.final_store
    assert await final.get_bytes(image["live_video_path"]) == movie
    left = await pool.fetchval("SELECT count(*) FROM sidecars WHERE proxy_uuid = $1::uuid", photo)
    assert left == 0
