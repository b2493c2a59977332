"""Pixels for an enhanced preview: pure image work, run in a thread.

From the original: libvips `thumbnail` (shrink-on-load, auto-orient) down to
the target width, so nothing is lost that the original had. From the
preview, or when the original is still narrower than the target: a lanczos3
upscale followed by a mild sharpen (upscaling softens edges; a small-radius
unsharp mask restores the look without halos). pyvips first, Pillow as the
fallback. Colour as for previews: from the source's profile or EXIF colour
space to sRGB, or Display P3 in that setting (`shared.imaging.colour`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyvips

from shared.imaging import budget, colour
from shared.imaging.colour import Gamut
from shared.imaging.model import ImagingError, Limits, check_pixels, refused
from shared.imaging.vips import cmyk_thumbnail, to_srgb_8bit

HUGE = 10_000_000


@dataclass
class Enhanced:
    jpeg: bytes
    width: int
    height: int
    method: str


def _vips(path: Path, target: int, from_original: bool, limits: Limits) -> Enhanced:
    try:
        head = pyvips.Image.new_from_file(str(path), access="sequential")
        check_pixels(head.width, head.height, limits)
        _check_budget(path, target, limits)
        image, gamut = _shrunk(path, colour.of_image(head), target, limits)
        upscaled = image.width < target
        if upscaled:
            image = image.resize(target / image.width, kernel="lanczos3")
            image = image.sharpen(sigma=0.6, m1=0.5, m2=1.5)
            image = to_srgb_8bit(image)
        image = image.copy_memory()
        check_pixels(image.width, image.height, limits)
        data = colour.encode_jpeg(image, limits.preview_quality, gamut)
    except pyvips.Error as exc:
        raise ImagingError(f"libvips: {_vips_reason(exc)}") from exc
    source = "original" if from_original else "preview"
    return Enhanced(data, image.width, image.height,
                    f"{source}:pyvips" + (":lanczos3-sharpen" if upscaled else ":shrink"))


def _shrunk(path: Path, source: colour.Colour, target: int, limits: Limits) -> tuple[pyvips.Image, Gamut]:
    """`target` px wide (never enlarged here), colour-managed as previews are (`shared.imaging.colour`)."""
    gamut = colour.output_gamut(source, Gamut(limits.gamut))
    if source.space is colour.Space.CMYK:  # as previews do it (`vips.cmyk_thumbnail`)
        image = cmyk_thumbnail(str(path), target, HUGE, lambda cmyk: colour.convert(cmyk, source, gamut))
    else:
        image = colour.convert(pyvips.Image.thumbnail(str(path), target, height=HUGE, size="down",
                                                      fail_on="error"), source, gamut)
    return to_srgb_8bit(image), gamut


def _check_budget(path: Path, target: int, limits: Limits) -> None:
    """The source's decode and the `target` px wide output must fit in the job's memory budget."""
    try:
        budget.check_enhance(path, target, limits.memory_budget)
    except budget.HeaderError as exc:
        raise ImagingError(f"the source's header is unreadable: {exc}") from exc


def _vips_reason(exc: pyvips.Error) -> str:
    """The useful line: the message is "unable to call <operation>", the cause is in the detail."""
    for text in (getattr(exc, "detail", None), getattr(exc, "message", None), str(exc)):
        lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
        if lines:
            return lines[0][:300]
    return "error"


def _pillow(path: Path, target: int, from_original: bool, limits: Limits) -> Enhanced:
    from PIL import Image, ImageFilter, ImageOps

    try:
        with Image.open(path) as src:
            check_pixels(src.width, src.height, limits)
            _check_budget(path, target, limits)
            source = colour.of_pillow(src)
            src.seek(0)
            im = ImageOps.exif_transpose(src).convert("RGB")
            upscaled = im.width < target
            height = max(1, round(im.height * target / im.width))
            check_pixels(target, height, limits)
            im = im.resize((target, height), Image.Resampling.LANCZOS)
            if upscaled:
                im = im.filter(ImageFilter.UnsharpMask(radius=1.0, percent=60, threshold=2))
            image, note = colour.prepare(pyvips.Image.new_from_memory(im.tobytes(), im.width, im.height, 3,
                                                                      "uchar"), source, limits.gamut)
            jpeg = colour.encode_jpeg(to_srgb_8bit(image), limits.preview_quality, note.output)
    except ImagingError:
        raise
    except Exception as exc:
        raise ImagingError(f"Pillow: {str(exc)[:200]}") from exc
    origin = "original" if from_original else "preview"
    return Enhanced(jpeg, target, height,
                    f"{origin}:pillow" + (":lanczos-unsharp" if upscaled else ":shrink"))


def render_enhanced(path: Path, target: int, from_original: bool, limits: Limits
                    ) -> tuple[Enhanced, list[str]]:
    """Render `target` px wide; returns the result and the failed methods' reasons."""
    errors: list[str] = []
    for fn in (_vips, _pillow):
        try:
            result = fn(path, target, from_original, limits)
        except ImagingError as exc:
            if refused(exc):
                raise
            errors.append(exc.reason)
            continue
        verify(result, target)
        return result, errors
    raise ImagingError("no renderer could read the source: " + " | ".join(errors))


def verify(result: Enhanced, target: int) -> None:
    """The bytes decode to the size we claim, at the width asked for."""
    try:
        head = pyvips.Image.new_from_buffer(result.jpeg, "")
    except pyvips.Error as exc:
        raise ImagingError(f"the rendered preview does not decode: {exc}") from exc
    if (head.width, head.height) != (result.width, result.height) or head.width != target:
        raise ImagingError(f"rendered {head.width}x{head.height}, expected width {target}")
