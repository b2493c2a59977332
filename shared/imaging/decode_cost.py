"""What decoding an image the way the workers do holds in memory, from its header alone.

`estimate(source, target_edge)` reads only a file's header (or the start of
its bytes) and returns an `Estimate`: the buffers the decoder must hold, not
just width x height. `shared.imaging.budget` holds the rule that compares it
with the job's budget.
- JPEG, sequential: libjpeg decodes at 1/2, 1/4 or 1/8 scale (shrink-on-load)
  row by row; the cost is the scaled image. Progressive: libjpeg keeps the
  whole coefficient buffer, 2 bytes per coefficient, 64 per 8x8 block, for
  every component at its own sampling (6 bytes a pixel at 4:4:4, 3 at 4:2:0),
  whatever the scale. The header comes from `shared.imaging.jpeg_header`.
- PNG: streamed row by row unless interlaced (Adam7 needs the whole image at
  its decoded depth: channels x bytes per sample).
- TIFF: one strip or one row of tiles at a time (a single strip of the whole
  image is the whole image); only the first page is read.
- GIF: the canvas at 4 bytes a pixel, twice (libnsgif keeps the previous
  frame); only the first frame is shown.
- BMP and other Pillow-only formats: Pillow decodes the whole image, then
  converts it (about three copies at 3-4 bytes a pixel).
- WebP, HEIF/AVIF: the decoders make the whole image (4 bytes a pixel; HEIF
  with more than 8 bits, 8).
- JPEG XL: libjxl makes the whole frame in float (4 bytes a channel) and
  libvips' copy at 1 or 2 bytes a channel.
Every estimate adds the preview being made (its pixels held twice while it
is encoded). A header our parsers cannot follow is judged by the decoder's
own header as a whole decode.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path

from shared.imaging import jpeg_header
from shared.imaging.jpeg_header import HeaderError, JpegHeader
from shared.imaging.renditions import PREVIEW

MB = 1024 * 1024
#: the default preview's long edge (`shared.imaging.renditions`); a render passes its own
PREVIEW_EDGE = PREVIEW.long_edge


@dataclass(frozen=True)
class Estimate:
    nbytes: int
    detail: str  # what was estimated, for the reason: "progressive JPEG 12000x12000 4:4:4"
    width: int = 0  # the image's size from its header, when known
    height: int = 0

    @property
    def mb(self) -> int:
        return math.ceil(self.nbytes / MB)


def output_bytes(width: int, height: int, bands: int = 3) -> int:
    """A rendered image held in memory and encoded (two copies of its 8-bit pixels)."""
    return 2 * width * height * bands


def fit(width: int, height: int, edge: int) -> tuple[int, int]:
    """The size of `width` x `height` shrunk (never enlarged) to fit `edge` x `edge`."""
    scale = min(1.0, edge / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


HEAD = 256 * 1024  # headers we parse ourselves live in the first bytes


def estimate(source: Path | str | bytes, target_edge: int = PREVIEW_EDGE) -> Estimate:
    """What decoding `source` to a `target_edge` px preview holds in memory, from its header."""
    head = _head(source)
    try:
        if head[:2] == b"\xff\xd8":
            return jpeg_estimate(jpeg_header.read(_jpeg_bytes(source, head)), target_edge)
        if head[:8] == b"\x89PNG\r\n\x1a\n":
            return png_estimate(head, target_edge)
        if head[:6] in (b"GIF87a", b"GIF89a"):
            return gif_estimate(head, target_edge)
        if head[:4] in (b"II*\x00", b"MM\x00*"):
            return _pillow_tiff_estimate(source, target_edge)
    except HeaderError:
        pass  # our parser could not follow it: judge by the decoder's own header, as a full decode
    return _generic_estimate(source, head, target_edge)


def _head(source: Path | str | bytes) -> bytes:
    if isinstance(source, bytes):
        return source[:HEAD]
    with open(source, "rb") as fh:
        return fh.read(HEAD)


def _jpeg_bytes(source: Path | str | bytes, head: bytes) -> bytes:
    """Enough of a JPEG to reach its frame header (APP segments may be up to 64 KiB each)."""
    if isinstance(source, bytes) or len(head) < HEAD:
        return source if isinstance(source, bytes) else head
    with open(source, "rb") as fh:
        return fh.read(4 * MB)


def jpeg_scale(width: int, height: int, target_edge: int) -> int:
    """libjpeg's shrink-on-load denominator (1, 2, 4, 8) that still gives `target_edge` px."""
    scale = 1
    while scale < 8 and max(width, height) // (scale * 2) >= target_edge:
        scale *= 2
    return scale


