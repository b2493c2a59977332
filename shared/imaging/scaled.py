"""The JPEG fast path: decode only as many pixels as the preview needs.

libvips (and Pillow's `draft`) shrink a JPEG on load by 1/2, 1/4 or 1/8;
libjpeg-turbo can scale the inverse DCT by any M/8. A 6000x4000 photo needs
2048 px: libvips decodes it at 1/2 (6 MP) and resizes, a 3/8 decode gives
2250x1500 (3.4 MP) with less IDCT, upsampling, colour conversion and resize
work. The Huffman decoding of the whole file is the same either way.

`render_scaled(path, limits)`: read the header, pick the smallest M/8 whose
output still covers the preview box (simplejpeg's `min_width`/`min_height`),
decode once, resize to the exact size (Lanczos3), apply the EXIF orientation
once, colour-manage from the source's profile or EXIF colour space
(`shared.imaging.colour`; nothing for sRGB), then encode the preview
and cut the thumbnail from it like every other path (`method`
`source:turbo-scaled`).

Only 8-bit, Huffman-coded, baseline or progressive JPEGs in YCbCr or grey
come here. `Unsuitable` (raised before any decoding) names why a file is left
to the libvips path: CMYK/YCCK, 12-bit, lossless, arithmetic-coded or
hierarchical frames, a frame header we cannot find; `ImagingError` when the
binding refuses the data (truncated, corrupt): the libvips path then decides.
"""

from __future__ import annotations

import mmap
import time
from pathlib import Path

import numpy as np
import pyvips
import simplejpeg

from shared.imaging import budget, colour, decode_cost, jpeg_header
from shared.imaging.jpeg_header import JpegHeader
from shared.imaging.model import Attempt, ColourNote, ImagingError, Limits, Rendered, check_pixels
from shared.imaging.vips import finish, shrink_upright

METHOD = "source:turbo-scaled"
#: what libjpeg-turbo's 8-bit, scaled, Huffman decoder handles; the other kinds are left to libvips
HUFFMAN_DCT = ("baseline", "extended", "progressive")


class Unsuitable(Exception):
    """The file is not for the fast path (checked from its header, nothing decoded)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def starts_like_jpeg(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(3) == b"\xff\xd8\xff"


def target_size(width: int, height: int, edge: int) -> tuple[int, int]:
    """The preview's size: `width` x `height` shrunk (never enlarged) to fit `edge` x `edge`."""
    scale = min(1.0, edge / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def decode_memory(frame: JpegHeader, scaled: tuple[int, int], target: tuple[int, int],
                  file_bytes: int) -> int:
    """What the fast path holds at its peak: the mapped file, the scaled decode, the preview
    twice (resized, encoded) and, for progressive files, libjpeg's whole-image coefficient
    buffer (`decode_cost.coefficient_bytes`)."""
    held = file_bytes + scaled[0] * scaled[1] * 3 + 2 * target[0] * target[1] * 3
    if frame.progressive:
        held += decode_cost.coefficient_bytes(frame)
    return held


def check_budget(needed_bytes: int, frame: JpegHeader, limits: Limits) -> None:
    """The memory budget's call site for this decode path (`shared.imaging.budget`)."""
    budget.require(budget.Estimate(needed_bytes, f"{frame.kind} JPEG {frame.width}x{frame.height}"
                                                 " through the scaled decoder", frame.width, frame.height),
                   limits.memory_budget)


def read_header(data: bytes | mmap.mmap) -> JpegHeader:
    """The frame header (`shared.imaging.jpeg_header`); one it cannot follow is `Unsuitable`."""
    try:
        return jpeg_header.read(data)
    except jpeg_header.HeaderError as exc:
        raise Unsuitable(str(exc)) from exc


def _suitability(frame: JpegHeader, colorspace: str) -> None:
    if frame.kind not in HUFFMAN_DCT:
        raise Unsuitable(f"{frame.kind} JPEG")
    if frame.precision != 8:
        raise Unsuitable(f"{frame.precision}-bit JPEG")
    if colorspace not in ("YCbCr", "Gray"):
        raise Unsuitable(f"{colorspace} JPEG")


def _header(path: Path) -> pyvips.Image:
    """libvips' view of the header: EXIF orientation and the ICC profile, nothing decoded."""
    try:
        return pyvips.Image.new_from_file(str(path), access="sequential")
    except pyvips.Error as exc:
        raise Unsuitable(f"libvips cannot read the header: {str(exc).splitlines()[0][:200]}") from exc


def _decode(data: mmap.mmap, target: tuple[int, int], grey: bool) -> np.ndarray:
    try:
        pixels: np.ndarray = simplejpeg.decode_jpeg(data, colorspace="GRAY" if grey else "RGB",
                                                    min_width=target[0], min_height=target[1], strict=True)
        return pixels
    except ValueError as exc:
        raise ImagingError(f"libjpeg-turbo refused the data: {str(exc)[:200]}") from exc


def scaled_preview(path: Path, limits: Limits) -> tuple[pyvips.Image, ColourNote]:
    """The preview image (upright, colour-managed, exact size) from one scaled decode.

    The colour space comes from libvips' reading of the header (profile, EXIF);
    an sRGB source costs nothing more (`colour.prepare` returns it as it is)."""
    with open(path, "rb") as fh:
        data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        frame = read_header(data)
        try:
            _, _, colorspace, _ = simplejpeg.decode_jpeg_header(data)
        except ValueError as exc:
            raise Unsuitable(f"libjpeg-turbo cannot read the header: {str(exc)[:200]}") from exc
        _suitability(frame, colorspace)
        check_pixels(frame.width, frame.height, limits)
        target = target_size(frame.width, frame.height, limits.preview_max)
        height, width, _, _ = simplejpeg.decode_jpeg_header(data, min_width=target[0], min_height=target[1])
        check_budget(decode_memory(frame, (width, height), target, len(data)), frame, limits)
        header = _header(path)
        pixels = _decode(data, target, colorspace == "Gray")
    finally:
        data.close()
    h, w = pixels.shape[:2]
    bands = 1 if pixels.ndim == 2 else pixels.shape[2]
    image = pyvips.Image.new_from_memory(np.ascontiguousarray(pixels).data, w, h, bands, "uchar")
    image = image.copy(interpretation="b-w" if bands == 1 else "srgb")
    orientation = header.get("orientation") if "orientation" in header.get_fields() else 1
    image = shrink_upright(image, target[0], target[1], orientation)  # an exact-size decode is not resized
    image, note = colour.prepare(image, colour.of_image(header), limits.gamut)
    return image.copy_memory(), note


def render_scaled(path: Path, limits: Limits) -> Rendered:
    """Preview and thumbnail through the fast path; `Unsuitable` or `ImagingError` to fall back."""
    attempts: list[Attempt] = []
    started = time.perf_counter()
    image, note = scaled_preview(path, limits)
    rendered = finish(image, limits, METHOD, attempts, colour=note)
    attempts.insert(0, Attempt("preview_extraction", METHOD, True, None,
                               (time.perf_counter() - started) * 1000, len(rendered.preview)))
    return rendered
