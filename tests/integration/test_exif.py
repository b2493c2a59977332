"""The ExifTool adapter against the real ExifTool, and the Pillow fallback."""

from __future__ import annotations

import csv
import shutil
import stat
import time
from pathlib import Path

import pytest

from shared.exif import (
    AsyncExifTool,
    ExifTool,
    ExifToolError,
    ReadMode,
    camera_name,
    embedded_previews,
    normalize,
    read_with_pillow,
    summarize,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tool():
    t = ExifTool(timeout=30)
    yield t
    t.close()


def test_every_corpus_file_reads_and_summarizes_without_raising(tool, corpus: Path):
    with open(corpus / "MANIFEST.tsv", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    started = time.monotonic()
    for row in rows:
        meta = tool.read(corpus / row["path"], mode=ReadMode.FULL)
        summary = summarize(meta)
        summarize(tool.read(corpus / row["path"], mode=ReadMode.FAST2))
        if row["make_model"] != "-" and " / " in row["make_model"]:
            make = row["make_model"].split(" / ")[0]
            assert summary["camera_make"] == make, row["path"]
        normalize(meta)
    # one persistent process: the whole corpus in a few seconds, not one process per file
    assert time.monotonic() - started < 30


def test_a_raw_lists_its_embedded_previews_and_they_extract_as_jpeg(tool, corpus: Path):
    path = corpus / "raw/canon-r6.cr3"
    found = dict(embedded_previews(tool.read(path, mode=ReadMode.FULL)))
    assert set(found) >= {"PreviewImage", "ThumbnailImage"}
    blob = tool.extract_binary(path, "PreviewImage")
    assert blob[:3] == b"\xff\xd8\xff" and len(blob) == found["PreviewImage"]


def test_a_name_starting_with_a_dash_is_a_file_not_an_option(tool, corpus: Path, tmp_path: Path):
    hostile = tmp_path / "-ver"
    shutil.copy(corpus / "jpeg/Canon_40D.jpg", hostile)
    assert tool.read(hostile)["Model"] == "Canon EOS 40D"


def test_a_path_with_a_line_break_is_refused(tool, tmp_path: Path):
    with pytest.raises(ExifToolError):
        tool.read(tmp_path / "a\n-ver")


def test_a_hung_exiftool_is_killed_and_the_next_call_works(tmp_path: Path, corpus: Path):
    slow = tmp_path / "exiftool-hangs"
    slow.write_text("#!/bin/sh\nexec sleep 60\n")
    slow.chmod(slow.stat().st_mode | stat.S_IEXEC)
    hung = ExifTool(binary=str(slow), timeout=1)
    started = time.monotonic()
    with pytest.raises(ExifToolError):
        hung.read(corpus / "jpeg/Canon_40D.jpg")
    assert time.monotonic() - started < 10
    hung.binary = shutil.which("exiftool") or "exiftool"
    assert hung.read(corpus / "jpeg/Canon_40D.jpg")["Make"] == "Canon"
    hung.close()


async def test_without_exiftool_the_pillow_fallback_answers(corpus: Path):
    tool = AsyncExifTool(binary="/nonexistent/exiftool")
    meta = await tool.read(corpus / "jpeg/Canon_40D.jpg")
    assert meta["_reader"] == "pillow"
    assert summarize(meta)["camera_model"] == "Canon EOS 40D"
    thumb = await tool.extract_binary(corpus / "jpeg/Canon_40D.jpg", "ThumbnailImage")
    assert thumb is not None and thumb[:2] == b"\xff\xd8"
    await tool.close()


@pytest.mark.parametrize("name", ["Canon_40D.jpg", "DSCN0010.jpg", "Samsung SM-J327T1.jpg", "Apple iPhone 4.jpg"])
def test_pillow_reads_the_same_key_values_as_exiftool(tool, corpus: Path, name: str):
    path = corpus / "jpeg" / name
    ours, theirs = read_with_pillow(path), tool.read(path)
    for key in ("Make", "Model", "Orientation", "DateTimeOriginal"):
        if key in theirs:
            assert str(ours.get(key)).strip() == str(theirs[key]).strip(), key
    if "GPSLatitude" in theirs:
        assert abs(ours["GPSLatitude"] - theirs["GPSLatitude"]) < 1e-4


def test_a_broken_file_gives_what_pillow_could_read_not_an_exception(tmp_path: Path):
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"\xff\xd8\xff" + b"\x00" * 100)
    assert "_error" in read_with_pillow(junk)


@pytest.mark.parametrize("make,model,expected", [
    ("Canon", "Canon EOS R5", "Canon EOS R5"),
    ("NIKON CORPORATION", "NIKON D300", "NIKON D300"),
    ("Apple", "iPhone 4", "Apple iPhone 4"),
    (None, None, None),
    ("", "X100V", "X100V"),
    ("Evil\x00\x1b[31m", "Cam\u202e", "Evil[31m Cam"),
])
def test_camera_names_join_make_and_model_without_repeating_the_make(make, model, expected):
    assert camera_name(make, model) == expected


def test_hostile_exif_values_are_cleaned_and_never_raise():
    meta = {"Make": "A" * 5000, "Model": "\x00\x01", "DateTimeOriginal": "0000:00:00 00:00:00",
            "FNumber": "nan", "ISO": -5, "GPSLatitude": 999, "GPSLongitude": 1,
            "Keywords": ["ok", "ok", "\x07bad"], "ExposureTime": "1/0", "Orientation": 42}
    out = normalize(meta)
    assert len(out["camera_make"]) <= 64 and out["camera_model"] is None
    assert out["taken_at"] is None and out["f_number"] is None and out["iso"] is None
    assert out["gps"] is None and out["exposure_time"] is None and out["orientation"] is None
    assert out["keywords"] == ["ok", "bad"]


def test_taken_at_keeps_the_cameras_time_zone():
    out = normalize({"DateTimeOriginal": "2025:01:17 10:20:30", "OffsetTimeOriginal": "+02:00"})
    assert out["taken_at"] == "2025-01-17T10:20:30+02:00" and out["taken_at_offset"] == "+02:00"


def test_all_embedded_images_in_one_call_are_the_bytes_of_one_call_each(tool, corpus: Path):
    """The RAW path asks for every listed preview at once and splits by the declared lengths."""
    checked = 0
    for path in sorted((corpus / "raw").glob("*")):
        if not path.is_file():
            continue
        listed = [(tag, n) for tag, n in embedded_previews(tool.read(path, mode=ReadMode.FULL)) if n > 0]
        if len(listed) < 2:
            continue
        together = tool.extract_all(path, listed)
        assert together is not None, path.name
        for tag, _ in listed:
            assert together[tag] == tool.extract_binary(path, tag), (path.name, tag)
        checked += 1
    assert checked >= 2  # the CR3s list a preview and a thumbnail


def test_a_declared_length_that_lies_gives_nothing_and_reads_no_further(tool, corpus: Path):
    path = corpus / "raw" / "canon-r6.cr3"
    listed = [(tag, n) for tag, n in embedded_previews(tool.read(path, mode=ReadMode.FULL)) if n > 0]
    assert len(listed) >= 2
    short = [(tag, n - 1) for tag, n in listed]  # the file holds more than declared: refused
    assert tool.extract_all(path, short) is None
    longer = [(tag, n + 10) for tag, n in listed]  # less than declared: refused
    assert tool.extract_all(path, longer) is None
    with pytest.raises(ValueError):
        tool.extract_all(path, [("Preview;rm", 10)])
