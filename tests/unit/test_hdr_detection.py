"""HDR detection from file structure (`shared.imaging.hdr`): gain-map metadata, boxes, maker notes.

The corpus's real files (an Ultra HDR JPEG, an iPhone HDR HEIC) go through
the pipeline in tests/integration/test_colour_pipeline.py; here the parsers
meet hand-made structures, including the cases no corpus file has.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from shared.filetype import JXL, detect
from shared.imaging import hdr, hdr_boxes
from tests.conftest import CORPUS


def iso_metadata(base: float, alternate: float, common: bool) -> bytes:
    """ISO 21496-1 gain map metadata (version 0, one channel) with the given headrooms (stops)."""
    if common:
        d = 1 << 16
        channel = struct.pack(">iiIii", 0, int(2.5 * d), d, 0, 0)
        return struct.pack(">HHBIII", 0, 0, 0x08, d, int(base * d), int(alternate * d)) + channel
    channel = struct.pack(">iIiIIIiIiI", 0, 1, 5, 2, 1, 1, 0, 1, 0, 1)
    return struct.pack(">HHBIIII", 0, 0, 0, int(base * 1000), 1000, int(alternate * 1000), 1000) + channel


@pytest.mark.parametrize("common", [True, False])
def test_iso_headroom_in_either_fraction_layout(common):
    assert hdr.iso_headroom(iso_metadata(0.0, 3.25, common)) == pytest.approx(3.25)
    assert hdr.iso_headroom(iso_metadata(2.0, 0.0, common)) == pytest.approx(2.0)  # an HDR base


def test_a_version_stub_or_a_newer_minimum_version_has_no_headroom():
    assert hdr.iso_headroom(struct.pack(">HH", 0, 0)) is None
    assert hdr.iso_headroom(struct.pack(">HHB", 1, 0, 0) + b"\0" * 40) is None


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def test_a_jpeg_xl_gain_map_box_is_found_past_other_boxes(tmp_path: Path):
    meta = iso_metadata(0.0, 2.5, True)
    data = (b"\x00\x00\x00\x0cJXL \r\n\x87\n" + box(b"ftyp", b"jxl \0\0\0\0jxl ")
            + box(b"jxll", b"\x05") + box(b"jhgm", b"\0" + struct.pack(">H", len(meta)) + meta)
            + box(b"jxlc", b"\xff\x0a" + b"\0" * 64))
    path = tmp_path / "gain.jxl"
    path.write_bytes(data)
    assert detect(data[:64]) == JXL
    assert hdr.detect(path) == hdr.Hdr("iso-21496-1", 2.5)


def test_jpeg_xl_is_detected_bare_or_in_its_container():
    assert detect(b"\xff\x0a" + b"\0" * 30) == JXL
    assert detect(b"\x00\x00\x00\x0cJXL \r\n\x87\n" + b"\0" * 20) == JXL


def heif(ipco: bytes, items: bytes = b"") -> bytes:
    meta = b"\0\0\0\0" + box(b"hdlr", b"\0" * 24) + box(b"iinf", items) + box(b"iprp", box(b"ipco", ipco))
    return box(b"ftyp", b"heic\0\0\0\0mif1heic") + box(b"meta", meta)


def test_heif_hdr_transfers_and_tmap_items(tmp_path: Path):
    nclx = box(b"colr", b"nclx" + struct.pack(">HHHB", 9, 16, 9, 0x80))
    (tmp_path / "pq.avif").write_bytes(heif(nclx))
    assert hdr.detect(tmp_path / "pq.avif") == hdr.Hdr("pq")
    infe = box(b"infe", bytes([2, 0, 0, 0]) + struct.pack(">HH", 7, 0) + b"tmap" + b"\0")
    (tmp_path / "tmap.heic").write_bytes(heif(b"", struct.pack(">I", 0) + struct.pack(">H", 1) + infe))
    assert hdr.detect(tmp_path / "tmap.heic") == hdr.Hdr("iso-21496-1")
    sdr = box(b"colr", b"nclx" + struct.pack(">HHHB", 1, 13, 6, 0x80))
    (tmp_path / "sdr.heic").write_bytes(heif(sdr))
    assert hdr.detect(tmp_path / "sdr.heic") is None


@pytest.mark.parametrize(("headroom", "gain", "stops"), [
    (0.8432, 0.00802, 1.64), (0.5, 0.2, 1.581), (1.2, 0.005, 2.65), (1.5, 0.5, 2.152)])
def test_apples_formula_for_its_gain_map_headroom(headroom, gain, stops):
    note = b"Apple iOS\0" + b"\0\x01MM" + struct.pack(">H", 2)
    entries_end = len(note) + 2 * 12 + 4
    note += struct.pack(">HHII", 0x21, 10, 1, entries_end) + struct.pack(">HHII", 0x30, 10, 1, entries_end + 8)
    note += b"\0\0\0\0" + struct.pack(">ii", int(headroom * 1e6), 1_000_000) + struct.pack(
        ">ii", int(gain * 1e6), 1_000_000)
    ifd0 = 8
    exif_ifd = ifd0 + 2 + 12 + 4
    note_at = exif_ifd + 2 + 12 + 4
    tiff = (b"MM\0*" + struct.pack(">I", ifd0) + struct.pack(">HHHII", 1, 0x8769, 4, 1, exif_ifd) + b"\0" * 4
            + struct.pack(">HHHII", 1, 0x927C, 7, len(note), note_at) + b"\0" * 4 + note)
    assert hdr_boxes.apple_headroom(b"Exif\0\0" + tiff) == pytest.approx(stops, abs=0.002)


def test_plain_and_odd_files_have_no_hdr(tmp_path: Path):
    assert hdr.detect(CORPUS / "jpeg/jolla.jpg") is None
    assert hdr.detect(CORPUS / "other/IMG_2682.heic") is None  # an iPhone 7 "HDR" photo: no gain map
    (tmp_path / "junk.jpg").write_bytes(b"\xff\xd8\xff\xe2\x00\x10MPF\0MM\0*\xff\xff\xff\xff")
    assert hdr.detect(tmp_path / "junk.jpg") is None


def app(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def test_an_iso_21496_jpeg_states_its_headroom_in_the_gain_map_image(tmp_path: Path):
    """Primary image: a version-only ISO segment and an MPF index; the second image (the gain map)
    carries the full metadata."""
    import pyvips

    primary = pyvips.Image.black(64, 48, bands=3).jpegsave_buffer(strip=True)
    gain_map = pyvips.Image.black(32, 24).jpegsave_buffer(strip=True)
    gain_map = gain_map[:2] + app(0xE2, hdr.ISO_SIG + iso_metadata(0.0, 3.0, False)) + gain_map[2:]
    iso_stub = app(0xE2, hdr.ISO_SIG + struct.pack(">HH", 0, 0))

    def mpf(second_at: int) -> bytes:
        index = struct.pack(">HHHII", 1, 0xB002, 7, 32, 26) + b"\0\0\0\0"
        entries = struct.pack(">IIIHH", 0x030000, 0, 0, 0, 0) + struct.pack(">IIIHH", 0, len(gain_map),
                                                                              second_at, 0, 0)
        return app(0xE2, b"MPF\0" + b"MM\0*" + struct.pack(">I", 8) + index + entries)

    tiff_at = 2 + len(iso_stub) + 4 + 4  # SOI, the ISO segment, the MPF segment's marker+length, "MPF\0"
    head = primary[:2] + iso_stub + mpf(0)
    whole_primary = head + primary[2:]
    data = primary[:2] + iso_stub + mpf(len(whole_primary) - tiff_at) + primary[2:] + gain_map
    path = tmp_path / "iso.jpg"
    path.write_bytes(data)
    assert hdr.detect(path) == hdr.Hdr("iso-21496-1", 3.0)
    assert pyvips.Image.new_from_file(str(path)).width == 64  # still an ordinary JPEG
