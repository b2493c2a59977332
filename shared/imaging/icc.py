"""ICC profiles as bytes: read what a profile says it is, and build the small matrix profiles we need.

Reading (`Profile.parse`): the header's colour space, the description
(`desc` of v2 or `mluc` of v4), the colorants (`rXYZ`/`gXYZ`/`bXYZ`) and the
tone curves (`curv` and `para`), enough to name a profile by what it does
(sRGB, Display P3, Adobe RGB...) rather than by what its description claims.
A profile we cannot follow raises `ProfileError`.

Building (`matrix_profile`, `grey_profile`): v2 matrix/TRC profiles from
published primaries and curves, a few hundred bytes each. The pipeline needs
one of its own: Adobe RGB (1998), for the files that say so only in EXIF
(ColorSpace uncalibrated with InteropIndex R03) and carry no profile.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache

D50 = (0.9642, 1.0, 0.8249)
D65_XY = (0.3127, 0.3290)
#: Bradford cone response (for adapting D65 primaries to the D50 PCS)
_BRADFORD = ((0.8951, 0.2664, -0.1614), (-0.7502, 1.7135, 0.0367), (0.0389, -0.0685, 1.0296))
#: sRGB's curve as an ICC parametric curve (type 3): g, a, b, c, d
SRGB_CURVE = (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)


class ProfileError(ValueError):
    """The bytes are not an ICC profile we can read."""


@dataclass(frozen=True)
class Profile:
    colour_space: str  # the header's signature, stripped: RGB, CMYK, GRAY, Lab...
    description: str
    colorants: tuple[tuple[float, float, float], ...] | None  # rXYZ, gXYZ, bXYZ (D50) when a matrix profile
    curve: tuple[float, ...] | None  # the red (or grey) tone curve at 0.1, 0.3, 0.5, 0.7, 0.9

    @classmethod
    def parse(cls, data: bytes) -> Profile:
        return _parse(bytes(data))


SAMPLES = (0.1, 0.3, 0.5, 0.7, 0.9)


@lru_cache(maxsize=64)
def _parse(data: bytes) -> Profile:
    if len(data) < 132 or data[36:40] != b"acsp":
        raise ProfileError("no ICC header")
    tags = _tags(data)
    colorants = None
    if all(sig in tags for sig in (b"rXYZ", b"gXYZ", b"bXYZ")):
        colorants = tuple(_xyz(tags[sig]) for sig in (b"rXYZ", b"gXYZ", b"bXYZ"))
    trc = tags.get(b"rTRC") or tags.get(b"kTRC")
    return Profile(data[16:20].decode("latin-1").strip(), _description(tags.get(b"desc", b"")), colorants,
                   _curve(trc) if trc else None)


def _tags(data: bytes) -> dict[bytes, bytes]:
    (count,) = struct.unpack_from(">I", data, 128)
    if count > 200 or 132 + 12 * count > len(data):
        raise ProfileError("a tag table past the profile's end")
    tags: dict[bytes, bytes] = {}
    for i in range(count):
        sig, offset, size = struct.unpack_from(">4sII", data, 132 + 12 * i)
        if offset + size > len(data):
            raise ProfileError(f"tag {sig!r} past the profile's end")
        tags[sig] = data[offset:offset + size]
    return tags


def _description(tag: bytes) -> str:
    if tag[:4] == b"desc" and len(tag) >= 12:
        (n,) = struct.unpack_from(">I", tag, 8)
        return tag[12:12 + n].split(b"\0", 1)[0].decode("latin-1", "replace").strip()
    if tag[:4] == b"mluc" and len(tag) >= 28:
        length, offset = struct.unpack_from(">II", tag, 20)
        return tag[offset:offset + length].decode("utf-16-be", "replace").strip("\0 ")
    return ""


def _s15(raw: int) -> float:
    return (raw - (1 << 32) if raw & 0x80000000 else raw) / 65536


def _xyz(tag: bytes) -> tuple[float, float, float]:
    if tag[:4] != b"XYZ " or len(tag) < 20:
        raise ProfileError("a colorant that is not an XYZ value")
    x, y, z = struct.unpack_from(">III", tag, 8)
    return _s15(x), _s15(y), _s15(z)


def _curve(tag: bytes) -> tuple[float, ...]:
    if tag[:4] == b"curv":
        (n,) = struct.unpack_from(">I", tag, 8)
        if n == 0:
            return SAMPLES
        if n == 1:
            gamma = struct.unpack_from(">H", tag, 12)[0] / 256
            return tuple(x ** gamma for x in SAMPLES)
        table = struct.unpack_from(f">{n}H", tag, 12)
        return tuple(_interpolate(table, x) for x in SAMPLES)
    if tag[:4] == b"para":
        kind = struct.unpack_from(">H", tag, 8)[0]
        count = {0: 1, 1: 3, 2: 4, 3: 5, 4: 7}.get(kind)
        if count is None:
            raise ProfileError(f"parametric curve type {kind}")
        params = [_s15(v) for v in struct.unpack_from(f">{count}I", tag, 12)]
        return tuple(parametric(kind, params, x) for x in SAMPLES)
    raise ProfileError(f"tone curve of type {tag[:4]!r}")


def _interpolate(table: tuple[int, ...], x: float) -> float:
    pos = x * (len(table) - 1)
    i = min(int(pos), len(table) - 2)
    return (table[i] + (table[i + 1] - table[i]) * (pos - i)) / 65535


def parametric(kind: int, p: list[float], x: float) -> float:
    """ICC parametric curve types 0-4 at `x`."""
    g = p[0]
    if kind == 0:
        return float(x ** g)
    if kind == 1:
        return float((p[1] * x + p[2]) ** g) if x >= -p[2] / p[1] else 0.0
    if kind == 2:
        return float((p[1] * x + p[2]) ** g + p[3]) if x >= -p[2] / p[1] else p[3]
    if kind == 3:
        return float((p[1] * x + p[2]) ** g) if x >= p[4] else p[3] * x
    return float((p[1] * x + p[2]) ** g + p[5]) if x >= p[4] else p[3] * x + p[6]


# -- building ---------------------------------------------------------------------------------


def _mul(m: tuple[tuple[float, ...], ...], v: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(sum(a * b for a, b in zip(row, v, strict=True)) for row in m)


def _inverse(m: tuple[tuple[float, ...], ...]) -> tuple[tuple[float, ...], ...]:
    (a, b, c), (d, e, f), (g, h, i) = m
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    return ((( e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det),
            ((f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det),
            ((d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det))


def _xy_to_xyz(xy: tuple[float, float]) -> tuple[float, float, float]:
    x, y = xy
    return x / y, 1.0, (1 - x - y) / y


def d50_colorants(primaries: tuple[tuple[float, float], ...], white: tuple[float, float] = D65_XY
                  ) -> tuple[tuple[float, ...], ...]:
    """The rXYZ, gXYZ, bXYZ of RGB primaries (xy) with `white`, adapted to D50 by Bradford."""
    cols = [_xy_to_xyz(p) for p in primaries]
    m = tuple(tuple(cols[j][i] for j in range(3)) for i in range(3))
    scale = _mul(_inverse(m), _xy_to_xyz(white))
    src, dst = _mul(_BRADFORD, _xy_to_xyz(white)), _mul(_BRADFORD, D50)
    gain = tuple(tuple(_BRADFORD[i][j] * dst[i] / src[i] for j in range(3)) for i in range(3))
    adapt = tuple(tuple(sum(_inverse(_BRADFORD)[i][k] * gain[k][j] for k in range(3)) for j in range(3))
                  for i in range(3))
    return tuple(_mul(adapt, tuple(c * scale[j] for c in cols[j])) for j in range(3))


def _fixed(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def _xyz_tag(xyz: tuple[float, ...]) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_fixed(v) for v in xyz)


def _desc_tag(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    return b"desc\0\0\0\0" + struct.pack(">I", len(ascii_)) + ascii_ + b"\0" * (4 + 4 + 2 + 1 + 67)


def _curve_tag(curve: float | tuple[float, ...]) -> bytes:
    if isinstance(curve, float):
        return b"curv\0\0\0\0" + struct.pack(">IH", 1, round(curve * 256)) + b"\0\0"
    return b"para\0\0\0\0" + struct.pack(">H", 3) + b"\0\0" + b"".join(_fixed(v) for v in curve)


def _assemble(colour_space: bytes, tags: list[tuple[bytes, bytes]]) -> bytes:
    table, body, offset = b"", b"", 128 + 4 + 12 * len(tags)
    for sig, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += struct.pack(">4sII", sig, offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (struct.pack(">I4sI4s4s4s", size, b"\0\0\0\0", 0x02100000, b"mntr", colour_space, b"XYZ ")
              + b"\0" * 12 + b"acsp" + b"\0" * 24 + struct.pack(">I", 0)
              + b"".join(_fixed(v) for v in D50) + b"\0" * 48)
    return header + struct.pack(">I", len(tags)) + table + body


def matrix_profile(description: str, primaries: tuple[tuple[float, float], ...],
                   curve: float | tuple[float, ...], white: tuple[float, float] = D65_XY) -> bytes:
    """A v2 RGB matrix/TRC display profile: `curve` is a gamma or sRGB-style parametric values."""
    r, g, b = d50_colorants(primaries, white)
    trc = _curve_tag(curve)
    return _assemble(b"RGB ", [(b"desc", _desc_tag(description)), (b"cprt", b"text\0\0\0\0No copyright\0"),
                               (b"wtpt", _xyz_tag(D50)), (b"rXYZ", _xyz_tag(r)), (b"gXYZ", _xyz_tag(g)),
                               (b"bXYZ", _xyz_tag(b)), (b"rTRC", trc), (b"gTRC", trc), (b"bTRC", trc)])


def grey_profile(description: str, curve: float | tuple[float, ...]) -> bytes:
    """A v2 greyscale display profile with the given tone curve."""
    return _assemble(b"GRAY", [(b"desc", _desc_tag(description)), (b"cprt", b"text\0\0\0\0No copyright\0"),
                               (b"wtpt", _xyz_tag(D50)), (b"kTRC", _curve_tag(curve))])


@lru_cache(maxsize=1)
def adobe_rgb() -> bytes:
    """Adobe RGB (1998): its published primaries, D65 white and gamma 563/256."""
    return matrix_profile("Adobe RGB (1998) compatible", ((0.64, 0.33), (0.21, 0.71), (0.15, 0.06)),
                          563 / 256)
