"""Metadata without ExifTool: the keys that matter, read with Pillow (named as ExifTool's `-n`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

_PIL_NAMES = {
    0x010F: "Make", 0x0110: "Model", 0x0112: "Orientation", 0x0131: "Software",
    0x0132: "ModifyDate", 0x9003: "DateTimeOriginal", 0x9004: "CreateDate",
    0x9011: "OffsetTimeOriginal", 0x9010: "OffsetTime", 0x829A: "ExposureTime",
    0x829D: "FNumber", 0x8827: "ISO", 0x920A: "FocalLength", 0xA434: "LensModel",
    0xA002: "ExifImageWidth", 0xA003: "ExifImageHeight",
}


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
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
    except Exception as exc:  # a broken file gives what could be read
        meta["_error"] = str(exc)[:200]
    if "DateTimeOriginal" in meta and isinstance(meta["DateTimeOriginal"], str):
        meta["DateTimeOriginal"] = meta["DateTimeOriginal"].strip("\x00 ")
    return meta


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


