"""Normalizing untrusted metadata values: never raise, strip control characters, cap lengths."""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

EMBEDDED_TAGS = ("PreviewImage", "JpgFromRaw", "ThumbnailImage", "OtherImage")
_LENGTH_TAGS = {
    "PreviewImage": ("PreviewImageLength",),
    "JpgFromRaw": ("JpgFromRawLength",),
    "ThumbnailImage": ("ThumbnailLength",),
    "OtherImage": ("OtherImageLength",),
}
_BINARY_RE = re.compile(r"\(Binary data (\d+) bytes")
MAX_TEXT = 200


# ---- normalizing untrusted values -------------------------------------------------

def clean_text(value: Any, limit: int = MAX_TEXT) -> str | None:
    if value is None:
        return None
    text = unicodedata.normalize("NFC", str(value))
    text = "".join(c for c in text if unicodedata.category(c)[0] != "C")
    text = " ".join(text.split())[:limit]
    return text or None


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        if "/" in value:
            a, _, b = value.partition("/")
            try:
                return float(a) / float(b)
            except (ValueError, ZeroDivisionError):
                return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _int(value: Any) -> int | None:
    f = _num(value)
    return int(f) if f is not None and 0 <= f < 1e9 else None


_DATE_RE = re.compile(
    r"^(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?\s*(Z|[+-]\d{2}:?\d{2})?"
)


def _offset(text: Any) -> timezone | None:
    if not isinstance(text, str):
        return None
    m = re.match(r"^\s*(Z|([+-])(\d{2}):?(\d{2}))\s*$", text)
    if not m:
        return None
    if m.group(1) == "Z":
        return UTC
    minutes = int(m.group(3)) * 60 + int(m.group(4))
    if minutes > 14 * 60:
        return None
    return timezone(timedelta(minutes=minutes if m.group(2) == "+" else -minutes))


def parse_exif_date(value: Any, offset: Any = None) -> datetime | None:
    if not isinstance(value, str):
        return None
    m = _DATE_RE.match(value.strip())
    if not m:
        return None
    try:
        year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
        dt = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    if dt.year < 1826:  # the first photograph; zeroed dates are "unknown"
        return None
    tz = _offset(m.group(7)) if m.group(7) else _offset(offset)
    return dt.replace(tzinfo=tz) if tz else dt


def taken_at(meta: dict[str, Any]) -> datetime | None:
    """DateTimeOriginal, then CreateDate; with the EXIF offset when it is known."""
    for tag, off in (("DateTimeOriginal", "OffsetTimeOriginal"), ("CreateDate", "OffsetTimeDigitized"),
                     ("SubSecDateTimeOriginal", None)):
        dt = parse_exif_date(meta.get(tag), meta.get(off) if off else None) if tag in meta else None
        if dt is not None:
            if dt.tzinfo is None and off and meta.get("OffsetTime"):
                tz = _offset(meta.get("OffsetTime"))
                dt = dt.replace(tzinfo=tz) if tz else dt
            return dt
    return None


def camera_name(make: Any, model: Any) -> str | None:
    """Make and model without repeating the make: ("Canon", "Canon EOS R5") -> "Canon EOS R5"."""
    mk, md = clean_text(make, 64), clean_text(model, 64)
    if not mk and not md:
        return None
    if not mk:
        return md
    if not md:
        return mk
    first = mk.split()[0].lower()
    if md.lower().startswith(mk.lower()) or md.lower().startswith(first):
        return md
    return f"{mk} {md}"


def dimensions(meta: dict[str, Any]) -> tuple[int | None, int | None]:
    """Pixel size: ExifTool's composite ImageSize first (for RAWs ImageWidth may be a thumbnail's)."""
    size = meta.get("ImageSize")
    if isinstance(size, str) and re.match(r"^\d+[x ]\d+$", size.strip()):
        a, b = re.split("[x ]", size.strip())
        if int(a) and int(b):
            return int(a), int(b)
    for w, h in (("ImageWidth", "ImageHeight"), ("ExifImageWidth", "ExifImageHeight"),
                 ("RawImageFullWidth", "RawImageFullHeight")):
        width, height = _int(meta.get(w)), _int(meta.get(h))
        if width and height:
            return width, height
    size = meta.get("ImageSize")
    if isinstance(size, str) and re.match(r"^\d+[x ]\d+$", size):
        a, b = re.split("[x ]", size)
        return int(a), int(b)
    return None, None


