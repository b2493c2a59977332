"""Metadata: ExifTool (persistent processes, bounded reads), a Pillow fallback, normalizers.

- `process`: one `-stay_open` ExifTool with a deadline and an output limit
  per call, read in linear time; a process that times out or overflows is
  killed and replaced on the next call.
- `pool`: `AsyncExifTool`, the event loop's view: a small pool of processes,
  so one slow file never makes other uploads wait; Pillow when ExifTool fails.
- `tags`: what a read asks for (per-tag numeric values, MWG reconciliation, read modes).
- `fallback`: the Pillow reader and EXIF thumbnail finder.
- `values`, `capture`, `describe`, `technical`, `normalize`: normalizers for
  untrusted values, which strip control characters, cap lengths and never raise.
- `zones`: the time zone at a GPS position, offline.
"""

from shared.exif.capture import CaptureTime, ZoneSource, capture_time, utc_instant
from shared.exif.fallback import pillow_thumbnail, read_with_pillow
from shared.exif.normalize import (
    PERSON_FIELDS,
    SIDECAR_WINS,
    found_fields,
    normalize,
    summarize,
    with_person_values,
)
from shared.exif.pool import AsyncExifTool
from shared.exif.process import EmbeddedTooLarge, ExifTool, ExifToolError, OutputTooLarge
from shared.exif.tags import ReadMode
from shared.exif.values import (
    EMBEDDED_TAGS,
    MAX_TEXT,
    camera_name,
    clean_text,
    dimensions,
    embedded_previews,
    gps,
)

__all__ = [
    "EMBEDDED_TAGS", "MAX_TEXT", "PERSON_FIELDS", "SIDECAR_WINS", "AsyncExifTool", "CaptureTime",
    "EmbeddedTooLarge", "ExifTool", "ExifToolError", "OutputTooLarge", "ReadMode", "ZoneSource",
    "camera_name", "capture_time", "clean_text", "dimensions", "embedded_previews", "found_fields", "gps",
    "normalize",
    "pillow_thumbnail", "read_with_pillow", "summarize", "utc_instant", "with_person_values",
]
