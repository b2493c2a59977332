"""Metadata without ExifTool: the keys that matter, read with Pillow, named as ExifTool's read names them.

As in `shared.exif.tags`: numeric values for the numeric tags, dates as the
MWG composite gives them (sub-seconds and offset joined to DateTimeOriginal),
EXIF's ImageDescription/Artist under the MWG's Description/Creator.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

_PIL_NAMES = {
    0x010F: "Make", 0x0110: "Model", 0x0112: "Orientation", 0x0131: "Software",
    0x0132: "ModifyDate", 0x9003: "DateTimeOriginal", 0x9004: "CreateDate",
    0x9011: "OffsetTimeOriginal", 0x9010: "OffsetTime", 0x829A: "ExposureTime",
    0x829D: "FNumber", 0x8827: "ISO", 0x920A: "FocalLength", 0xA434: "LensModel",
    0xA002: "ExifImageWidth", 0xA003: "ExifImageHeight", 0x9291: "SubSecTimeOriginal",
    0x010E: "Description", 0x013B: "Creator", 0x8298: "Copyright", 0xA420: "ImageUniqueID",
    0x4746: "Rating",
}


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str):  # text stays text ("00" sub-seconds, "+02:00")
        return value
    try:
        f = float(value)
    except (TypeError, ValueError):
        return value
    if isinstance(value, int):
        return value
    return f if math.isfinite(f) else None


def _dms(values: Any, ref: Any) -> float | None:
    try:
        d, m, s = (float(v) for v in values)
    except (TypeError, ValueError):
        return None
    sign = -1 if str(ref).upper() in ("S", "W") else 1
    value = sign * (d + m / 60 + s / 3600)
    return value if math.isfinite(value) else None


def read_with_pillow(path: Path) -> dict[str, Any]:
    """The fallback reader: the keys that matter, named as ExifTool's `-n` output."""
    from PIL import Image

    meta: dict[str, Any] = {}
    try:
        with Image.open(path) as im:
            meta["ImageWidth"], meta["ImageHeight"] = im.size
            meta["FileType"] = (im.format or "").upper()
            exif = im.getexif()
            for tag, name in _PIL_NAMES.items():
                if tag in exif:
                    meta[name] = _plain(exif[tag])
            try:
                sub = exif.get_ifd(0x8769)
            except Exception:
                sub = {}
            for tag, name in _PIL_NAMES.items():
                if tag in sub:
                    meta[name] = _plain(sub[tag])
            try:
                gps = exif.get_ifd(0x8825)
            except Exception:
                gps = {}
            if gps:
                lat = _dms(gps.get(2), gps.get(1))
                lon = _dms(gps.get(4), gps.get(3))
                if lat is not None and lon is not None:
                    meta["GPSLatitude"], meta["GPSLongitude"] = lat, lon
                altitude = _plain(gps.get(6))
                if isinstance(altitude, float):  # signed, as ExifTool's composite
                    meta["GPSAltitude"] = -altitude if _plain(gps.get(5)) == 1 else altitude
    except Exception as exc:  # a broken file gives what could be read
        meta["_error"] = str(exc)[:200]
    _join_date(meta)
    return meta


def _join_date(meta: dict[str, Any]) -> None:
    """DateTimeOriginal with its sub-seconds and offset, as the MWG composite writes it."""
    date = meta.get("DateTimeOriginal")
    if not isinstance(date, str):
        return
    date = date.strip("\x00 ")
    subsec = str(meta.get("SubSecTimeOriginal") or "").strip("\x00 ")
    if subsec.isdigit():
        date += "." + subsec
    offset = meta.get("OffsetTimeOriginal")
    if isinstance(offset, str) and offset.strip("\x00 "):
        date += offset.strip("\x00 ")
    meta["DateTimeOriginal"] = date


def pillow_thumbnail(path: Path) -> bytes | None:
    """The EXIF IFD1 thumbnail of a JPEG, without ExifTool (Pillow finds the EXIF block)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            raw = im.info.get("exif", b"")
    except Exception:
        return None
    return _ifd1_jpeg(raw[6:] if raw[:6] == b"Exif\x00\x00" else raw)


def _ifd1_jpeg(tiff: bytes) -> bytes | None:
    """JPEGInterchangeFormat/Length of IFD1 in a TIFF-structured EXIF block."""
    import struct

    try:
        endian = {b"II": "<", b"MM": ">"}[tiff[:2]]
        ifd0 = struct.unpack_from(endian + "I", tiff, 4)[0]
        count = struct.unpack_from(endian + "H", tiff, ifd0)[0]
        ifd1 = struct.unpack_from(endian + "I", tiff, ifd0 + 2 + 12 * count)[0]
        if not ifd1:
            return None
        entries: dict[int, int] = {}
        for i in range(struct.unpack_from(endian + "H", tiff, ifd1)[0]):
            tag, _, _, value = struct.unpack_from(endian + "HHII", tiff, ifd1 + 2 + 12 * i)
            entries[tag] = value
        start, length = entries.get(0x0201), entries.get(0x0202)
        if not start or not length:
            return None
        data = tiff[start:start + length]
    except (KeyError, struct.error, IndexError):
        return None
    return data if data[:2] == b"\xff\xd8" else None