def coefficient_bytes(h: JpegHeader) -> int:
    """A progressive JPEG's whole-image coefficient buffer: 2 bytes x 64 per 8x8 block, every
    component at its own sampling, rounded to whole MCUs (what libjpeg keeps, whatever the scale)."""
    hmax = max(c[0] for c in h.components)
    vmax = max(c[1] for c in h.components)
    total = 0
    for hs, vs in h.components:
        blocks_w = math.ceil(math.ceil(h.width * hs / hmax) / 8)
        blocks_h = math.ceil(math.ceil(h.height * vs / vmax) / 8)
        blocks_w = math.ceil(blocks_w / hs) * hs
        blocks_h = math.ceil(blocks_h / vs) * vs
        total += blocks_w * blocks_h * 64 * 2
    return total


def jpeg_estimate(h: JpegHeader, target_edge: int = PREVIEW_EDGE) -> Estimate:
    vmax = max(c[1] for c in h.components)
    scale = jpeg_scale(h.width, h.height, target_edge)
    bands = 1 if len(h.components) == 1 else 3
    decoded = math.ceil(h.width / scale) * math.ceil(h.height / scale) * max(bands, len(h.components))
    rows = h.width * vmax * 8 * len(h.components) * 2  # one MCU row, decoded and upsampled
    total = decoded + rows + output_bytes(*fit(h.width, h.height, target_edge))
    kind = "progressive" if h.progressive else "sequential"
    detail = f"{kind} JPEG {h.width}x{h.height} {h.subsampling}"
    if h.progressive:
        coefficients = coefficient_bytes(h)
        total += coefficients
        detail += f": {math.ceil(coefficients / MB)} MB of coefficients"
    return Estimate(total, detail, h.width, h.height)


_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def png_estimate(head: bytes, target_edge: int = PREVIEW_EDGE) -> Estimate:
    if len(head) < 33 or head[12:16] != b"IHDR":
        raise HeaderError("PNG without an IHDR chunk")
    width, height, depth, colour, _, _, interlace = struct.unpack_from(">IIBBBBB", head, 16)
    if not width or not height or colour not in _PNG_CHANNELS:
        raise HeaderError("invalid PNG header")
    channels = 3 if colour == 3 else _PNG_CHANNELS[colour]  # a palette decodes to RGB(A)
    sample = 2 if depth == 16 else 1
    row = width * channels * sample
    out = output_bytes(*fit(width, height, target_edge))
    if interlace:
        return Estimate(row * height + out, f"interlaced PNG {width}x{height}, {channels}x{depth} bit",
                        width, height)
    return Estimate(row * 4 + out, f"PNG {width}x{height}", width, height)


def gif_estimate(head: bytes, target_edge: int = PREVIEW_EDGE) -> Estimate:
    if len(head) < 13:
        raise HeaderError("truncated GIF header")
    width, height = struct.unpack_from("<HH", head, 6)
    pos = 13
    if head[10] & 0x80:
        pos += 3 * (2 << (head[10] & 7))
    # the first frame may claim more than the screen: decoders allocate for the larger
    while pos < len(head) - 10:
        if head[pos] == 0x2C:
            _, _, fw, fh = struct.unpack_from("<HHHH", head, pos + 1)
            width, height = max(width, fw), max(height, fh)
            break
        if head[pos] == 0x21:  # an extension: skip its sub-blocks
            pos += 2
            while pos < len(head) and head[pos]:
                pos += head[pos] + 1
            pos += 1
            continue
        break
    if not width or not height:
        raise HeaderError("GIF without a size")
    return Estimate(2 * width * height * 4 + output_bytes(*fit(width, height, target_edge)),
                    f"GIF {width}x{height}", width, height)


