"""Previews and thumbnails: pure image work, no broker, database or storage.

- Standard images: libvips `thumbnail` with shrink-on-load, so a 24 MP JPEG is
  never decoded at full size; the thumbnail is cut from the in-memory
  preview, so the source is decoded once. `thumbnail` auto-orients from EXIF
  once (for HEIC libheif applies `irot` and libvips drops the orientation tag,
  so nothing turns twice). Output is 8-bit sRGB JPEG with metadata stripped.
- Pillow is the fallback when libvips refuses a file Pillow can read.
- RAW: embedded JPEGs chosen by `choose_embedded`, turned by the RAW's own
  orientation, then scaled like any image; LibRaw (rawpy) when none is usable.
- Hostile input: the pixel count from the header is checked before decoding;
  untrusted libvips loaders are blocked; `fail_on=error` makes truncated data
  an error instead of a grey picture; animations use their first frame.

Every function here is synchronous and thread-safe; workers call them in a
thread. Errors are `ImagingError`, with `permanent=True` when retrying cannot
help (bad data, limits).
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("VIPS_WARNING", "0")
import pyvips

EMBEDDED_ORDER = ("PreviewImage", "JpgFromRaw", "ThumbnailImage")
LAST_RESORT_EDGE = 160  # smaller embedded images are icons, not previews


class ImagingError(Exception):
    def __init__(self, reason: str, permanent: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True)
class Limits:
    preview_max: int = 2048
    preview_quality: int = 85
    thumb_width: int = 400
    thumb_height: int = 400
    thumb_quality: int = 80
    max_pixels: int = 150_000_000
    max_embedded_bytes: int = 8 * 1024 * 1024
    min_embedded_edge: int = 800

    @classmethod
    def from_settings(cls, s: Any) -> Limits:
        return cls(s.preview_max_dimension, s.preview_quality, s.thumbnail_width, s.thumbnail_height,
                   s.thumbnail_quality, s.max_pixels, s.max_preview_size, s.raw_min_embedded_edge)


@dataclass
class Attempt:
    step: str  # preview_extraction | thumbnail_generation
    method: str
    success: bool
    reason: str | None
    duration_ms: float
    result_size: int | None = None


@dataclass
class Rendered:
    preview: bytes
    thumbnail: bytes
    width: int
    height: int
    method: str
    degraded: str | None = None
    attempts: list[Attempt] = field(default_factory=list)


def configure_vips(concurrency: int = 1) -> None:
    """Process-wide libvips set-up for workers; raises if the loader block does not hold.

    `concurrency` is libvips' thread count per image (0: libvips' default, one
    per core). Workers run one image at a time and scale by processes, so one
    thread each keeps one worker on one core: two workers on two cores make
    1.9x one worker's throughput, where two default-threaded workers fight
    over the cores and make 1.45x (`make bench`, docs/preview.md).
    """
    pyvips.block_untrusted_set(True)
    pyvips.cache_set_max(0)  # every job is a different file: caching only costs memory
    if concurrency > 0:
        pyvips.concurrency_set(concurrency)
    if not untrusted_loaders_blocked():
        raise RuntimeError("libvips did not block its untrusted loaders")


def untrusted_loaders_blocked() -> bool:
    """Probe the block: libvips marks its CSV loader untrusted, so it must refuse."""
    try:
        pyvips.Image.csvload_source(pyvips.Source.new_from_memory(b"1 2\n3 4\n"))
    except pyvips.Error as exc:
        return "blocked" in str(exc)
    return False


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn()
    return result, (time.perf_counter() - started) * 1000


def _to_srgb_8bit(image: pyvips.Image) -> pyvips.Image:
    if image.hasalpha():
        image = image.flatten(background=[255] * (image.bands - 1))
    if image.interpretation not in ("srgb",) or image.format != "uchar":
        try:
            image = image.colourspace("srgb")
        except pyvips.Error:
            pass
    if image.bands == 1:
        image = image.bandjoin([image, image])
    elif image.bands > 3:
        image = image.extract_band(0, n=3)
    if image.format != "uchar":
        image = image.cast("uchar")
    return image


def _header_pixels(source: str | bytes) -> tuple[int, int]:
    if isinstance(source, bytes):
        head = pyvips.Image.new_from_buffer(source, "", access="sequential")
    else:
        head = pyvips.Image.new_from_file(source, access="sequential")
    return head.width, head.height


def check_pixels(width: int, height: int, limits: Limits) -> None:
    if width * height > limits.max_pixels:
        raise ImagingError(
            f"too many pixels: {width}x{height} is {width * height / 1e6:.0f} MP, "
            f"the limit is {limits.max_pixels / 1e6:.0f} MP")


def _finish(preview: pyvips.Image, limits: Limits, method: str, attempts: list[Attempt],
            degraded: str | None = None) -> Rendered:
    """Encode the preview, cut the thumbnail from it, encode that."""
    preview = _to_srgb_8bit(preview).copy_memory()
    preview_jpeg = preview.jpegsave_buffer(Q=limits.preview_quality, strip=True)

    def thumb() -> bytes:
        t = preview.thumbnail_image(limits.thumb_width, height=limits.thumb_height, crop="centre")
        if (t.width, t.height) != (limits.thumb_width, limits.thumb_height):
            t = t.resize(limits.thumb_width / t.width, vscale=limits.thumb_height / t.height)
        return bytes(t.jpegsave_buffer(Q=limits.thumb_quality, strip=True))

    thumb_jpeg, ms = _timed(thumb)
    attempts.append(Attempt("thumbnail_generation", "from-preview", True, None, ms, len(thumb_jpeg)))
    return Rendered(bytes(preview_jpeg), thumb_jpeg, preview.width, preview.height, method, degraded,
                    attempts)


def _vips_preview(path: Path, limits: Limits) -> pyvips.Image:
    try:
        width, height = _header_pixels(str(path))
    except pyvips.Error as exc:
        raise ImagingError(f"libvips cannot read the file: {_first_line(exc)}") from exc
    check_pixels(width, height, limits)
    try:
        image = pyvips.Image.thumbnail(str(path), limits.preview_max, height=limits.preview_max,
                                       size="down", fail_on="error")
        return _to_srgb_8bit(image).copy_memory()
    except pyvips.Error as exc:
        raise ImagingError(f"libvips could not decode the image: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return "; ".join(lines[:3])[:300]


def _pillow_preview(path: Path, limits: Limits) -> pyvips.Image:
    from PIL import Image, ImageOps

    # No pillow-heif here: it bundles its own libheif, and once libvips has loaded the
    # system's, pillow-heif's calls crash the process (seen with the corpus's iPhone HEIC).
    # libvips reads every HEIF/AVIF in the corpus; one it refuses fails with its reason.
    try:
        with Image.open(path) as opened:
            check_pixels(opened.width, opened.height, limits)
            opened.draft("RGB", (limits.preview_max, limits.preview_max))
            opened.seek(0)
            im: Image.Image = ImageOps.exif_transpose(opened)
            if im.mode not in ("RGB", "L"):
                background = Image.new("RGB", im.size, (255, 255, 255))
                rgba = im.convert("RGBA")
                background.paste(rgba, mask=rgba.split()[3])
                im = background
            im = im.convert("RGB")
            im.thumbnail((limits.preview_max, limits.preview_max), Image.Resampling.LANCZOS)
            data = im.tobytes()
            return pyvips.Image.new_from_memory(data, im.width, im.height, 3, "uchar").copy_memory()
    except ImagingError:
        raise
    except Exception as exc:
        raise ImagingError(f"Pillow could not decode the image: {str(exc)[:200]}") from exc


def render_standard(path: Path, limits: Limits) -> Rendered:
    """A standard image: pyvips from the source, Pillow as the fallback."""
    attempts: list[Attempt] = []
    errors: list[str] = []
    for method, fn in (("source:pyvips", _vips_preview), ("source:pillow", _pillow_preview)):
        started = time.perf_counter()
        try:
            image = fn(path, limits)
        except ImagingError as exc:
            attempts.append(Attempt("preview_extraction", method, False, exc.reason,
                                    (time.perf_counter() - started) * 1000))
            errors.append(f"{method}: {exc.reason}")
            if exc.reason.startswith("too many pixels"):
                raise ImagingError(exc.reason) from exc
            continue
        rendered = _finish(image, limits, method, attempts)
        attempts.insert(len(attempts) - 1, Attempt(
            "preview_extraction", method, True, None, (time.perf_counter() - started) * 1000,
            len(rendered.preview)))
        return rendered
    error = ImagingError("no usable image data: " + " | ".join(errors))
    error.attempts = attempts  # type: ignore[attr-defined]
    raise error


# ---- RAW ------------------------------------------------------------------------

_ORIENT = {
    2: lambda i: i.fliphor(),
    3: lambda i: i.rot180(),
    4: lambda i: i.flipver(),
    5: lambda i: i.rot90().fliphor(),
    6: lambda i: i.rot90(),
    7: lambda i: i.rot270().fliphor(),
    8: lambda i: i.rot270(),
}


@dataclass
class Embedded:
    tag: str
    data: bytes
    width: int
    height: int

    @property
    def long_edge(self) -> int:
        return max(self.width, self.height)


def probe_embedded(tag: str, data: bytes | None) -> Embedded | None:
    if not data or data[:2] != b"\xff\xd8":
        return None
    try:
        width, height = _header_pixels(data)
    except pyvips.Error:
        return None
    return Embedded(tag, data, width, height)


def needed_edge(raw_long_edge: int | None, limits: Limits) -> int:
    return min(limits.preview_max, raw_long_edge) if raw_long_edge else limits.preview_max


def choose_embedded(candidates: list[Embedded], raw_long_edge: int | None, limits: Limits
                    ) -> tuple[Embedded | None, str | None, dict[str, str]]:
    """The first embedded image (in the original order) large enough for the preview;
    else the largest over the minimum edge, marked degraded. Also why each was passed over."""
    need = needed_edge(raw_long_edge, limits)
    skipped: dict[str, str] = {}
    usable: list[Embedded] = []
    for tag in EMBEDDED_ORDER:
        for c in candidates:
            if c.tag != tag:
                continue
            if tag == "ThumbnailImage" and c.long_edge <= limits.min_embedded_edge:
                skipped[tag] = f"{c.width}x{c.height} is not over {limits.min_embedded_edge} px"
                continue
            if c.long_edge >= need:
                return c, None, skipped
            if c.long_edge > limits.min_embedded_edge:
                usable.append(c)
            skipped[tag] = f"{c.width}x{c.height} is smaller than the {need} px preview"
    if usable:
        best = max(usable, key=lambda c: c.long_edge)
        skipped.pop(best.tag, None)
        return best, f"embedded preview smaller than requested ({best.long_edge} px < {need} px)", skipped
    return None, None, skipped


def render_embedded(chosen: Embedded, orientation: int | None, limits: Limits,
                    degraded: str | None = None, attempts: list[Attempt] | None = None) -> Rendered:
    attempts = attempts if attempts is not None else []
    started = time.perf_counter()
    method = f"embedded:{chosen.tag}"
    try:
        check_pixels(chosen.width, chosen.height, limits)
        image = pyvips.Image.thumbnail_buffer(chosen.data, limits.preview_max, height=limits.preview_max,
                                              size="down", no_rotate=orientation is not None,
                                              fail_on="error")
        if orientation in _ORIENT:
            image = _ORIENT[orientation](image)
        image = _to_srgb_8bit(image).copy_memory()
    except pyvips.Error as exc:
        reason = f"embedded {chosen.tag} is not a decodable JPEG: {_first_line(exc)}"
        attempts.append(Attempt("preview_extraction", method, False, reason,
                                (time.perf_counter() - started) * 1000))
        raise ImagingError(reason) from exc
    rendered = _finish(image, limits, method, attempts, degraded)
    attempts.insert(len(attempts) - 1, Attempt("preview_extraction", method, True, degraded,
                                               (time.perf_counter() - started) * 1000,
                                               len(rendered.preview)))
    return rendered


def render_libraw(path: Path, limits: Limits, attempts: list[Attempt] | None = None) -> Rendered:
    """Decode the RAW itself (half size is plenty for a 2048 px preview)."""
    import rawpy

    attempts = attempts if attempts is not None else []
    started = time.perf_counter()
    try:
        with rawpy.imread(str(path)) as raw:
            check_pixels(raw.sizes.raw_width, raw.sizes.raw_height, limits)
            rgb = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8, no_auto_bright=False)
        height, width = rgb.shape[:2]
        image = pyvips.Image.new_from_memory(rgb.tobytes(), width, height, 3, "uchar")
        image = image.thumbnail_image(limits.preview_max, height=limits.preview_max, size="down")
        image = image.copy_memory()
    except ImagingError as exc:
        attempts.append(Attempt("preview_extraction", "raw:libraw", False, exc.reason,
                                (time.perf_counter() - started) * 1000))
        raise
    except Exception as exc:
        reason = f"LibRaw could not decode the RAW: {type(exc).__name__}: {str(exc)[:200]}"
        attempts.append(Attempt("preview_extraction", "raw:libraw", False, reason,
                                (time.perf_counter() - started) * 1000))
        raise ImagingError(reason) from exc
    rendered = _finish(image, limits, "raw:libraw", attempts)
    attempts.insert(len(attempts) - 1, Attempt("preview_extraction", "raw:libraw", True, None,
                                               (time.perf_counter() - started) * 1000,
                                               len(rendered.preview)))
    return rendered


def thumbnail_from_jpeg(data: bytes, limits: Limits) -> bytes:
    """The degraded thumbnail: the small EXIF thumbnail cover-cropped to size."""
    try:
        image = pyvips.Image.thumbnail_buffer(data, limits.thumb_width, height=limits.thumb_height,
                                              crop="centre", size="both")
        image = _to_srgb_8bit(image)
        if (image.width, image.height) != (limits.thumb_width, limits.thumb_height):
            image = image.resize(limits.thumb_width / image.width, vscale=limits.thumb_height / image.height)
        return bytes(image.jpegsave_buffer(Q=limits.thumb_quality, strip=True))
    except pyvips.Error as exc:
        raise ImagingError(f"the EXIF thumbnail is not decodable: {_first_line(exc)}") from exc


def jpeg_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return im.size


def render_raw(path: Path, meta: dict[str, Any], extract: Callable[[str], bytes | None],
               limits: Limits) -> Rendered:
    """A camera RAW: embedded previews in the original order, then LibRaw.

    `extract(tag)` returns the embedded blob (raising when it is over the size
    limit); `meta` is the RAW's metadata (ExifTool `-n` names).
    """
    from shared.exif import ExifToolError, dimensions, embedded_previews

    attempts: list[Attempt] = []
    candidates: list[Embedded] = []
    present = [tag for tag, _ in embedded_previews(meta) if tag in EMBEDDED_ORDER]
    for tag in present:
        started = time.perf_counter()
        try:
            found = probe_embedded(tag, extract(tag))
        except ExifToolError as exc:
            attempts.append(Attempt("preview_extraction", f"embedded:{tag}", False, str(exc)[:300],
                                    (time.perf_counter() - started) * 1000))
            continue
        if found is None:
            attempts.append(Attempt("preview_extraction", f"embedded:{tag}", False,
                                    "no decodable JPEG in the tag", (time.perf_counter() - started) * 1000))
            continue
        candidates.append(found)
    width, height = dimensions(meta)
    raw_long = max(width, height) if width and height else None
    chosen, degraded, skipped = choose_embedded(candidates, raw_long, limits)
    for tag, why in skipped.items():
        attempts.append(Attempt("preview_extraction", f"embedded:{tag}", False, why, 0.0))
    orientation = meta.get("Orientation")
    orientation = orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else None
    if chosen is not None:
        try:
            return render_embedded(chosen, orientation, limits, degraded, attempts)
        except ImagingError:
            pass
    if not present:
        attempts.append(Attempt("preview_extraction", "embedded:none", False,
                                "the RAW has no embedded preview", 0.0))
    try:
        return render_libraw(path, limits, attempts)
    except ImagingError as exc:
        last = max((c for c in candidates if c.long_edge >= LAST_RESORT_EDGE), key=lambda c: c.long_edge,
                   default=None)
        if last is not None and last is not chosen:
            # better a small picture than none: recorded as degraded
            note = f"only a {last.long_edge} px embedded preview; {exc.reason}"
            try:
                return render_embedded(last, orientation, limits, note[:300], attempts)
            except ImagingError:
                pass
        error = ImagingError(f"no usable image data: no usable embedded preview and {exc.reason}")
        error.attempts = attempts  # type: ignore[attr-defined]
        raise error from exc
