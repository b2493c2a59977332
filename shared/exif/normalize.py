"""The normalized record of an Image: every field from its documented tags (docs/metadata.md).

`normalize` reads one file's metadata (ExifTool names, `shared.exif.tags`);
with an XMP sidecar's metadata beside it, the sidecar's descriptive fields
(`SIDECAR_WINS`) win over the embedded ones, as Lightroom and Capture One
expect, and its other fields fill what the file lacks. `sources` says where
each descriptive value came from: `embedded`, `sidecar`, or `person` once
`with_person_values` applied what someone set through the API, which wins
over both.
"""

from __future__ import annotations

import re
from typing import Any

from shared.exif.capture import capture_time
from shared.exif.describe import describe
from shared.exif.technical import technical
from shared.exif.values import camera_name, clean_text, dimensions, gps, orientation

#: what a sidecar decides, whatever the file says
SIDECAR_WINS = ("rating", "label", "title", "caption", "creator", "copyright", "credit", "location",
                "keywords", "keyword_paths")
#: what a person sets through the API, over sidecar and file
PERSON_FIELDS = ("rating",)


def _unique_id(value: Any) -> str | None:
    text = clean_text(value, 64)
    return text if text and re.search(r"[1-9a-zA-Z]", text) else None  # all zeros means unset


def _from_file(meta: dict[str, Any]) -> dict[str, Any]:
    width, height = dimensions(meta)
    position = gps(meta)
    when = capture_time(meta, (position["latitude"], position["longitude"]) if position else None)
    return {
        "camera_make": clean_text(meta.get("Make"), 64),
        "camera_model": clean_text(meta.get("Model"), 64),
        "camera": camera_name(meta.get("Make"), meta.get("Model")),
        **technical(meta),
        **(when.fields() if when else dict.fromkeys(
            ("taken_at", "taken_at_local", "taken_at_offset", "taken_at_zone", "taken_at_zone_source"))),
        "gps": position,
        "width": width,
        "height": height,
        "orientation": orientation(meta),
        **describe(meta),
        "software": clean_text(meta.get("Software"), 100),
        "file_type": clean_text(meta.get("FileType"), 20),
        "image_unique_id": _unique_id(meta.get("ImageUniqueID")),
        "content_identifier": clean_text(meta.get("ContentIdentifier"), 64),
    }


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == {} or value == ""


def normalize(meta: dict[str, Any], sidecar: dict[str, Any] | None = None) -> dict[str, Any]:
    """The full normalized metadata of a permanent Image (never raises on odd values)."""
    embedded = _from_file(meta)
    extra = _from_file(sidecar) if sidecar else {}
    out: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, value in embedded.items():
        theirs = extra.get(name)
        use_sidecar = not _empty(theirs) and (name in SIDECAR_WINS or _empty(value))
        if name.startswith("taken_at") and extra:  # the capture time is one unit: never mixed
            use_sidecar = _empty(embedded["taken_at_local"]) and not _empty(extra.get("taken_at_local"))
        out[name] = theirs if use_sidecar else value
        if name in SIDECAR_WINS and not _empty(out[name]):
            sources[name] = "sidecar" if use_sidecar else "embedded"
    out["sources"] = sources
    return out


def found_fields(normalized: dict[str, Any]) -> list[str]:
    """The names of the fields that have a value (what a `metadata_extraction` trace lists)."""
    return [name for name, value in normalized.items() if name != "sources" and not _empty(value)]


def with_person_values(normalized: dict[str, Any], person: dict[str, Any]) -> dict[str, Any]:
    """`normalized` with what a person set through the API (`PERSON_FIELDS`), which wins over all."""
    out = dict(normalized)
    sources = dict(out.get("sources") or {})
    for name in PERSON_FIELDS:
        if person.get(name) is not None:
            out[name] = person[name]
            sources[name] = "person"
    out["sources"] = sources
    return out


def summarize(meta: dict[str, Any]) -> dict[str, Any]:
    """The upload answer's metadata summary (from the upload's fast read)."""
    full = _from_file(meta)
    return {
        "camera_make": full["camera_make"], "camera_model": full["camera_model"], "lens": full["lens"],
        "width": full["width"], "height": full["height"], "taken_at": full["taken_at"],
        "taken_at_local": full["taken_at_local"], "taken_at_zone_source": full["taken_at_zone_source"],
        "orientation": full["orientation"], "has_gps": full["gps"] is not None, "rating": full["rating"],
        "title": full["title"], "caption": full["caption"], "exposure_display": full["exposure_display"],
        "f_number": full["f_number"], "iso": full["iso"], "focal_length_mm": full["focal_length_mm"],
    }