def _pillow_tiff_estimate(source: Path | str | bytes, target_edge: int) -> Estimate:
    """TIFF: the first page's largest strip or row of tiles (Pillow reads only the IFD)."""
    import io

    from PIL import Image

    try:  # a claim over Pillow's bomb limit raises here and is judged by libvips' header instead
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
            width, height = im.size
            bands = max(1, len(im.getbands()))
            depth = 2 if im.mode.startswith("I;16") or im.mode in ("I", "F") else 1
            if im.mode in ("I", "F"):
                depth = 4
            boxes = [box for _, box, _, _ in im.tile if box is not None]
            rows = max((box[3] - box[1] for box in boxes), default=0) or height
            tiled = any(box[2] - box[0] < width for box in boxes)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise HeaderError(f"unreadable TIFF header: {exc}") from exc
    buffered = min(rows, height) * width * bands * depth * (2 if tiled else 1)
    how = f"tiles {rows} rows high" if tiled else "one strip" if rows >= height else f"strips of {rows} rows"
    return Estimate(buffered + output_bytes(*fit(width, height, target_edge)),
                    f"TIFF {width}x{height}, {how}", width, height)


def _generic_estimate(source: Path | str | bytes, head: bytes, target_edge: int) -> Estimate:
    """WebP, HEIF/AVIF, JPEG XL through libvips' header; BMP and the rest through Pillow's."""
    fmt, width, height, bands, depth = _vips_header(source)
    out = output_bytes(*fit(width, height, target_edge))
    if fmt in ("webp",):
        return Estimate(width * height * 4 + out, f"WebP {width}x{height}", width, height)
    if fmt in ("heif",):
        per = 8 if depth > 1 else 4
        return Estimate(width * height * per + out, f"HEIF/AVIF {width}x{height}", width, height)
    if fmt in ("jxl",):
        # libjxl decodes the whole frame in float (4 bytes a channel, 3 or 4 channels) and
        # hands libvips its 8- or 16-bit copy
        channels = max(3, bands)
        return Estimate(width * height * channels * (4 + depth) + out, f"JPEG XL {width}x{height}",
                        width, height)
    return pillow_estimate(fmt, width, height, bands, depth, target_edge)


def pillow_estimate(fmt: str, width: int, height: int, bands: int, depth: int = 1,
                    target_edge: int = PREVIEW_EDGE) -> Estimate:
    """A whole-image decode (Pillow, or any decoder without streaming): about three copies."""
    decoded = 3 * width * height * max(bands, 3) * depth
    return Estimate(decoded + output_bytes(*fit(width, height, target_edge)),
                    f"{fmt.upper()} {width}x{height}, decoded whole", width, height)


def _vips_header(source: Path | str | bytes) -> tuple[str, int, int, int, int]:
    import pyvips

    try:
        if isinstance(source, bytes):
            img = pyvips.Image.new_from_buffer(source, "", access="sequential")
        else:
            img = pyvips.Image.new_from_file(str(source), access="sequential")
        loader = str(img.get("vips-loader")) if img.get_typeof("vips-loader") else ""
        depth = {"ushort": 2, "short": 2, "uint": 4, "int": 4, "float": 4, "double": 8}.get(img.format, 1)
        return loader.removesuffix("_source").removesuffix("_buffer").removesuffix("load"), \
            img.width, img.height, img.bands, depth
    except pyvips.Error:
        pass
    return _pillow_header(source)


def _pillow_header(source: Path | str | bytes) -> tuple[str, int, int, int, int]:
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
            depth = 2 if "16" in im.mode else 4 if im.mode in ("I", "F") else 1
            return (im.format or "image").lower(), im.width, im.height, len(im.getbands()), depth
    except Exception as exc:
        raise HeaderError(f"no readable image header: {str(exc)[:200]}") from exc
