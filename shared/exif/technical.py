"""How it was taken and encoded: lens, exposure, colour space, bit depth, HDR gain map."""

from __future__ import annotations

import re
from typing import Any

from shared.exif.values import as_int, clean_text, num

#: DCF InteropIndex: the colour space a camera declares without an ICC profile
_INTEROP = {"R98": "sRGB", "R03": "Adobe RGB"}
#: HEIF/AVIF `nclx` colour primaries (ExifTool's print names) that say more than "unspecified"
_PRIMARIES = {"BT.709": "sRGB", "BT.2020, BT.2100": "Rec. 2020", "SMPTE EG 432-1": "Display P3"}


def lens(meta: dict[str, Any]) -> str | None:
    """The lens's human name: ExifTool's LensID when it identified the lens, else LensModel, else Lens.

    LensID is print-converted (the lens database's name for the LensType
    number); "Unknown (...)" means it did not know it, and a name listing
    several candidates ("A or B") is only used when nothing better exists.
    """
    identified = clean_text(meta.get("LensID"), 100)
    if identified and identified.lower().startswith("unknown"):
        identified = None
    for name in (identified if identified and " or " not in identified else None,
                 clean_text(meta.get("LensModel"), 100), clean_text(meta.get("Lens"), 100), identified):
        if name and not re.fullmatch(r"[-\d.\s]*", name):  # a bare number is an id, not a name
            return name
    return None


def exposure_display(seconds: float | None) -> str | None:
    if seconds is None or seconds <= 0:
        return None
    if seconds >= 1:
        return f"{seconds:g}s"
    return f"1/{round(1 / seconds)}"


def declared_colour_space(meta: dict[str, Any]) -> str | None:
    """The embedded ICC profile's name, else EXIF ColorSpace, else InteropIndex, else HEIF nclx."""
    profile = clean_text(meta.get("ProfileDescription"), 100)
    if profile:
        return profile
    declared = clean_text(meta.get("ColorSpace"), 50)
    if declared and declared.lower() not in ("uncalibrated", "unknown"):
        return declared
    interop = clean_text(meta.get("InteropIndex"), 80)
    if interop and interop[:3] in _INTEROP:
        return _INTEROP[interop[:3]]
    primaries = clean_text(meta.get("ColorPrimaries"), 80)
    return _PRIMARIES.get(primaries or "") or declared


def bit_depth(meta: dict[str, Any]) -> int | None:
    """Bits per sample of the main image (HEIF/AVIF: BitDepthLuma)."""
    for tag in ("BitDepthLuma", "BitsPerSample"):
        value = meta.get(tag)
        first = value[0] if isinstance(value, list) and value else value
        if isinstance(first, str):
            first = first.split()[0] if first.split() else None
        depth = as_int(first)
        if depth and 1 <= depth <= 32:
            return depth
    return None


def _semantics(meta: dict[str, Any]) -> list[str]:
    value = meta.get("DirectoryItemSemantic")
    found = [str(v) for v in (value if isinstance(value, list) else [value]) if v]
    directory = meta.get("Directory")
    if isinstance(directory, list):  # the XMP Container directory, as -struct gives it
        found += [str(entry["Item"].get("Semantic")) for entry in directory
                  if isinstance(entry, dict) and isinstance(entry.get("Item"), dict)]
    return found


def hdr_gain_map(meta: dict[str, Any]) -> str | None:
    """Which HDR gain map the metadata declares: "ultra-hdr" (JPEG, XMP Container),
    "apple-gain-map" (HEIC auxiliary image), or None.

    The kinds are the image pipeline's (`shared.imaging.model.Hdr.kind`).

    From the metadata only (the full read; `-fast` stops before JPEG
    trailers); whether the pixels are HDR is the image pipeline's call.
    """
    if "GainMap" in _semantics(meta):
        return "ultra-hdr"
    if "hdrgainmap" in str(meta.get("AuxiliaryImageType") or "") or meta.get("HDRGainMapVersion"):
        return "apple-gain-map"
    return None


def technical(meta: dict[str, Any]) -> dict[str, Any]:
    exposure = num(meta.get("ExposureTime"))
    if exposure is not None and not (0 < exposure < 100_000):
        exposure = None
    f_number = num(meta.get("FNumber"))
    iso = as_int(meta.get("ISO"))
    focal = num(meta.get("FocalLength"))
    return {
        "lens": lens(meta),
        "exposure_time": exposure,
        "exposure_display": exposure_display(exposure),
        "f_number": round(f_number, 2) if f_number and 0 < f_number < 1000 else None,
        "iso": iso if iso and iso < 10_000_000 else None,
        "focal_length_mm": round(focal, 2) if focal and 0 < focal < 100_000 else None,
        "declared_colour_space": declared_colour_space(meta),
        "bit_depth": bit_depth(meta),
        "hdr_gain_map": hdr_gain_map(meta),
    }
