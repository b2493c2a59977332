"""The JPEG fast path: decode only as many pixels as the preview needs.

libvips (and Pillow's `draft`) shrink a JPEG on load by 1/2, 1/4 or 1/8;
libjpeg-turbo can scale the inverse DCT by any M/8. A 6000x4000 photo needs
2048 px: libvips decodes it at 1/2 (6 MP) and resizes, a 3/8 decode gives
2250x1500 (3.4 MP) with less IDCT, upsampling, colour conversion and resize
work. The Huffman decoding of the whole file is the same either way.

`render_scaled(path, limits)`: read the header, pick the smallest M/8 whose
output still covers the preview box (simplejpeg's `min_width`/`min_height`),
decode once, resize to the exact size (Lanczos3), apply the EXIF orientation
once, convert to sRGB from an embedded ICC profile, then encode the preview
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
import struct
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyvips
import simplejpeg

from shared.imaging.model import Attempt, ImagingError, Limits, Rendered, check_pixels
from shared.imaging.vips import finish

METHOD = "source:turbo-scaled"
#: frame markers libjpeg-turbo's 8-bit, scaled, Huffman decoder handles: baseline, extended, progressive
HUFFMAN_DCT = {0xC0: "baseline", 0xC1: "extended", 0xC2: "progressive"}
#: the other frame kinds, left to libvips
OTHER_FRAMES = {0xC3: "lossless", 0xC5: "hierarchical", 0xC6: "hierarchical", 0xC7: "hierarchical",
                0xC9: "arithmetic-coded", 0xCA: "arithmetic-coded", 0xCB: "arithmetic-coded",
                0xCD: "arithmetic-coded", 0xCE: "arithmetic-coded", 0xCF: "arithmetic-coded"}
HEADER_SCAN = 1024 * 1024  # APP segments before the frame header are at most 64 KiB each


class Unsuitable(Exception):
    """The file is not for the fast path (checked from its header, nothing decoded)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Frame:
    kind: str  # baseline | extended | progressive | lossless | arithmetic-coded | hierarchical
    precision: int
    width: int
    height: int
    components: int


def read_frame(data: bytes | mmap.mmap) -> Frame:
    """The JPEG frame header: one pass over the marker segments before it, never the entropy data."""
    if data[:2] != b"\xff\xd8":
        raise Unsuitable("not a JPEG")
    pos, end = 2, min(len(data), HEADER_SCAN)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):
            break
        (length,) = struct.unpack_from(">H", data, pos + 2)
        kind = HUFFMAN_DCT.get(marker) or OTHER_FRAMES.get(marker)
        if kind is not None and pos + 10 <= end:
            precision, height, width, count = struct.unpack_from(">BHHB", data, pos + 4)
            return Frame(kind, precision, width, height, count)
        pos += 2 + length
    raise Unsuitable("no JPEG frame header in the first MiB")


def starts_like_jpeg(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(3) == b"\xff\xd8\xff"


def target_size(width: int, height: int, edge: int) -> tuple[int, int]:
    """The preview's size: `width` x `height` shrunk (never enlarged) to fit `edge` x `edge`."""
    scale = min(1.0, edge / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def decode_memory(frame: Frame, scaled: tuple[int, int], target: tuple[int, int], file_bytes: int) -> int:
    """What the fast path holds at its peak: the mapped file, the scaled decode, the preview
    twice (resized, encoded) and, for progressive files, libjpeg's whole-image coefficient
    buffer (2 bytes per coefficient, at most 3 full-size components' worth at 4:4:4)."""
    held = file_bytes + scaled[0] * scaled[1] * 3 + 2 * target[0] * target[1] * 3
    if frame.kind == "progressive":
        held += frame.width * frame.height * 2 * frame.components
    return held


def check_budget(needed_bytes: int, frame: Frame, limits: Limits) -> None:
    """The memory budget's call site for this decode path (`shared.imaging.budget`)."""
    from shared.imaging import budget

    budget.require(budget.Estimate(needed_bytes, f"{frame.kind} JPEG {frame.width}x{frame.height}"
                                                 " through the scaled decoder", frame.width, frame.height),
                   limits.memory_budget)


def _suitability(frame: Frame, colorspace: str) -> None:
    if frame.kind not in HUFFMAN_DCT.values():
        raise Unsuitable(f"{frame.kind} JPEG")
    if frame.precision != 8:
        raise Unsuitable(f"{frame.precision}-bit JPEG")
    if colorspace not in ("YCbCr", "Gray"):
        raise Unsuitable(f"{colorspace} JPEG")


def _is_srgb(profile: bytes) -> bool:
    """Whether an ICC profile's description names sRGB (then converting would change nothing)."""
    if len(profile) < 132:
        return False
    (count,) = struct.unpack_from(">I", profile, 128)
    for i in range(min(count, 100)):
        sig, offset, size = struct.unpack_from(">4sII", profile, 132 + 12 * i) if 144 + 12 * i <= len(
            profile) else (b"", 0, 0)
        if sig == b"desc":
            text = profile[offset:offset + min(size, 512)]
            return b"sRGB" in text or "sRGB".encode("utf-16-be") in text
    return False


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


def _upright_srgb(image: pyvips.Image, header: pyvips.Image) -> pyvips.Image:
    fields = header.get_fields()
    if "icc-profile-data" in fields:
        profile = header.get("icc-profile-data")
        if not _is_srgb(profile):
            image = image.copy()
            image.set_type(pyvips.GValue.blob_type, "icc-profile-data", profile)
            try:
                image = image.icc_transform("srgb", embedded=True, intent="relative")
            except pyvips.Error:
                pass  # a broken profile: the pixels as they are, as the libvips path shows them
    orientation = header.get("orientation") if "orientation" in fields else 1
    if orientation in range(2, 9):
        image = image.copy()
        image.set_type(pyvips.GValue.gint_type, "orientation", orientation)
        image = image.autorot()
    return image


def scaled_preview(path: Path, limits: Limits) -> pyvips.Image:
    """The preview image (upright, sRGB, exact size) from one scaled decode."""
    with open(path, "rb") as fh:
        data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        frame = read_frame(data)
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
    if (w, h) != target:
        image = image.resize(target[0] / w, vscale=target[1] / h, kernel="lanczos3")
    image = image.copy(interpretation="b-w" if bands == 1 else "srgb")
    return _upright_srgb(image, header).copy_memory()


def render_scaled(path: Path, limits: Limits) -> Rendered:
    """Preview and thumbnail through the fast path; `Unsuitable` or `ImagingError` to fall back."""
    attempts: list[Attempt] = []
    started = time.perf_counter()
    image = scaled_preview(path, limits)
    rendered = finish(image, limits, METHOD, attempts)
    attempts.insert(0, Attempt("preview_extraction", METHOD, True, None,
                               (time.perf_counter() - started) * 1000, len(rendered.preview)))
    return rendered
