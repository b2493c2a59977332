"""File types come from the bytes: every corpus file, and hostile inputs."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from shared.filetype import HEAD_BYTES, detect, jpeg_dimensions
from tests.conftest import CORPUS


def corpus_rows() -> list[dict[str, str]]:
    if not (CORPUS / "MANIFEST.tsv").exists():
        return []
    with open(CORPUS / "MANIFEST.tsv", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


@pytest.mark.skipif(not corpus_rows(), reason="the photo corpus is not present beside the repo")
@pytest.mark.parametrize("row", corpus_rows(), ids=lambda r: r["path"])
def test_every_corpus_file_is_recognised_as_what_exiftool_says_it_is(row):
    head = (CORPUS / row["path"]).open("rb").read(HEAD_BYTES)
    found = detect(head)
    expected = row["format"].lower()
    assert found is not None, row["path"]
    if expected in ("heic", "heif"):
        assert found.format in ("heic", "heif")
    else:
        assert found.format == expected
    raw_formats = {"cr2", "cr3", "crw", "nef", "arw", "dng", "raf", "orf", "rw2", "pef",
                   "mrw", "x3f", "iiq", "srw"}
    assert found.is_raw == (expected in raw_formats)


@pytest.mark.parametrize("data", [
    b"",
    b"\xff\xd8",
    b"<!DOCTYPE html><html><body>not a photo</body></html>",
    b"just text that is named photo.jpg\n" * 10,
    b"\x00\x00\x00\x0cftyp" + b"zzzz",  # an unknown ISO-BMFF brand
    b"RIFF\x00\x00\x00\x00WAVEfmt ",
    b"BM" + b"\x00" * 40,
])
def test_garbage_and_lookalikes_are_not_photos(data):
    assert detect(data) is None


def test_random_bytes_never_raise():
    for _ in range(2000):
        detect(os.urandom(64))


@pytest.mark.parametrize("head", [
    b"II*\x00\xff\xff\xff\xff" + b"\x00" * 20,  # IFD0 past the head (scanners write it last)
    b"MM\x00*\x00\x00\x00\x08\xff\xff" + b"\x00" * 8,  # absurd entry count
])
def test_a_tiff_whose_directory_is_out_of_reach_is_still_a_tiff(head):
    # the preview step decodes it and fails it with a reason if it is broken
    found = detect(head)
    assert found is not None and found.format == "tiff"


def test_a_tiff_header_alone_is_a_plain_tiff_not_a_raw():
    head = b"II*\x00\x08\x00\x00\x00\x00\x00" + b"\x00" * 10
    found = detect(head)
    assert found is not None and found.format == "tiff" and not found.is_raw


def test_a_jpeg_named_nef_is_a_jpeg(tmp_path: Path):
    assert detect(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 20).format == "jpeg"  # type: ignore[union-attr]


@pytest.mark.parametrize("size", [(160, 120), (1, 1), (400, 250), (73, 1031)])
def test_jpeg_dimensions_are_read_from_the_frame_header(size):
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(buf, "JPEG", progressive=size[0] > 100, exif=b"Exif\0\0")
    assert jpeg_dimensions(buf.getvalue()) == size


@pytest.mark.parametrize("data", [b"", b"\xff\xd8", b"\xff\xd8\xff\xda\x00\x02", b"\x89PNG\r\n\x1a\n" + b"\0" * 30,
                                  b"\xff\xd8\xff\xe0\x00\x10" + b"\0" * 5,
                                  b"\xff\xd8\xff\xe0\x00\x01\xff\xc0" + b"\0" * 20])  # a broken length
def test_jpeg_dimensions_of_anything_without_a_frame_header_is_none(data):
    assert jpeg_dimensions(data) is None
