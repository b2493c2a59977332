"""Normalizing untrusted metadata values: never raise, strip control characters, cap lengths."""

from __future__ import annotations

import math
import re
import unicodedata
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


def num(value: Any) -> float | None:
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


def as_int(value: Any) -> int | None:
    f = num(value)
    return int(f) if f is not None and 0 <= f < 1e9 else None


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
        width, height = as_int(meta.get(w)), as_int(meta.get(h))
        if width and height:
            return width, height
    size = meta.get("ImageSize")
    if isinstance(size, str) and re.match(r"^\d+[x ]\d+$", size):
        a, b = re.split("[x ]", size)
        return int(a), int(b)
    return None, None


def gps(meta: dict[str, Any]) -> dict[str, float] | None:
    """Signed decimal degrees and metres: ExifTool's composites are signed already.

    The references are applied only to a value that is not (a reader that gave
    GPS:GPSLatitude and its Ref separately); a negative value is never negated
    again, which put a photo taken 50 m below sea level at +50 m.
    """
    lat, lon = num(meta.get("GPSLatitude")), num(meta.get("GPSLongitude"))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    if lat == 0 and lon == 0:
        return None
    ref_lat, ref_lon = str(meta.get("GPSLatitudeRef", "")), str(meta.get("GPSLongitudeRef", ""))
    if lat > 0 and ref_lat.upper().startswith("S"):
        lat = -lat
    if lon > 0 and ref_lon.upper().startswith("W"):
        lon = -lon
    out = {"latitude": round(lat, 8), "longitude": round(lon, 8)}
    alt = num(meta.get("GPSAltitude"))
    if alt is not None and abs(alt) < 100_000:
        below = str(meta.get("GPSAltitudeRef")) in ("1", "Below Sea Level")
        out["altitude"] = round(-alt if below and alt > 0 else alt, 3)
    return out


def orientation(meta: dict[str, Any]) -> int | None:
    value = as_int(meta.get("Orientation"))
    return value if value is not None and 1 <= value <= 8 else None


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
                length = as_int(meta.get(ltag))
                if length:
                    break
        if length:
            found.append((tag, length))
    return found
