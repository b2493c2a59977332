"""Standard images (JPEG, PNG, HEIC, TIFF...): libvips first, Pillow as the fallback."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pyvips

from shared.imaging import budget, colour, hdr, hdr_tone, scaled
from shared.imaging.colour import Gamut
from shared.imaging.model import Attempt, ColourNote, ImagingError, Limits, Rendered, check_pixels, refused
from shared.imaging.vips import cmyk_thumbnail, finish, first_line, to_srgb_8bit


def _vips_preview(path: Path, limits: Limits) -> tuple[pyvips.Image, ColourNote]:
    try:
        head = pyvips.Image.new_from_file(str(path), access="sequential")
    except pyvips.Error as exc:
        raise ImagingError(f"libvips cannot read the file: {first_line(exc)}") from exc
    check_pixels(head.width, head.height, limits)
    try:
        budget.check(path, limits.memory_budget, limits.preview_max)
    except budget.HeaderError as exc:
        raise ImagingError(f"the image header is unreadable: {exc}") from exc
    source = colour.of_image(head)
    try:
        heif = str(head.get("vips-loader")).startswith("heifload")
        if heif and source.evidence is not colour.Evidence.ICC:
            found = hdr.detect(path)  # an nclx-signalled PQ or HLG picture: no profile to convert from
            if found is not None and found.kind in ("pq", "hlg"):
                return _tone_mapped(str(path), found.kind, limits)
        return _shrunk(str(path), source, limits)
    except pyvips.Error as exc:
        raise ImagingError(f"libvips could not decode the image: {first_line(exc)}") from exc


def _tone_mapped(path: str, transfer: str, limits: Limits) -> tuple[pyvips.Image, ColourNote]:
    """A PQ or HLG HEIF/AVIF's SDR rendition (`hdr_tone`), always sRGB."""
    image = pyvips.Image.thumbnail(path, limits.preview_max, height=limits.preview_max, size="down",
                                   fail_on="error")
    note = ColourNote(colour.Space.REC2020.value, "cicp", f"Rec. 2020 {transfer.upper()}, tone-mapped",
                      Gamut.SRGB.value)
    return hdr_tone.to_sdr(image, transfer).copy_memory(), note


def _shrunk(path: str, source: colour.Colour, limits: Limits) -> tuple[pyvips.Image, ColourNote]:
    """libvips `thumbnail` to the preview's size (CMYK: `cmyk_thumbnail`), colour-managed from
    `source` after the shrink."""
    target = colour.output_gamut(source, Gamut(limits.gamut))
    if source.space is colour.Space.CMYK:
        image = cmyk_thumbnail(path, limits.preview_max, limits.preview_max,
                               lambda cmyk: colour.convert(cmyk, source, target))
    else:
        image = colour.convert(pyvips.Image.thumbnail(path, limits.preview_max, height=limits.preview_max,
                                                      size="down", fail_on="error"), source, target)
    return to_srgb_8bit(image).copy_memory(), colour.note(source, target)


def _pillow_preview(path: Path, limits: Limits) -> tuple[pyvips.Image, ColourNote]:
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
            source = colour.of_pillow(opened)
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
            image = pyvips.Image.new_from_memory(data, im.width, im.height, 3, "uchar")
            image, note = colour.prepare(image, source, limits.gamut)
            return image.copy_memory(), note
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
            return _with_hdr(scaled.render_scaled(path, limits), path)
        except (scaled.Unsuitable, ImagingError) as exc:
            if isinstance(exc, ImagingError) and refused(exc):
                raise ImagingError(exc.reason) from exc
            attempts.append(Attempt("preview_extraction", scaled.METHOD, False, exc.reason,
                                    (time.perf_counter() - started) * 1000))
    for method, fn in (("source:pyvips", _vips_preview), ("source:pillow", _pillow_preview)):
        started = time.perf_counter()
        try:
            image, note = fn(path, limits)
        except ImagingError as exc:
            attempts.append(Attempt("preview_extraction", method, False, exc.reason,
                                    (time.perf_counter() - started) * 1000))
            errors.append(f"{method}: {exc.reason}")
            if refused(exc):
                raise ImagingError(exc.reason) from exc
            continue
        rendered = finish(image, limits, method, attempts, colour=note)
        cuts = len(limits.renditions) - 1  # the attempts `finish` added, after the preview's
        attempts.insert(len(attempts) - cuts, Attempt(
            "preview_extraction", method, True, None, (time.perf_counter() - started) * 1000,
            len(rendered.preview)))
        return _with_hdr(rendered, path)
    error = ImagingError("no usable image data: " + " | ".join(errors))
    error.attempts = attempts
    raise error


def _with_hdr(rendered: Rendered, path: Path) -> Rendered:
    """The SDR rendition is what was rendered; whether the original holds more is recorded."""
    rendered.hdr = hdr.detect(path)
    return rendered


def thumbnail_from_jpeg(data: bytes, limits: Limits, original: Path | None = None) -> bytes:
    """The degraded thumbnail: the small EXIF thumbnail made to the thumbnail's spec, colour-managed.

    An EXIF thumbnail is in its photo's colour space but rarely says so: unless
    it carries a profile, the original's header (profile, EXIF ColorSpace) is
    read for it, when libvips can read that much of a file it could not render.
    """
    spec = limits.thumbnail
    try:
        budget.check(data, limits.memory_budget, spec.long_edge)
    except budget.HeaderError as exc:
        raise ImagingError(f"the EXIF thumbnail is not a readable JPEG: {exc}") from exc
    try:
        image = pyvips.Image.thumbnail_buffer(data, spec.width, height=spec.height,
                                              crop="centre" if spec.crop else "none",
                                              size="both" if spec.crop else "down")
        source = colour.of_image(image)
        if source.evidence is colour.Evidence.ASSUMED and original is not None:
            source = _original_colour(original, source)
        image, note = colour.prepare(image, source, limits.gamut)
        image = to_srgb_8bit(image)
        if spec.crop and (image.width, image.height) != (spec.width, spec.height):
            image = image.resize(spec.width / image.width, vscale=spec.height / image.height)
        return colour.encode_jpeg(image, spec.quality, note.output)
    except pyvips.Error as exc:
        raise ImagingError(f"the EXIF thumbnail is not decodable: {first_line(exc)}") from exc


def _original_colour(original: Path, fallback: colour.Colour) -> colour.Colour:
    try:
        head = pyvips.Image.new_from_file(str(original), access="sequential")
    except pyvips.Error:
        return fallback
    found = colour.of_image(head)
    return fallback if found.space is colour.Space.CMYK else found  # the thumbnail itself is RGB


def jpeg_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return im.size
