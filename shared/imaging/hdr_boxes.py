"""HDR in box-structured files: HEIF/AVIF (ISOBMFF) and the JPEG XL container (see `shared.imaging.hdr`)."""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterator
from typing import Any

from shared.imaging.model import Hdr

APPLE_GAIN_MAP = b"urn:com:apple:photo:2020:aux:hdrgainmap"
#: nclx transfer characteristics (ITU-T H.273) that mean an HDR picture
HDR_TRANSFER = {16: "pq", 18: "hlg"}


def boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, bytes]]:
    """(type, payload) of the ISOBMFF boxes in `data[start:end]` (a box cut off by the end is skipped)."""
    end = len(data) if end is None else end
    i = start
    while i + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, i)
        header = 8
        if size == 1:
            size, header = struct.unpack_from(">Q", data, i + 8)[0], 16
        elif size == 0:
            size = end - i
        if size < header or i + size > end:
            return
        yield kind, data[i + header:i + size]
        i += size


def heif(head: bytes, exif: Callable[[], bytes | None]) -> Hdr | None:
    """The HDR a HEIF/AVIF's `meta` box declares; `exif` is read only for an Apple gain map."""
    meta = next((payload for kind, payload in boxes(head) if kind == b"meta"), None)
    if meta is None:
        return None
    children = dict(boxes(meta, 4))  # a full box: version and flags first
    properties = list(boxes(children.get(b"iprp", b"")))
    ipco = next((payload for kind, payload in properties if kind == b"ipco"), b"")
    transfer = None
    for kind, payload in boxes(ipco):
        if kind == b"auxC" and payload[4:].split(b"\0", 1)[0] == APPLE_GAIN_MAP:
            block = exif()
            return Hdr("apple-gain-map", apple_headroom(block) if block else None)
        if kind == b"colr" and payload[:4] == b"nclx" and len(payload) >= 10:
            transfer = HDR_TRANSFER.get(struct.unpack_from(">H", payload, 6)[0], transfer)
    if b"tmap" in _item_types(children.get(b"iinf", b"")):
        return Hdr("iso-21496-1")
    return Hdr(transfer) if transfer else None


def _item_types(iinf: bytes) -> set[bytes]:
    if len(iinf) < 6:
        return set()
    start = 6 if iinf[0] == 0 else 8  # version 0: a 16-bit entry count, else 32-bit
    found = set()
    for kind, payload in boxes(iinf, start):
        if kind == b"infe" and payload[0] >= 2:
            at = 4 + (2 if payload[0] == 2 else 4) + 2
            found.add(payload[at:at + 4])
    return found


def jxl(fh: Any) -> Hdr | None:
    """A `jhgm` box in the JPEG XL container: its ISO 21496-1 metadata follows a version byte and
    a 16-bit length. Only box headers are read on the way."""
    from shared.imaging.hdr import iso_headroom

    offset = 0
    while True:
        fh.seek(offset)
        header = fh.read(16)
        if len(header) < 8:
            return None
        size, kind = struct.unpack_from(">I4s", header, 0)
        length = 8
        if size == 1:
            size, length = struct.unpack_from(">Q", header, 8)[0], 16
        if kind == b"jhgm":
            body = fh.read(min(size - length, 64 * 1024)) if size else fh.read(64 * 1024)
            body = header[length:] + body
            meta_size = struct.unpack_from(">H", body, 1)[0] if len(body) >= 3 else 0
            headroom = iso_headroom(body[3:3 + meta_size])
            return Hdr("iso-21496-1", round(headroom, 3) if headroom is not None else None)
        if size == 0 or size < length:
            return None
        offset += size


def apple_headroom(exif: bytes) -> float | None:
    """Stops of headroom from an iPhone's maker note (tags 0x21 HDRHeadroom and 0x30 HDRGain),
    by Apple's published formula for its HDR gain maps."""
    values = _apple_maker_values(exif, {0x21, 0x30})
    if 0x21 not in values or 0x30 not in values:
        return None
    headroom, gain = values[0x21], values[0x30]
    if headroom < 1.0:
        stops = -20.0 * gain + 1.8 if gain <= 0.01 else -0.101 * gain + 1.601
    else:
        stops = -70.0 * gain + 3.0 if gain <= 0.01 else -0.303 * gain + 2.303
    return round(max(stops, 0.0), 3) if math.isfinite(stops) else None


def _apple_maker_values(exif: bytes, wanted: set[int]) -> dict[int, float]:
    tiff = exif[6:] if exif.startswith(b"Exif\0\0") else exif
    endian = "<" if tiff[:2] == b"II" else ">"
    exif_ifd = _entries(tiff, endian, struct.unpack_from(endian + "I", tiff, 4)[0]).get(0x8769)
    if exif_ifd is None:
        return {}
    note = _entries(tiff, endian, exif_ifd[2]).get(0x927C)
    if note is None:
        return {}
    start = note[2]
    if tiff[start:start + 10] != b"Apple iOS\0":
        return {}
    body = tiff[start:start + note[1]]
    note_endian = "<" if body[12:14] == b"II" else ">"
    out: dict[int, float] = {}
    for tag, (kind, _, value) in _entries(body, note_endian, 14).items():
        if tag in wanted and kind in (5, 10) and value + 8 <= len(body):
            num, den = struct.unpack_from(note_endian + ("ii" if kind == 10 else "II"), body, value)
            if den:
                out[tag] = num / den
    return out


def _entries(data: bytes, endian: str, offset: int) -> dict[int, tuple[int, int, int]]:
    """tag -> (type, count, value or offset) of one TIFF IFD."""
    (count,) = struct.unpack_from(endian + "H", data, offset)
    out = {}
    for n in range(min(count, 500)):
        tag, kind, number, value = struct.unpack_from(endian + "HHII", data, offset + 2 + 12 * n)
        out[tag] = (kind, number, value)
    return out
