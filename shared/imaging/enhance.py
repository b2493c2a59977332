"""Pixels for an enhanced preview: pure image work, run in a thread.

From the original: libvips `thumbnail` (shrink-on-load, auto-orient) down to
the target width, so nothing is lost that the original had. From the
preview, or when the original is still narrower than the target: a lanczos3
upscale followed by a mild sharpen (upscaling softens edges; a small-radius
unsharp mask restores the look without halos). pyvips first, Pillow as the
fallback.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pyvips

from shared.imaging import budget
from shared.imaging.model import ImagingError, Limits, check_pixels, refused
from shared.imaging.vips import to_srgb_8bit

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
        image = pyvips.Image.thumbnail(str(path), target, height=HUGE, size="down", fail_on="error")
        image = to_srgb_8bit(image)
        upscaled = image.width < target
        if upscaled:
            image = image.resize(target / image.width, kernel="lanczos3")
            image = image.sharpen(sigma=0.6, m1=0.5, m2=1.5)
            image = to_srgb_8bit(image)
        image = image.copy_memory()
        check_pixels(image.width, image.height, limits)
        data = bytes(image.jpegsave_buffer(Q=limits.preview_quality, strip=True))
    except pyvips.Error as exc:
        raise ImagingError(f"libvips: {_vips_reason(exc)}") from exc
    source = "original" if from_original else "preview"
    return Enhanced(data, image.width, image.height,
                    f"{source}:pyvips" + (":lanczos3-sharpen" if upscaled else ":shrink"))


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
            src.seek(0)
            im = ImageOps.exif_transpose(src).convert("RGB")
            upscaled = im.width < target
            height = max(1, round(im.height * target / im.width))
            check_pixels(target, height, limits)
            im = im.resize((target, height), Image.Resampling.LANCZOS)
            if upscaled:
                im = im.filter(ImageFilter.UnsharpMask(radius=1.0, percent=60, threshold=2))
            out = io.BytesIO()
            im.save(out, "JPEG", quality=limits.preview_quality, optimize=True)
    except ImagingError:
        raise
    except Exception as exc:
        raise ImagingError(f"Pillow: {str(exc)[:200]}") from exc
    source = "original" if from_original else "preview"
    return Enhanced(out.getvalue(), target, height,
                    f"{source}:pillow" + (":lanczos-unsharp" if upscaled else ":shrink"))


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
