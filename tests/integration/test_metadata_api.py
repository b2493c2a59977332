"""Known metadata, written with ExifTool at test time, read back as Image records through the HTTP API.

Each case is a small JPEG of its own (distinct pixels, so no upload is a
duplicate) whose tags one ExifTool call writes (an argument file with one
`-execute` per file). They are uploaded, previewed and confirmed through the
real services, and every field of each Image is asserted from
`GET /v1/images/{id}`: capture instant, wall-clock time, offset, zone and
its source; GPS and altitude sign; rating, label, title, caption, creator,
copyright, credit, place names, keywords flat and hierarchical.
"""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from shared.settings import Settings
from tests.conftest import make_settings
from tests.fixtures.preview import *  # noqa: F403
from tests.fixtures.proxies import *  # noqa: F403
from tests.fixtures.proxies import drain, wait_until
from tests.fixtures.upload import UploadServer

pytestmark = pytest.mark.integration

#: name -> (tags ExifTool writes, the fields the Image must have; absent fields must be null/empty)
CASES: dict[str, tuple[list[str], dict[str, Any]]] = {
    "offset": (["-DateTimeOriginal=2024:05:01 18:30:00", "-SubSecTimeOriginal=123",
                "-OffsetTimeOriginal=+09:00"],
               {"taken_at": "2024-05-01T18:30:00.123000+09:00", "taken_at_local": "2024-05-01T18:30:00.123000",
                "taken_at_offset": "+09:00", "taken_at_zone_source": "offset"}),
    "offset_time_only": (["-DateTimeOriginal=2024:02:10 07:05:00", "-OffsetTime=-05:00"],
                         {"taken_at": "2024-02-10T07:05:00-05:00", "taken_at_local": "2024-02-10T07:05:00",
                          "taken_at_offset": "-05:00", "taken_at_zone_source": "offset"}),
    "gps_time": (["-DateTimeOriginal=2024:07:01 14:00:05", "-GPSDateStamp=2024:07:01",
                  "-GPSTimeStamp=12:00:00"],
                 {"taken_at": "2024-07-01T14:00:05+02:00", "taken_at_local": "2024-07-01T14:00:05",
                  "taken_at_offset": "+02:00", "taken_at_zone_source": "gps_time"}),
    "tokyo": (["-DateTimeOriginal=2024:01:15 18:30:00", "-GPSLatitude=35.6895", "-GPSLatitudeRef=N",
               "-GPSLongitude=139.6917", "-GPSLongitudeRef=E"],
              {"taken_at": "2024-01-15T18:30:00+09:00", "taken_at_local": "2024-01-15T18:30:00",
               "taken_at_offset": "+09:00", "taken_at_zone": "Asia/Tokyo", "taken_at_zone_source": "gps_position",
               "gps": {"latitude": 35.6895, "longitude": 139.6917}}),
    "new_york_summer": (["-DateTimeOriginal=2024:07:04 21:00:00", "-GPSLatitude=40.7128", "-GPSLatitudeRef=N",
                         "-GPSLongitude=74.006", "-GPSLongitudeRef=W"],
                        {"taken_at": "2024-07-04T21:00:00-04:00", "taken_at_local": "2024-07-04T21:00:00",
                         "taken_at_offset": "-04:00", "taken_at_zone": "America/New_York",
                         "taken_at_zone_source": "gps_position",
                         "gps": {"latitude": 40.7128, "longitude": -74.006}}),
    "new_york_winter": (["-DateTimeOriginal=2024:01:04 21:00:00", "-GPSLatitude=40.7128", "-GPSLatitudeRef=N",
                         "-GPSLongitude=74.006", "-GPSLongitudeRef=W"],
                        {"taken_at": "2024-01-04T21:00:00-05:00", "taken_at_local": "2024-01-04T21:00:00",
                         "taken_at_offset": "-05:00", "taken_at_zone": "America/New_York",
                         "taken_at_zone_source": "gps_position",
                         "gps": {"latitude": 40.7128, "longitude": -74.006}}),
    # either side of the date line, the same wall-clock time is a day apart
    "apia": (["-DateTimeOriginal=2024:01:01 00:30:00", "-GPSLatitude=13.8333", "-GPSLatitudeRef=S",
              "-GPSLongitude=171.7667", "-GPSLongitudeRef=W"],
             {"taken_at": "2024-01-01T00:30:00+13:00", "taken_at_local": "2024-01-01T00:30:00",
              "taken_at_offset": "+13:00", "taken_at_zone": "Pacific/Apia", "taken_at_zone_source": "gps_position",
              "gps": {"latitude": -13.8333, "longitude": -171.7667}}),
    "pago_pago": (["-DateTimeOriginal=2024:01:01 00:30:00", "-GPSLatitude=14.2756", "-GPSLatitudeRef=S",
                   "-GPSLongitude=170.702", "-GPSLongitudeRef=W"],
                  {"taken_at": "2024-01-01T00:30:00-11:00", "taken_at_local": "2024-01-01T00:30:00",
                   "taken_at_offset": "-11:00", "taken_at_zone": "Pacific/Pago_Pago",
                   "taken_at_zone_source": "gps_position",
                   "gps": {"latitude": -14.2756, "longitude": -170.702}}),
    "kathmandu": (["-DateTimeOriginal=2024:03:03 06:00:00", "-GPSLatitude=27.7172", "-GPSLatitudeRef=N",
                   "-GPSLongitude=85.324", "-GPSLongitudeRef=E"],
                  {"taken_at": "2024-03-03T06:00:00+05:45", "taken_at_local": "2024-03-03T06:00:00",
                   "taken_at_offset": "+05:45", "taken_at_zone": "Asia/Kathmandu",
                   "taken_at_zone_source": "gps_position", "gps": {"latitude": 27.7172, "longitude": 85.324}}),
    "dead_sea": (["-DateTimeOriginal=2024:04:20 10:00:00", "-OffsetTimeOriginal=+03:00", "-GPSLatitude=31.5",
                  "-GPSLatitudeRef=N", "-GPSLongitude=35.5", "-GPSLongitudeRef=E", "-GPSAltitude=430",
                  "-GPSAltitudeRef#=1"],
                 {"taken_at": "2024-04-20T10:00:00+03:00", "taken_at_local": "2024-04-20T10:00:00",
                  "taken_at_offset": "+03:00", "taken_at_zone_source": "offset",
                  "gps": {"latitude": 31.5, "longitude": 35.5, "altitude": -430.0}}),
    "unknown_zone": (["-DateTimeOriginal=2024:06:01 12:00:00"],
                     {"taken_at": None, "taken_at_local": "2024-06-01T12:00:00", "taken_at_offset": None,
                      "taken_at_zone_source": "unknown"}),
    "described": (["-DateTimeOriginal=2023:11:11 11:11:11", "-OffsetTimeOriginal=+01:00", "-XMP:Rating=4",
                   "-XMP:Label=Red", "-XMP-dc:Title=Ночь над Невой", "-XMP-dc:Description=東京タワーの夜景 🌃",
                   "-XMP-dc:Creator=محمد الخوارزمي", "-XMP-dc:Rights=© 2023 Ḿaría Ñúñez",
                   "-XMP-photoshop:Credit=Agence Ω", "-XMP-photoshop:City=Zürich",
                   "-XMP-photoshop:State=ZH", "-XMP-photoshop:Country=Schweiz",
                   "-XMP-iptcCore:CountryCode=CH", "-XMP-iptcCore:Location=Altstadt",
                   "-XMP-lr:HierarchicalSubject=Places|Japan|Tokyo", "-XMP-lr:HierarchicalSubject=People|Anna",
                   "-XMP-dc:Subject=night", "-XMP-dc:Subject=Tokyo"],
                  {"taken_at": "2023-11-11T11:11:11+01:00", "taken_at_local": "2023-11-11T11:11:11",
                   "taken_at_offset": "+01:00", "taken_at_zone_source": "offset", "rating": 4, "label": "Red",
                   "title": "Ночь над Невой", "caption": "東京タワーの夜景 🌃", "creator": "محمد الخوارزمي",
                   "copyright": "© 2023 Ḿaría Ñúñez", "credit": "Agence Ω",
                   "location": {"sublocation": "Altstadt", "city": "Zürich", "state": "ZH",
                                "country": "Schweiz", "country_code": "CH"},
                   "keywords": ["night", "Tokyo", "Anna"], "keyword_paths": ["Places|Japan|Tokyo", "People|Anna"],
                   "sources": {"rating": "embedded", "label": "embedded", "title": "embedded",
                               "caption": "embedded", "creator": "embedded", "copyright": "embedded",
                               "credit": "embedded", "location": "embedded", "keywords": "embedded",
                               "keyword_paths": "embedded"}}),
    "rejected": (["-XMP:Rating=-1", "-IPTC:Caption-Abstract=iptc only", "-IPTC:By-line=Iptc Author"],
                 {"rating": -1, "caption": "iptc only", "creator": "Iptc Author",
                  "sources": {"rating": "embedded", "caption": "embedded", "creator": "embedded"}}),
    "no_metadata": ([], {}),
}
#: sub-second burst: three frames in one second keep their order and their milliseconds
BURST = {f"burst{i}": (["-DateTimeOriginal=2024:08:08 08:08:08", f"-SubSecTimeOriginal={ms}",
                        "-OffsetTimeOriginal=+02:00"],
                       {"taken_at": f"2024-08-08T08:08:08.{ms}000+02:00",
                        "taken_at_local": f"2024-08-08T08:08:08.{ms}000", "taken_at_offset": "+02:00",
                        "taken_at_zone_source": "offset"})
         for i, ms in enumerate(("040", "290", "905"))}