def gps(meta: dict[str, Any]) -> dict[str, float] | None:
    lat, lon = _num(meta.get("GPSLatitude")), _num(meta.get("GPSLongitude"))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    if lat == 0 and lon == 0:
        return None
    ref_lat, ref_lon = str(meta.get("GPSLatitudeRef", "")), str(meta.get("GPSLongitudeRef", ""))
    if lat > 0 and ref_lat.upper().startswith("S"):
        lat = -lat
    if lon > 0 and ref_lon.upper().startswith("W"):
        lon = -lon
    out = {"latitude": round(lat, 7), "longitude": round(lon, 7)}
    alt = _num(meta.get("GPSAltitude"))
    if alt is not None and abs(alt) < 100_000:
        below = str(meta.get("GPSAltitudeRef")) in ("1", "Below Sea Level")
        out["altitude"] = round(-alt if below else alt, 2)
    return out


def _orientation(meta: dict[str, Any]) -> int | None:
    value = _int(meta.get("Orientation"))
    return value if value is not None and 1 <= value <= 8 else None


def summarize(meta: dict[str, Any]) -> dict[str, Any]:
    """The upload answer's metadata summary."""
    width, height = dimensions(meta)
    when = taken_at(meta)
    return {
        "camera_make": clean_text(meta.get("Make"), 64),
        "camera_model": clean_text(meta.get("Model"), 64),
        "lens": clean_text(meta.get("LensModel") or meta.get("Lens") or meta.get("LensID"), 100),
        "width": width,
        "height": height,
        "taken_at": when.isoformat() if when else None,
        "orientation": _orientation(meta),
        "has_gps": gps(meta) is not None,
    } | exposure(meta)


def exposure(meta: dict[str, Any]) -> dict[str, Any]:
    """Shutter, aperture, ISO and focal length, as the loupe shows them."""
    full = normalize(meta)
    return {k: full[k] for k in ("exposure_display", "f_number", "iso", "focal_length_mm")}


def _exposure_display(seconds: float | None) -> str | None:
    if seconds is None or seconds <= 0:
        return None
    if seconds >= 1:
        return f"{seconds:g}s"
    return f"1/{round(1 / seconds)}"


def keywords(meta: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for tag in ("Keywords", "Subject", "HierarchicalSubject"):
        value = meta.get(tag)
        items = value if isinstance(value, list) else [value] if value is not None else []
        for item in items:
            text = clean_text(item, 100)
            if text and text not in found:
                found.append(text)
    return found[:100]


def normalize(meta: dict[str, Any]) -> dict[str, Any]:
    """Full normalized metadata for permanent Image records."""
    width, height = dimensions(meta)
    when = taken_at(meta)
    exposure = _num(meta.get("ExposureTime"))
    if exposure is not None and not (0 < exposure < 100_000):
        exposure = None
    f_number = _num(meta.get("FNumber"))
    iso = _int(meta.get("ISO"))
    focal = _num(meta.get("FocalLength"))
    return {
        "camera_make": clean_text(meta.get("Make"), 64),
        "camera_model": clean_text(meta.get("Model"), 64),
        "camera": camera_name(meta.get("Make"), meta.get("Model")),
        "lens": clean_text(meta.get("LensModel") or meta.get("Lens") or meta.get("LensID"), 100),
        "exposure_time": exposure,
        "exposure_display": _exposure_display(exposure),
        "f_number": round(f_number, 2) if f_number and 0 < f_number < 1000 else None,
        "iso": iso if iso and iso < 10_000_000 else None,
        "focal_length_mm": round(focal, 2) if focal and 0 < focal < 100_000 else None,
        "taken_at": when.isoformat() if when else None,
        "taken_at_tz": when.strftime("%z") if when and when.tzinfo else None,
        "gps": gps(meta),
        "width": width,
        "height": height,
        "orientation": _orientation(meta),
        "keywords": keywords(meta),
        "software": clean_text(meta.get("Software"), 100),
        "file_type": clean_text(meta.get("FileType"), 20),
    }


def embedded_previews(meta: dict[str, Any]) -> list[tuple[str, int]]:
    """The embedded images the metadata says exist, with their byte lengths, in try order."""
    found: list[tuple[str, int]] = []
    for tag in EMBEDDED_TAGS:
        length: int | None = None
        value = meta.get(tag)
        if isinstance(value, str):
            m = _BINARY_RE.search(value)
            if m:
                length = int(m.group(1))
        if length is None:
            for ltag in _LENGTH_TAGS[tag]:
                length = _int(meta.get(ltag))
                if length:
                    break
        if length:
            found.append((tag, length))
    return found
