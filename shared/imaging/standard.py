"""Standard images (JPEG, PNG, HEIC, TIFF...): libvips first, Pillow as the fallback."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pyvips

from shared.imaging import budget, scaled
from shared.imaging.model import Attempt, ImagingError, Limits, Rendered, check_pixels, refused
from shared.imaging.vips import finish, first_line, header_pixels, to_srgb_8bit


def _vips_preview(path: Path, limits: Limits) -> pyvips.Image:
    try:
        width, height = header_pixels(str(path))
    except pyvips.Error as exc:
        raise ImagingError(f"libvips cannot read the file: {first_line(exc)}") from exc
    check_pixels(width, height, limits)
    try:
        budget.check(path, limits.memory_budget, limits.preview_max)
    except budget.HeaderError as exc:
        raise ImagingError(f"the image header is unreadable: {exc}") from exc
    try:
        image = pyvips.Image.thumbnail(str(path), limits.preview_max, height=limits.preview_max,
                                       size="down", fail_on="error")
        return to_srgb_8bit(image).copy_memory()
    except pyvips.Error as exc:
        raise ImagingError(f"libvips could not decode the image: {first_line(exc)}") from exc


def _pillow_preview(path: Path, limits: Limits) -> pyvips.Image:
    from PIL import Image, ImageOps

    # No pillow-heif here: it bundles its own libheif, and once libvips has loaded the
    # system's, pillow-heif's calls crash the process (seen with the corpus's iPhone HEIC).
    # libvips reads every HEIF/AVIF in the corpus; one it refuses fails with its reason.
    try:
        with Image.open(path) as opened:
            check_pixels(opened.width, opened.height, limits)
            if opened.format == "JPEG":  # draft mode: libjpeg's scaled decode, as libvips does it
                budget.check(path, limits.memory_budget, limits.preview_max)
            else:
                budget.require(budget.pillow_estimate(opened.format or "image", opened.width, opened.height,
                                                      len(opened.getbands()), 1, limits.preview_max),
                               limits.memory_budget)
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
            # not .copy_memory(): on a memory image it returns the same pixels in a new wrapper that
            # does not keep `data` alive, and libvips then reads freed memory (a crash in `finish`)
            return pyvips.Image.new_from_memory(data, im.width, im.height, 3, "uchar")
    except ImagingError:
        raise
    except Exception as exc:
        raise ImagingError(f"Pillow could not decode the image: {str(exc)[:200]}") from exc


def render_standard(path: Path, limits: Limits) -> Rendered:
    """A standard image: a JPEG through the scaled-decode fast path when it suits; else (and
    for every other format) pyvips from the source, Pillow as the fallback."""
    attempts: list[Attempt] = []
    errors: list[str] = []
    if scaled.starts_like_jpeg(path):
        started = time.perf_counter()
        try:
            return scaled.render_scaled(path, limits)
        except (scaled.Unsuitable, ImagingError) as exc:
            if isinstance(exc, ImagingError) and refused(exc):
                raise ImagingError(exc.reason) from exc
            attempts.append(Attempt("preview_extraction", scaled.METHOD, False, exc.reason,
                                    (time.perf_counter() - started) * 1000))
    for method, fn in (("source:pyvips", _vips_preview), ("source:pillow", _pillow_preview)):
        started = time.perf_counter()
        try:
            image = fn(path, limits)
        except ImagingError as exc:
            attempts.append(Attempt("preview_extraction", method, False, exc.reason,
                                    (time.perf_counter() - started) * 1000))
            errors.append(f"{method}: {exc.reason}")
            if refused(exc):
                raise ImagingError(exc.reason) from exc
            continue
        rendered = finish(image, limits, method, attempts)
        attempts.insert(len(attempts) - 1, Attempt(
            "preview_extraction", method, True, None, (time.perf_counter() - started) * 1000,
            len(rendered.preview)))
        return rendered
    error = ImagingError("no usable image data: " + " | ".join(errors))
    error.attempts = attempts
    raise error


def thumbnail_from_jpeg(data: bytes, limits: Limits) -> bytes:
    """The degraded thumbnail: the small EXIF thumbnail cover-cropped to size."""
    try:
        budget.check(data, limits.memory_budget, max(limits.thumb_width, limits.thumb_height))
    except budget.HeaderError as exc:
        raise ImagingError(f"the EXIF thumbnail is not a readable JPEG: {exc}") from exc
    try:
        image = pyvips.Image.thumbnail_buffer(data, limits.thumb_width, height=limits.thumb_height,
                                              crop="centre", size="both")
        image = to_srgb_8bit(image)
        if (image.width, image.height) != (limits.thumb_width, limits.thumb_height):
            image = image.resize(limits.thumb_width / image.width, vscale=limits.thumb_height / image.height)
        return bytes(image.jpegsave_buffer(Q=limits.thumb_quality, strip=True))
    except pyvips.Error as exc:
        raise ImagingError(f"the EXIF thumbnail is not decodable: {first_line(exc)}") from exc


def jpeg_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return im.size