CASES |= BURST
EMPTY: dict[str, Any] = {
    "taken_at": None, "taken_at_local": None, "taken_at_offset": None, "taken_at_zone": None,
    "taken_at_zone_source": None, "gps": None, "rating": None, "label": None, "title": None, "caption": None,
    "creator": None, "copyright": None, "credit": None, "location": None, "keywords": [], "keyword_paths": [],
    "sources": {}, "hdr_gain_map": None, "lens": None,
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, final_store=f"file://{tmp_path / 'final'}")


def _photo(seed: int) -> bytes:
    im = Image.new("RGB", (64, 48), (seed * 37 % 256, seed * 91 % 256, seed * 53 % 256))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=90)
    return out.getvalue()


def write_cases(folder: Path, cases: dict[str, tuple[list[str], dict[str, Any]]]) -> dict[str, Path]:
    """Every case's file, tagged by one ExifTool process (one `-execute` per file)."""
    paths: dict[str, Path] = {}
    lines: list[str] = []
    for seed, (name, (tags, _)) in enumerate(cases.items()):
        path = folder / f"{name}.jpg"
        path.write_bytes(_photo(seed))
        paths[name] = path
        if tags:
            lines += ["-overwrite_original", "-charset", "iptc=utf8", "-codedcharacterset=utf8", *tags,
                      str(path), "-execute"]
    args = folder / "args.txt"
    args.write_text("\n".join(lines) + "\n", encoding="utf-8")
    subprocess.run(["exiftool", "-charset", "utf8", "-@", str(args)], check=True, capture_output=True, timeout=60)
    return paths


