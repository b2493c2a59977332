"""The upload cuts a JPEG's EXIF thumbnail out of the spooled bytes at the offset ExifTool's
fast read reports, instead of a second ExifTool call: same bytes as ExifTool's own `-b`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from services.upload.intake import Spool
from services.upload.upload import _thumbnail_at_offset
from shared.exif import ExifTool, ReadMode

pytestmark = pytest.mark.integration


def spooled(path: Path, into: Path) -> Spool:
    data = path.read_bytes()

    async def go() -> Spool:
        spool = Spool(into, 1 << 30)
        for i in range(0, len(data), 65536):
            spool.write(data[i:i + 65536])
            await spool.drain()
        await spool.finish()
        return spool

    return asyncio.run(go())


def test_the_thumbnail_at_the_reported_offset_is_the_one_exiftool_extracts(corpus: Path, tmp_path: Path):
    tool = ExifTool()
    matched = 0
    try:
        for path in sorted((corpus / "jpeg").glob("*.jp*g")):
            spool = spooled(path, tmp_path / "spool")
            meta = tool.read(spool.path, mode=ReadMode.FAST2)
            expected = tool.extract_binary(spool.path, "ThumbnailImage") if "ThumbnailImage" in meta else None
            sliced = _thumbnail_at_offset(spool, meta)
            if sliced is not None:
                assert sliced == expected, path.name
                matched += 1
            elif "ThumbnailOffset" in meta and expected and expected[:3] == b"\xff\xd8\xff":
                pytest.fail(f"{path.name}: ExifTool has a thumbnail the offset did not give")
            # else (a JFXX thumbnail in JFIF, no offset reported): the upload asks ExifTool
    finally:
        tool.close()
    assert matched >= 20


def test_an_offset_past_the_bytes_or_not_a_jpeg_gives_nothing(tmp_path: Path):
    source = tmp_path / "x.bin"
    source.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 100)
    spool = spooled(source, tmp_path / "spool")
    assert _thumbnail_at_offset(spool, {"ThumbnailOffset": 0, "ThumbnailLength": 50}) == bytes(spool.head[:50])
    assert _thumbnail_at_offset(spool, {"ThumbnailOffset": 90, "ThumbnailLength": 50}) is None
    assert _thumbnail_at_offset(spool, {"ThumbnailOffset": 4, "ThumbnailLength": 50}) is None
    assert _thumbnail_at_offset(spool, {"ThumbnailOffset": "4", "ThumbnailLength": 50}) is None
    assert _thumbnail_at_offset(spool, {}) is None
