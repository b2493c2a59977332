"""An SDR rendition of a PQ or HLG picture (HEIF/AVIF signalled by nclx, no gain map).

libheif hands libvips the coded values (Rec. 2020 primaries, PQ or HLG
signal); shown as they are they look flat and washed out. Here: the signal
to display light (PQ's EOTF; HLG's inverse OETF with its system gamma 1.2 at
1000 nits), in units of the HDR reference white (203 nits, ITU-R BT.2408),
Rec. 2020 to Rec. 709 primaries, then a tone curve that leaves everything up
to `KNEE` of reference white as it is and rolls the highlights above it off
into the rest of the range (up to `PEAK` times reference white), and the sRGB
curve. What is at or below the knee matches the original's SDR look; brighter
highlights are compressed, never clipped flat.
"""

from __future__ import annotations

import pyvips

REFERENCE_WHITE_NITS = 203.0
KNEE = 0.8
PEAK = 4.9  # ~1000 nits over the 203-nit reference white: typical mastering peak
_REC2020_TO_709 = [[1.6605, -0.5876, -0.0728], [-0.1246, 1.1329, -0.0083], [-0.0182, -0.1006, 1.1187]]
_PQ = (0.1593017578125, 78.84375, 0.8359375, 18.8515625, 18.6875)


def _signal(image: pyvips.Image) -> pyvips.Image:
    """0-1 floats from the decoded 8- or 16-bit coded values (three bands)."""
    scale = 65535.0 if image.format == "ushort" else 255.0
    return image.extract_band(0, n=3).cast("float") / scale


def _pq_to_relative(e: pyvips.Image) -> pyvips.Image:
    m1, m2, c1, c2, c3 = _PQ
    p = e ** (1 / m2)
    return (_clamp_low(p - c1) / (c2 - c3 * p)) ** (1 / m1) * (10000.0 / REFERENCE_WHITE_NITS)


def _clamp_low(x: pyvips.Image) -> pyvips.Image:
    return (x < 0).ifthenelse(0, x)


def _hlg_to_relative(e: pyvips.Image) -> pyvips.Image:
    a, b, c = 0.17883277, 0.28466892, 0.55991073
    low = (e * e) / 3
    high = (((e - c) / a).exp() + b) / 12
    scene = (e <= 0.5).ifthenelse(low, high)
    # the OOTF on luminance (system gamma 1.2 at a 1000-nit display)
    luma = scene.recomb([[0.2627, 0.6780, 0.0593]])
    gain = _clamp_low(luma - 1e-6) ** 0.2
    return scene * gain * (1000.0 / REFERENCE_WHITE_NITS)


def _roll_off(x: pyvips.Image) -> pyvips.Image:
    """Identity to KNEE, then a curve from KNEE (slope 1) that reaches 1.0 at PEAK."""
    span_in, span_out = PEAK - KNEE, 1.0 - KNEE
    t = _clamp_low(x - KNEE)
    compressed = KNEE + t / (1 + t * (1 / span_out - 1 / span_in))
    return (x <= KNEE).ifthenelse(x, compressed)


def to_sdr(image: pyvips.Image, transfer: str) -> pyvips.Image:
    """8-bit sRGB from a PQ (`pq`) or HLG (`hlg`) Rec. 2020 picture."""
    e = _signal(image)
    light = _pq_to_relative(e) if transfer == "pq" else _hlg_to_relative(e)
    rgb = _clamp_low(light.recomb(_REC2020_TO_709))
    peak = _max_band(rgb)  # tone-mapped on the largest channel, so hues keep their ratios
    mapped = _roll_off(peak)
    ratio = (peak > 1e-6).ifthenelse(mapped / peak, 1.0)
    out = rgb * ratio
    out = (out > 1).ifthenelse(1, out)
    srgb = (out <= 0.0031308).ifthenelse(out * 12.92, 1.055 * out ** (1 / 2.4) - 0.055)
    return (srgb * 255).rint().cast("uchar").copy(interpretation="srgb")


def _max_band(rgb: pyvips.Image) -> pyvips.Image:
    r, g, b = rgb[0], rgb[1], rgb[2]
    rg = (r > g).ifthenelse(r, g)
    return (rg > b).ifthenelse(rg, b)