async def upload(server: UploadServer, path: Path, name: str | None = None) -> str:
    data = await asyncio.to_thread(path.read_bytes)
    async with server.client() as http:
        resp = await http.post("/v1/uploads", files={"file": (name or path.name, data, "image/jpeg")})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["uuid"])


async def ingest_and_read(server: UploadServer, pool: Any, uuids: list[str]) -> dict[str, dict[str, Any]]:
    """Wait for the previews, confirm them all, and read each Image back through the API."""
    async def previews_settled() -> bool:
        rows = await pool.fetch("SELECT preview_status FROM proxy_images WHERE uuid = ANY($1::uuid[])", uuids)
        return len(rows) == len(uuids) and all(r["preview_status"] in ("ready", "failed") for r in rows)

    await wait_until(previews_settled, 60, "the previews")
    async with server.client() as http:
        resp = await http.post("/v1/ingest", json={"uuids": uuids})
        assert resp.status_code in (200, 202), resp.text

        async def all_images() -> dict[str, dict[str, Any]] | None:
            items = (await http.get("/v1/images", params={"limit": 200})).json()["items"]
            return {i["proxy_uuid"]: i for i in items} if len(items) >= len(uuids) else None

        listed = await wait_until(all_images, 60, "every Image")
        return {u: (await http.get(f"/v1/images/{listed[u]['id']}")).json() for u in uuids}


def assert_fields(name: str, image: dict[str, Any], expected: dict[str, Any]) -> None:
    want = EMPTY | expected
    for field, value in want.items():
        got = image[field]
        if field == "gps" and value is not None:
            assert got is not None, name
            for key in ("latitude", "longitude"):
                assert got[key] == pytest.approx(value[key], abs=1e-6), (name, field, key)
            assert got.get("altitude") == value.get("altitude"), (name, "altitude")
        elif field == "location" and value is not None:
            assert {k: v for k, v in got.items() if v is not None} == value, name
        else:
            assert got == value, (name, field, got, value)


