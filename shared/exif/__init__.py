"""Metadata: ExifTool (persistent processes, bounded reads), a Pillow fallback, normalizers.

- `process`: one `-stay_open` ExifTool with a deadline and an output limit
  per call, read in linear time; a process that times out or overflows is
  killed and replaced on the next call.
- `pool`: `AsyncExifTool`, the event loop's view: a small pool of processes,
  so one slow file never makes other uploads wait; Pillow when ExifTool fails.
- `fallback`: the Pillow reader and EXIF thumbnail finder.
- `values`: normalizers for untrusted values (`summarize`, `normalize`...),
  which strip control characters, cap lengths and never raise.
"""

from shared.exif.fallback import pillow_thumbnail, read_with_pillow
from shared.exif.pool import AsyncExifTool
from shared.exif.process import EmbeddedTooLarge, ExifTool, ExifToolError, OutputTooLarge
from shared.exif.values import (
    EMBEDDED_TAGS,
    MAX_TEXT,
    camera_name,
    clean_text,
    dimensions,
    embedded_previews,
    gps,
    keywords,
    normalize,
    parse_exif_date,
    summarize,
    taken_at,
)

__all__ = [
    "EMBEDDED_TAGS", "MAX_TEXT", "AsyncExifTool", "EmbeddedTooLarge", "ExifTool", "ExifToolError",
    "OutputTooLarge", "camera_name", "clean_text", "dimensions", "embedded_previews", "gps",
    "keywords", "normalize", "parse_exif_date", "pillow_thumbnail", "read_with_pillow", "summarize",
    "taken_at",
]
