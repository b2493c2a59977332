"""The one JPEG frame-header parser: what the budget and the fast path need to know before decoding
(and `shared.filetype.jpeg_dimensions` for a thumbnail's size).

`read(data)` walks the marker segments from SOI to the first frame header
(SOFn) and returns its size, precision, kind and the sampling factors of
each component; it never touches the entropy-coded data. `data` may be the
file's bytes or a memory map of it: only the first `SCAN` bytes are read
(APP segments before the frame header are at most 64 KiB each). A header it
cannot follow raises `HeaderError`.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass

SCAN = 4 * 1024 * 1024

#: frame markers by kind; libjpeg-turbo's 8-bit scaled decoder reads the first three
KINDS = {0xC0: "baseline", 0xC1: "extended", 0xC2: "progressive", 0xC3: "lossless",
         0xC5: "hierarchical", 0xC6: "hierarchical", 0xC7: "hierarchical",
         0xC9: "arithmetic-coded", 0xCA: "arithmetic-coded", 0xCB: "arithmetic-coded",
         0xCD: "arithmetic-coded", 0xCE: "arithmetic-coded", 0xCF: "arithmetic-coded"}
#: frames whose scans refine the whole image: the decoder keeps every coefficient
PROGRESSIVE = {0xC2, 0xC6, 0xCA, 0xCE}
SUBSAMPLING = {(1, 1): "4:4:4", (2, 1): "4:2:2", (2, 2): "4:2:0", (1, 2): "4:4:0"}


class HeaderError(ValueError):
    """Not a JPEG, or a header this parser cannot follow."""


@dataclass(frozen=True)
class JpegHeader:
    width: int
    height: int
    kind: str  # baseline | extended | progressive | lossless | hierarchical | arithmetic-coded
    progressive: bool
    precision: int
    components: tuple[tuple[int, int], ...]  # (h, v) sampling factors per component

    @property
    def subsampling(self) -> str:
        if len(self.components) == 1:
            return "grey"
        (h0, v0), rest = self.components[0], self.components[1:]
        if all(c == (1, 1) for c in rest):
            return SUBSAMPLING.get((h0, v0), f"{h0}x{v0}")
        return "mixed"


def read(data: bytes | mmap.mmap) -> JpegHeader:
    """The frame header of a JPEG: one pass over its marker segments (never the entropy data)."""
    if data[:2] != b"\xff\xd8":
        raise HeaderError("not a JPEG")
    pos, end = 2, min(len(data), SCAN)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            raise HeaderError("a JPEG marker was expected")
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
        if marker in KINDS:
            return _frame(data, pos, end, marker)
        if length < 2:
            raise HeaderError("a JPEG segment length is broken")
        pos += 2 + length
    raise HeaderError("no JPEG frame header found")


def _frame(data: bytes | mmap.mmap, pos: int, end: int, marker: int) -> JpegHeader:
    if pos + 10 > end:
        raise HeaderError("truncated JPEG frame header")
    precision, height, width, count = struct.unpack_from(">BHHB", data, pos + 4)
    comps = []
    for i in range(count):
        off = pos + 10 + 3 * i
        if off + 2 > end:
            raise HeaderError("truncated JPEG frame header")
        h, v = data[off + 1] >> 4, data[off + 1] & 15
        if not (1 <= h <= 4 and 1 <= v <= 4):
            raise HeaderError("invalid JPEG sampling factors")
        comps.append((h, v))
    if not width or not height or not comps:
        raise HeaderError("JPEG frame header without a size")
    return JpegHeader(width, height, KINDS[marker], marker in PROGRESSIVE, precision, tuple(comps))