async def test_known_metadata_written_by_exiftool_is_every_field_of_the_image_through_the_api(
    tmp_path: Path, upload_server: UploadServer, preview_workers, finalize_workers, pool
):
    paths = write_cases(tmp_path, CASES)
    preview_workers.start()
    finalize_workers.start()
    uuids = await asyncio.gather(*(upload(upload_server, p) for p in paths.values()))
    by_name = dict(zip(paths, uuids, strict=True))
    images = await ingest_and_read(upload_server, pool, list(uuids))
    for name, (_, expected) in CASES.items():
        assert_fields(name, images[by_name[name]], expected)
    burst = sorted(BURST, key=lambda n: images[by_name[n]]["taken_at"])
    assert burst == list(BURST)  # the frames sort in the order they were shot

    # each read is traced with its reader, mode, timing and the fields it found
    traces = [json.loads(m.body) for m in await drain(upload_server.settings, upload_server.settings.queue_traces)]
    reads = {(t["service"], t["uuid"]): t for t in traces if t["trace_type"] == "metadata_extraction"}
    described = by_name["described"]
    upload_read, full_read = reads[("upload", described)], reads[("finalize", described)]
    assert upload_read["method"] == "exiftool-fast2" and full_read["method"] == "exiftool-full"
    assert full_read["success"] and full_read["duration_ms"] > 0 and full_read["result_size"] > 20
    assert {"taken_at", "rating", "caption", "keyword_paths", "location"} <= set(full_read["fields"])
    assert "gps" not in full_read["fields"] and "gps" in reads[("finalize", by_name["tokyo"])]["fields"]


#: photos whose embedded values a sidecar contradicts (or tries to)
SIDECAR_PHOTOS = {
    "IMG_1001": ["-XMP:Rating=2", "-XMP-dc:Description=embedded caption", "-XMP-dc:Title=embedded title",
                 "-XMP-dc:Creator=Embedded Author"],
    "IMG_1002": ["-XMP:Rating=1"],
    "IMG_1003": ["-XMP:Rating=3", "-XMP-dc:Description=kept caption"],
    "IMG_1004": ["-XMP:Rating=4"],
}
#: the sidecars: name -> tags (a new XMP file per name)
SIDECARS = {
    "IMG_1001": ["-XMP:Rating=5", "-XMP-dc:Title=Lightroom title", "-XMP-dc:Description=Lightroom caption",
                 "-XMP-lr:HierarchicalSubject=Trips|Iceland|Vik", "-XMP-dc:Subject=Vik"],
    "IMG_1002": ["-XMP:Rating=-1", "-XMP:Label=Purple"],
    "IMG_1003": ["-XMP:Rating=5", "-XMP-dc:Title=Put later"],
}


