"""What a file is, from its first bytes only (never its name or declared type).

Callers pass the first `HEAD_BYTES` bytes. TIFF-based RAW formats share the
TIFF header, so IFD0 is parsed (within the head) for `DNGVersion` and `Make`.
Nothing here raises on garbage: unknown input is `None`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

HEAD_BYTES = 65536


@dataclass(frozen=True)
class FileType:
    format: str
    mime: str
    ext: str
    is_raw: bool = False


def _std(fmt: str, mime: str, ext: str) -> FileType:
    return FileType(fmt, mime, ext, False)


def _raw(fmt: str, ext: str | None = None) -> FileType:
    return FileType(fmt, f"image/x-{fmt}", ext or fmt, True)


JPEG = _std("jpeg", "image/jpeg", "jpg")
PNG = _std("png", "image/png", "png")
GIF = _std("gif", "image/gif", "gif")
WEBP = _std("webp", "image/webp", "webp")
BMP = _std("bmp", "image/bmp", "bmp")
TIFF = _std("tiff", "image/tiff", "tiff")
HEIC = _std("heic", "image/heic", "heic")
HEIF = _std("heif", "image/heif", "heif")
AVIF = _std("avif", "image/avif", "avif")
JXL = _std("jxl", "image/jxl", "jxl")
#: a JPEG XL file in the ISOBMFF container (signature box), or a bare codestream
_JXL_CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n"

SUPPORTED_DESCRIPTION = (
    "Supported: JPEG, PNG, GIF, WebP, BMP, TIFF, HEIC/HEIF, AVIF, JPEG XL and camera RAW "
    "(CR2, CR3, CRW, NEF, NRW, ARW, SR2, SRF, DNG, RAF, ORF, RW2, PEF, SRW, X3F, 3FR, IIQ, "
    "ERF, MRW, KDC, DCR, MOS)."
)

_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
_HEIF_BRANDS = {b"mif1", b"msf1", b"mif2"}
_AVIF_BRANDS = {b"avif", b"avis"}

# Make (upper-case prefix) -> RAW kind, for TIFF-structured RAW files
_MAKE_RAW = (
    ("NIKON", "nef"),
    ("SONY", "arw"),
    ("PENTAX", "pef"),
    ("RICOH", "pef"),
    ("SAMSUNG", "srw"),
    ("HASSELBLAD", "3fr"),
    ("PHASE ONE", "iiq"),
    ("LEAF", "mos"),
    ("KODAK", "dcr"),
    ("EASTMAN KODAK", "dcr"),
    ("EPSON", "erf"),
    ("CANON", "cr2"),
)

_TAG_MAKE = 0x010F
_TAG_DNG_VERSION = 0xC612
_TAG_SUBIFDS = 0x014A


def detect(head: bytes) -> FileType | None:
    try:
        return _detect(head)
    except (struct.error, IndexError, ValueError):
        return None


def _detect(h: bytes) -> FileType | None:
    if len(h) < 12:
        return None
    if h[:3] == b"\xff\xd8\xff":
        return JPEG
    if h[:12] == _JXL_CONTAINER or h[:2] == b"\xff\x0a":
        return JXL
    if h[:8] == b"\x89PNG\r\n\x1a\n":
        return PNG
    if h[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if h[:4] == b"RIFF" and h[8:12] == b"WEBP":
        return WEBP
    if h[:2] == b"BM" and len(h) >= 26 and _plausible_bmp(h):
        return BMP
    if h[:15] == b"FUJIFILMCCD-RAW":
        return _raw("raf")
    if h[:4] == b"FOVb":
        return _raw("x3f")
    if h[:4] == b"\x00MRM":
        return _raw("mrw")
    if h[:2] == b"II" and h[6:14] == b"HEAPCCDR":
        return _raw("crw")
    if h[4:8] == b"ftyp":
        return _isobmff(h)
    if h[:4] in (b"IIRO", b"IIRS", b"MMOR"):
        return _raw("orf")
    if h[:4] == b"IIU\x00":
        return _raw("rw2")
    if h[:4] in (b"II*\x00", b"MM\x00*"):
        return _tiff_family(h)
    return None


def _plausible_bmp(h: bytes) -> bool:
    header_size = struct.unpack_from("<I", h, 14)[0]
    return header_size in (12, 40, 52, 56, 64, 108, 124)


def _isobmff(h: bytes) -> FileType | None:
    size = struct.unpack_from(">I", h, 0)[0]
    brands = [h[8:12]]
    end = min(len(h), size if size >= 16 else 16)
    brands += [h[i:i + 4] for i in range(16, end - 3, 4)]
    major = brands[0]
    if major == b"crx " or b"crx " in brands:
        return _raw("cr3")
    if major in _AVIF_BRANDS:
        return AVIF
    if major in _HEIC_BRANDS:
        return HEIC
    if major in _HEIF_BRANDS:
        if any(b in _AVIF_BRANDS for b in brands) and not any(b in _HEIC_BRANDS for b in brands):
            return AVIF
        return HEIC if any(b in _HEIC_BRANDS for b in brands) else HEIF
    if any(b in _AVIF_BRANDS for b in brands):
        return AVIF
    if any(b in _HEIC_BRANDS for b in brands):
        return HEIC
    return None


def _tiff_family(h: bytes) -> FileType:
    if h[8:10] == b"CR" and h[:2] == b"II":
        return _raw("cr2")
    if h[8:12] == b"IIII":
        return _raw("iiq")
    endian = "<" if h[:2] == b"II" else ">"
    tags = _ifd_tags(h, endian, struct.unpack_from(endian + "I", h, 4)[0])
    if _TAG_DNG_VERSION in tags:
        return _raw("dng")
    make = _ascii(h, endian, tags.get(_TAG_MAKE)).upper()
    for prefix, kind in _MAKE_RAW:
        if make.startswith(prefix):
            if kind == "cr2":
                break  # a Canon TIFF without the CR2 marker is an ordinary TIFF
            if _TAG_SUBIFDS not in tags:
                return TIFF  # the maker's software wrote an ordinary TIFF (scans, exports)
            return _raw(kind)
    return TIFF


def _ifd_tags(h: bytes, endian: str, offset: int) -> dict[int, tuple[int, int, int]]:
    """tag -> (type, count, value_or_offset) for one IFD inside the head bytes."""
    if offset <= 0 or offset + 2 > len(h):
        return {}
    count = struct.unpack_from(endian + "H", h, offset)[0]
    tags: dict[int, tuple[int, int, int]] = {}
    for i in range(min(count, 512)):
        pos = offset + 2 + i * 12
        if pos + 12 > len(h):
            break
        tag, typ, n = struct.unpack_from(endian + "HHI", h, pos)
        value = struct.unpack_from(endian + "I", h, pos + 8)[0]
        tags[tag] = (typ, n, value if not (typ == 2 and n <= 4) else pos + 8)
    return tags


def _ascii(h: bytes, endian: str, entry: tuple[int, int, int] | None) -> str:
    if entry is None or entry[0] != 2:
        return ""
    _, n, where = entry
    raw = h[where:where + min(n, 64)]
    return raw.split(b"\0", 1)[0].decode("ascii", "replace").strip()


def jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's start-of-frame header, without decoding; None if absent
    (`shared.imaging.jpeg_header` parses it)."""
    from shared.imaging import jpeg_header

    try:
        frame = jpeg_header.read(data)
    except jpeg_header.HeaderError:
        return None
    return frame.width, frame.height
