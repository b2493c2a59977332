"""The memory budget of one imaging job, decided from headers before anything is decoded.

`check(source, budget, target_edge)` estimates what decoding `source` the
way the workers do would hold (`shared.imaging.decode_cost`, by format) and
raises `OverBudget` (a permanent `ImagingError`) when that is over the
budget, with a reason such as "needs ~860 MB, the budget is 512 MB
(progressive JPEG 14000x10000 ...)". Every decode path calls `check` (or
`require` with an estimate of its own) first: the main image of every
format, the JPEG fast path, EXIF thumbnails, embedded RAW previews, LibRaw,
the Pillow fallbacks and enhance outputs. Work that is not a plain decode is
estimated here:
- RAW through LibRaw: the sensor data (2 bytes a pixel) and the half-size
  4-channel 16-bit image (2 bytes a sensor pixel), then the 8-bit output.
- enhance: the source's decode at the target width plus the output's copies.
What an estimate misses, the render process's address-space cap catches
(`shared.worker.render_process`).
"""

from __future__ import annotations

import math
from pathlib import Path

from shared.imaging.decode_cost import (
    MB,
    PREVIEW_EDGE,
    Estimate,
    estimate,
    fit,
    output_bytes,
    pillow_estimate,
)
from shared.imaging.jpeg_header import HeaderError
from shared.imaging.model import Refusal

__all__ = [
    "DEFAULT_BUDGET", "Estimate", "HeaderError", "OverBudget", "check", "check_enhance",
    "enhance_height", "enhance_output_estimate", "estimate", "libraw_estimate", "pillow_estimate",
    "require",
]

DEFAULT_BUDGET = 512 * MB


class OverBudget(Refusal):
    """The work would not fit in the job's memory budget (permanent: the header decides it)."""

    def __init__(self, needed: int, budget: int, detail: str) -> None:
        super().__init__(f"needs ~{math.ceil(needed / MB)} MB, the budget is {budget // MB} MB ({detail})")
        self.needed, self.budget, self.detail = needed, budget, detail

    def __reduce__(self) -> tuple[object, ...]:  # crosses the render process's pipe intact
        return (type(self), (self.needed, self.budget, self.detail), self.__dict__)


def require(estimate: Estimate, budget: int) -> Estimate:
    """Raise `OverBudget` when `estimate` does not fit in `budget` bytes."""
    if estimate.nbytes > budget:
        raise OverBudget(estimate.nbytes, budget, estimate.detail)
    return estimate


def check(source: Path | str | bytes, budget: int, target_edge: int = PREVIEW_EDGE) -> Estimate:
    """Estimate decoding `source` (a file or its bytes) to `target_edge` px and require it to fit."""
    return require(estimate(source, target_edge), budget)


def libraw_estimate(raw_width: int, raw_height: int) -> Estimate:
    """LibRaw, half size: the sensor data, the 4-channel 16-bit half image, the 8-bit output."""
    sensor = raw_width * raw_height * 2
    half = (raw_width // 2) * (raw_height // 2) * 4 * 2
    rgb = (raw_width // 2) * (raw_height // 2) * 3
    out = output_bytes(*fit(raw_width // 2, raw_height // 2, PREVIEW_EDGE))
    return Estimate(sensor + half + 2 * rgb + out, f"RAW sensor {raw_width}x{raw_height} through LibRaw",
                    raw_width, raw_height)


def enhance_output_estimate(width: int, height: int) -> Estimate:
    """An enhanced preview `width` x `height` in memory: the resized, sharpened and encoded copies."""
    return Estimate(4 * width * height * 3, f"a {width}x{height} enhanced preview", width, height)


def enhance_height(target: int, width: int, height: int) -> int:
    """The output height for `target` px wide; the longer side stands (EXIF may turn the image)."""
    return max(1, round(target * max(width, height) / max(1, min(width, height))))


def check_enhance(source: Path | str, target: int, budget: int) -> Estimate:
    """Decoding `source` for a `target` px wide output plus the output itself must fit."""
    head = estimate(source, target)
    out = enhance_output_estimate(target, enhance_height(target, head.width, head.height))
    return require(Estimate(head.nbytes + out.nbytes, f"{out.detail} from a {head.detail}",
                            out.width, out.height), budget)