def write_sidecar_set(folder: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    """The photos and their sidecars, written by one ExifTool process."""
    photos: dict[str, Path] = {}
    lines: list[str] = []
    for seed, (name, tags) in enumerate(SIDECAR_PHOTOS.items(), start=100):
        photos[name] = folder / f"{name}.JPG"
        photos[name].write_bytes(_photo(seed))
        lines += ["-overwrite_original", *tags, str(photos[name]), "-execute"]
    sidecar_paths = {name: folder / f"{name}.xmp" for name in SIDECARS}
    for name, tags in SIDECARS.items():
        lines += [*tags, str(sidecar_paths[name]), "-execute"]
    (folder / "args.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    subprocess.run(["exiftool", "-charset", "utf8", "-@", str(folder / "args.txt")], check=True,
                   capture_output=True, timeout=60)
    return photos, sidecar_paths


async def test_a_sidecar_wins_over_the_embedded_values_and_is_kept_beside_the_original(
    tmp_path: Path, upload_server: UploadServer, preview_workers, finalize_workers, pool, settings
):
    photos, xmps = write_sidecar_set(tmp_path)
    preview_workers.start()
    finalize_workers.start()
    async with upload_server.client() as http:
        # IMG_1001's sidecar comes first and waits; the others follow their photos
        early = await http.post("/v1/sidecars", content=xmps["IMG_1001"].read_bytes(),
                                headers={"X-Filename": "IMG_1001.xmp"})
        assert early.status_code == 201 and early.json()["proxy_uuid"] is None, early.text
        assert early.json()["rating"] == 5 and early.json()["title"] == "Lightroom title"
        uuids = {name: await upload(upload_server, path) for name, path in photos.items()}
        late = await http.post("/v1/sidecars", content=xmps["IMG_1002"].read_bytes(),
                               headers={"X-Filename": "IMG_1002.xmp"})
        assert late.status_code == 201 and late.json()["proxy_uuid"] == uuids["IMG_1002"], late.text
        put = await http.put(f"/v1/proxies/{uuids['IMG_1003']}/sidecar", content=xmps["IMG_1003"].read_bytes())
        assert put.status_code == 200 and put.json()["proxy_uuid"] == uuids["IMG_1003"], put.text
        # malformed: refused with a problem, and IMG_1004 is ingested from its own values
        for body, why in ((b"<x:xmpmeta><rdf:RDF>", "not well-formed"),
                          (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>', "DTD"),
                          (b"<?xml version='1.0'?><note>plain XML</note>", "rdf:RDF")):
            bad = await http.put(f"/v1/proxies/{uuids['IMG_1004']}/sidecar", content=body)
            assert bad.status_code == 400, bad.text
            assert bad.headers["content-type"] == "application/problem+json"
            assert bad.json()["title"] == "Malformed XMP sidecar" and why in bad.json()["detail"]
        wrong = await http.post("/v1/uploads", files={"file": ("IMG_1001.xmp", xmps["IMG_1001"].read_bytes(),
                                                                "application/rdf+xml")})
        assert wrong.status_code == 415 and "/v1/sidecars" in wrong.json()["detail"]
    images = await ingest_and_read(upload_server, pool, list(uuids.values()))
    first, second, third, fourth = (images[uuids[n]] for n in SIDECAR_PHOTOS)
    assert (first["rating"], first["title"], first["caption"]) == (5, "Lightroom title", "Lightroom caption")
    assert first["creator"] == "Embedded Author"  # the sidecar says nothing of it: the file's stays
    assert first["keyword_paths"] == ["Trips|Iceland|Vik"] and first["keywords"] == ["Vik"]
    assert first["sources"] == {"rating": "sidecar", "title": "sidecar", "caption": "sidecar",
                                "creator": "embedded", "keywords": "sidecar", "keyword_paths": "sidecar"}
    assert (second["rating"], second["label"], second["sources"]["rating"]) == (-1, "Purple", "sidecar")
    assert (third["rating"], third["title"], third["caption"]) == (5, "Put later", "kept caption")
    assert fourth["rating"] == 4 and fourth["sidecar_path"] is None and fourth["sources"] == {"rating": "embedded"}
    final = upload_server.app.state.ctx.final_store
    for name in ("IMG_1001", "IMG_1002", "IMG_1003"):
        image = images[uuids[name]]
        assert image["sidecar_path"] == image["path"].rsplit(".", 1)[0] + ".xmp"
        assert await final.get_bytes(image["sidecar_path"]) == xmps[name].read_bytes()
    left = await pool.fetchval("SELECT count(*) FROM sidecars WHERE user_id = $1", f"alice-{settings.exchange}")
    assert left == 0  # held only until their Images were written


async def test_reindex_reads_the_originals_again_and_keeps_what_a_person_set(
    tmp_path: Path, upload_server: UploadServer, preview_workers, finalize_workers, pool, settings
):
    cases = {"described": CASES["described"], "dead_sea": CASES["dead_sea"]}
    paths = write_cases(tmp_path, cases)
    preview_workers.start()
    finalize_workers.start()
    uuids = {name: await upload(upload_server, path) for name, path in paths.items()}
    async with upload_server.client() as http:  # the photographer's own rating, while culling
        assert (await http.patch(f"/v1/proxies/{uuids['dead_sea']}", json={"rating": 2})).status_code == 200
    before = await ingest_and_read(upload_server, pool, list(uuids.values()))
    assert before[uuids["dead_sea"]]["rating"] == 2 and before[uuids["dead_sea"]]["sources"]["rating"] == "person"
    # Images written before the reader knew these fields
    ids = [before[u]["id"] for u in uuids.values()]
    await pool.execute(
        """UPDATE images SET rating = NULL, caption = NULL, title = NULL, keywords = '{}', keyword_paths = '{}',
                  taken_at = NULL, taken_at_local = NULL, taken_at_zone_source = NULL, location = NULL,
                  metadata = metadata - 'caption' - 'title'
           WHERE id = ANY($1::bigint[])""", ids)
    async with upload_server.client("tok-alice") as http:
        assert (await http.post("/v1/reindex", json={})).status_code == 403  # operators only
    async with upload_server.client("tok-oscar") as http:
        answer = await http.post("/v1/reindex", json={"user_id": f"alice-{settings.exchange}"})
        assert answer.status_code == 202 and answer.json()["queued"] == 2, answer.text

    async def reindexed() -> dict[str, Any] | None:
        async with upload_server.client() as http:
            got = {u: (await http.get(f"/v1/images/{before[u]['id']}")).json() for u in uuids.values()}
        return got if all(i["taken_at_local"] for i in got.values()) else None

    after = await wait_until(reindexed, 60, "the reindex")
    for name, uuid in uuids.items():
        expected = dict(cases[name][1])
        if name == "dead_sea":
            expected |= {"rating": 2, "sources": {"rating": "person"}}
        assert_fields(name, after[uuid], expected)
        assert after[uuid]["path"] == before[uuid]["path"] and after[uuid]["sha256"] == before[uuid]["sha256"]
