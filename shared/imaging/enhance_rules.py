"""How wide an enhanced preview may get, and from which source: one rule for the API and the worker.

Kept free of FastAPI and of pixels so the upload service and the worker both
import it without pulling in each other's dependencies.
"""

from __future__ import annotations

from typing import Any, Literal

from shared import exif
from shared.imaging.budget import OverBudget, enhance_output_estimate, require

#: an upscale beyond 4x the best source only adds blur: that is all a source "can give"
MAX_UPSCALE = 4.0

Source = Literal["original", "preview"]


def original_width(meta: dict[str, Any]) -> int | None:
    """The original's width as displayed (after EXIF orientation), from the upload's metadata."""
    width, height = exif.dimensions(meta or {})
    if not width or not height:
        return None
    orientation = exif.summarize(meta or {}).get("orientation")
    return height if orientation in (5, 6, 7, 8) else width


def best_source(mime: str, metadata: dict[str, Any] | None, preview_width: int) -> tuple[Source, int]:
    """The source to render from and its upright width.

    The original when it is wider than the current preview; RAWs never (their
    preview came from an embedded image or a full decode, and a second decode
    for a bigger preview is not worth the worker's time), nor an original whose
    size the metadata does not tell.
    """
    width = None if mime.startswith("image/x-") else original_width(metadata or {})
    if width and width > preview_width:
        return "original", width
    return "preview", preview_width


def enhance_limit(max_width: int, source_width: int) -> int:
    """The widest preview we will make from a source this wide."""
    return min(max_width, int(source_width * MAX_UPSCALE))


def output_budget_error(target: int, preview_width: int, preview_height: int, budget_bytes: int
                        ) -> OverBudget | None:
    """Why a `target` px wide output (at the preview's aspect ratio) would not fit in the budget."""
    height = max(1, round(target * preview_height / max(1, preview_width)))
    try:
        require(enhance_output_estimate(target, height), budget_bytes)
    except OverBudget as exc:
        return exc
    return None
