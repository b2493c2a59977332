"""Whether an original holds HDR beyond its SDR picture, and how much (headroom in stops).

Read from the file's structure, nothing decoded:
- JPEG: Ultra HDR (XMP `hdrgm:Version` in the primary image; the gain map is
  the second MPF image, whose XMP says `hdrgm:HDRCapacityMax`) and ISO 21496-1
  (an APP2 `urn:iso:std:iso:ts:21496:-1` segment; the gain map image's one
  holds the binary metadata with the alternate headroom).
- HEIF/AVIF (`shared.imaging.hdr_boxes`): an Apple HDR gain map (auxiliary
  image `urn:com:apple:photo:2020:aux:hdrgainmap`; headroom from the maker
  note's HDRHeadroom and HDRGain, Apple's published formula), an ISO 21496-1
  `tmap` item, or a PQ / HLG transfer in the `colr` box.
- JPEG XL: a `jhgm` gain map box (ISO 21496-1 metadata inside).
The SDR rendition is what every path renders; the gain map is not carried
into previews (docs/preview.md, "HDR").
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

from shared.imaging import hdr_boxes
from shared.imaging.model import Hdr

XMP_SIG = b"http://ns.adobe.com/xap/1.0/\0"
ISO_SIG = b"urn:iso:std:iso:ts:21496:-1\0"
HEAD = 256 * 1024  # a primary image's APP segments and a HEIF's meta box are in the first bytes
_CAPACITY = re.compile(rb'hdrgm:HDRCapacityMax\s*(?:=\s*"|>)\s*([-+0-9.eE]+)')


def detect(path: Path) -> Hdr | None:
    """The HDR an original carries, or None; never raises on odd data (that is not HDR)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEAD)
            if head[:2] == b"\xff\xd8":
                return _jpeg(fh, head)
            if head[4:8] == b"ftyp":
                return hdr_boxes.heif(head, lambda: _exif(path))
            if head[:12] == b"\x00\x00\x00\x0cJXL \r\n\x87\n":
                return hdr_boxes.jxl(fh)
    except (OSError, struct.error, ValueError, IndexError):
        return None
    return None


def _exif(path: Path) -> bytes | None:
    """The EXIF block libvips reads from a HEIF (where an iPhone's maker note states its headroom)."""
    import pyvips

    try:
        head = pyvips.Image.new_from_file(str(path), access="sequential")
        return bytes(head.get("exif-data")) if "exif-data" in head.get_fields() else None
    except pyvips.Error:
        return None


def segments(data: bytes, start: int = 0) -> list[tuple[int, int, bytes]]:
    """(marker, offset of the payload, payload) of a JPEG's segments up to its scan."""
    out: list[tuple[int, int, bytes]] = []
    i = start + 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker == 0xDA or marker == 0xD9:
            break
        length = int.from_bytes(data[i + 2:i + 4], "big")
        out.append((marker, i + 4, data[i + 4:i + 2 + length]))
        i += 2 + length
    return out


def _jpeg(fh: object, head: bytes) -> Hdr | None:
    ultra = iso = False
    second: int | None = None
    for marker, offset, payload in segments(head):
        if marker == 0xE1 and payload.startswith(XMP_SIG) and b"hdrgm:Version" in payload:
            ultra = True
        elif marker == 0xE2 and payload.startswith(ISO_SIG):
            iso = True
        elif marker == 0xE2 and payload.startswith(b"MPF\0"):
            second = _second_image(payload[4:], offset + 4)
    if not (ultra or iso):
        return None
    kind = "iso-21496-1" if iso else "ultra-hdr"
    if second is None:
        return Hdr(kind)
    fh.seek(second)  # type: ignore[attr-defined]
    gain_map = fh.read(256 * 1024)  # type: ignore[attr-defined]
    if gain_map[:2] != b"\xff\xd8":
        return Hdr(kind)
    headroom = None
    for marker, _, payload in segments(gain_map):
        if marker == 0xE2 and payload.startswith(ISO_SIG):
            headroom = iso_headroom(payload[len(ISO_SIG):]) or headroom
        elif marker == 0xE1 and payload.startswith(XMP_SIG) and headroom is None:
            found = _CAPACITY.search(payload)
            headroom = float(found.group(1)) if found else None
    return Hdr(kind, round(headroom, 3) if headroom is not None else None)


def _second_image(mpf: bytes, base: int) -> int | None:
    """The file offset of the second image an MPF index lists (offsets count from its TIFF header)."""
    endian = "<" if mpf[:2] == b"II" else ">"
    (ifd,) = struct.unpack_from(endian + "I", mpf, 4)
    (count,) = struct.unpack_from(endian + "H", mpf, ifd)
    for n in range(count):
        tag, _, size, value = struct.unpack_from(endian + "HHII", mpf, ifd + 2 + 12 * n)
        if tag == 0xB002 and size >= 32:
            _, _, offset, _, _ = struct.unpack_from(endian + "IIIHH", mpf, value + 16)
            return base + offset if offset else None
    return None


def iso_headroom(data: bytes) -> float | None:
    """The HDR headroom (stops) in ISO 21496-1 gain map metadata: the larger of the base and the
    alternate rendition's (an SDR base has 0). None for the version-only stub of a primary image."""
    if len(data) < 5:
        return None
    minimum, _writer, flags = struct.unpack_from(">HHB", data, 0)
    if minimum != 0:
        return None
    if flags & 0x08:  # one common denominator for every fraction
        if len(data) < 17:
            return None
        denominator, base, alternate = struct.unpack_from(">III", data, 5)
        return max(base, alternate) / denominator if denominator else None
    if len(data) < 21:
        return None
    base_n, base_d, alt_n, alt_d = struct.unpack_from(">IIII", data, 5)
    values = [n / d for n, d in ((base_n, base_d), (alt_n, alt_d)) if d]
    return max(values) if values else None
