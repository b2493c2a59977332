"""Previews, thumbnails and enhanced previews: pure image work, no broker, database or storage.

- `renditions`: what a photo gets, as data (`SPECS`: the preview, the
  thumbnail and any other size); the one place the 2048 is defined.
- `model`: limits, results, attempts, `ImagingError` and the typed refusals
  (`Refusal`, `TooManyPixels`, `OutOfMemory`) (no libvips).
- `vips`: process set-up (`configure_vips`) and the steps every renderer
  shares: header probe, encode, and the cut of every other rendition from
  the in-memory preview.
- `jpeg_header`: the one JPEG frame-header parser; `budget` with
  `decode_cost`: the memory a decode would hold, checked before it runs
  (`OverBudget`).
- `colour` and `icc`: the source's colour space (profile, else EXIF, else
  sRGB) and the one conversion to the output gamut (sRGB or Display P3);
  `hdr`, `hdr_boxes`: gain maps and HDR transfers found in a file's
  structure; `hdr_tone`: the SDR rendition of a PQ or HLG picture.
- `scaled`: the JPEG fast path: one libjpeg-turbo decode at the smallest M/8
  scale that covers the preview (simplejpeg), Lanczos3 to size; CMYK,
  12-bit, lossless, arithmetic-coded and refused files go to `standard`'s
  libvips path (docs/preview.md).
- `standard`: JPEGs try `scaled` first; then libvips `thumbnail` with
  shrink-on-load, so a 24 MP JPEG is never decoded at full size; the
  thumbnail and every other rendition are cut from the in-memory preview, so
  the source is decoded once. `thumbnail` auto-orients from EXIF
  once (for HEIC libheif applies `irot` and libvips drops the orientation tag,
  so nothing turns twice). Pillow is the fallback when libvips refuses a file
  Pillow can read.
- `raw`: embedded JPEGs chosen by `choose_embedded`, turned by the RAW's own
  orientation, then scaled like any image; LibRaw (rawpy) when none is usable.
- `enhance` and `enhance_rules`: bigger previews on request, and how big and
  from which source one may be (the rule shared by the API and the worker).
- Hostile input: the pixel count from the header is checked before decoding;
  untrusted libvips loaders are blocked; `fail_on=error` makes truncated data
  an error instead of a grey picture; animations use their first frame.

Output is 8-bit JPEG with metadata stripped: sRGB, or Display P3 carrying
its profile in that setting (docs/preview.md, "Colour"). Every function here
is synchronous and thread-safe; a worker calls the decoding ones in its
capped render process (`shared/worker/render_process.py`), by reference.
Errors are `ImagingError`, with `permanent=True` when retrying cannot help;
a refusal or a lack of memory is its own type, never told by its text.
"""

from shared.imaging.model import (
    Attempt,
    ColourNote,
    Hdr,
    ImagingError,
    Limits,
    OutOfMemory,
    Refusal,
    Rendered,
    TooManyPixels,
    check_pixels,
    refused,
)
from shared.imaging.raw import (
    EMBEDDED_ORDER,
    LAST_RESORT_EDGE,
    Embedded,
    choose_embedded,
    needed_edge,
    probe_embedded,
    render_embedded,
    render_libraw,
    render_raw,
)
from shared.imaging.standard import jpeg_size, render_standard, thumbnail_from_jpeg
from shared.imaging.vips import configure_vips, setup_render_process, tune_malloc, untrusted_loaders_blocked

__all__ = [
    "EMBEDDED_ORDER",
    "LAST_RESORT_EDGE",
    "Attempt",
    "ColourNote",
    "Embedded",
    "Hdr",
    "ImagingError",
    "Limits",
    "OutOfMemory",
    "Refusal",
    "Rendered",
    "TooManyPixels",
    "check_pixels",
    "choose_embedded",
    "configure_vips",
    "jpeg_size",
    "needed_edge",
    "probe_embedded",
    "refused",
    "render_embedded",
    "render_libraw",
    "render_raw",
    "render_standard",
    "setup_render_process",
    "thumbnail_from_jpeg",
    "tune_malloc",
    "untrusted_loaders_blocked",
]
